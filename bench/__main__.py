"""python3 -m bench: every figure, written to bench/RESULTS.md."""
from __future__ import annotations

import datetime
import sys
from pathlib import Path

from . import builds, noop
from .world import machine

COMMAND = "scripts/bootstrap && python3 -m bench"


def main() -> int:
    rows = sorted(noop.run() + builds.run())
    lines = ["# Benchmark results", "",
             f"- date: {datetime.date.today().isoformat()}",
             f"- machine: {machine()}",
             f"- command: `{COMMAND}` (or `python3 -m bench.noop`, `python3 -m bench.builds` alone)",
             "- each figure is the median of several repetitions, as a ratio against a baseline "
             "measured in the same run", "",
             "| id | what | measured | target |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    text = "\n".join(lines) + "\n"
    Path(__file__).with_name("RESULTS.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

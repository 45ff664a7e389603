""".venv/bin/python -m bench: every figure, written to bench/RESULTS.md."""
from __future__ import annotations

import datetime
import sys
from pathlib import Path

from . import builds, checks, github_actions, noop, pipeline
from .world import machine

COMMAND = "scripts/bootstrap && .venv/bin/python -m bench"


def main() -> int:
    rows = sorted(noop.run() + builds.run() + checks.run() + pipeline.run() + github_actions.run(),
                  key=lambda row: int(row[0][1:]))
    lines = ["# Benchmark results", "",
             f"- date: {datetime.date.today().isoformat()}",
             f"- machine: {machine()}",
             f"- command: `{COMMAND}` (or `.venv/bin/python -m bench.noop`, `.builds`, `.checks`, `.pipeline`, "
             "`.github_actions` alone)",
             "- each time is the median of several repetitions, as a ratio against a baseline "
             "measured in the same run; P2, P5, P7, P8 and P9 count calls or jobs", "",
             "| id | what | measured | target |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    results = Path(__file__).with_name("RESULTS.md")
    text = "\n".join(lines) + "\n" + written_notes(results)
    results.write_text(text)
    print(text)
    return 0


def written_notes(results: Path) -> str:
    """The sections written by hand below the table (what the figures
    mean), kept when the figures are measured again."""
    text = results.read_text() if results.exists() else ""
    start = text.find("\n## ")
    return text[start:] if start >= 0 else ""


if __name__ == "__main__":
    sys.exit(main())

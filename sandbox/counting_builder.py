"""A buildah that logs every invocation before running the real one, so
tests and benchmarks can count the builds a run really made."""
from __future__ import annotations

import json
from pathlib import Path

# One locked write per call: builds running in parallel log at once, and a
# line written in pieces by two of them would be two calls run together.
WRAPPER = """#!/bin/sh
python3 -c '
import fcntl, json, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, (json.dumps(sys.argv[2:]) + "\\n").encode())
' {log} "$@"
exec buildah "$@"
"""


def install(directory: Path) -> tuple[Path, Path]:
    """Write the wrapper into ``directory``; returns (wrapper, log)."""
    directory.mkdir(parents=True, exist_ok=True)
    wrapper, log = directory / "buildah-wrapper", directory / "builder-calls.log"
    wrapper.write_text(WRAPPER.format(log=log))
    wrapper.chmod(0o755)
    return wrapper, log


def builds(log: Path) -> list[tuple[str, str]]:
    """(service, platform) of every ``buildah build`` logged, in order; the
    service is the name of the build context (the checked-out source)."""
    if not log.exists():
        return []
    calls = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [(Path(args[-1]).name, args[args.index("--platform") + 1])
            for args in calls if "build" in args and "--platform" in args]

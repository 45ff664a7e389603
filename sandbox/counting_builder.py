"""A buildah (or podman) that logs every invocation before running the
real one, so tests and benchmarks can count the builds a run really made,
and the start checks."""
from __future__ import annotations

import json
from pathlib import Path

from tasks.names import platform_slug

# One locked write per call: builds running in parallel log at once, and a
# line written in pieces by two of them would be two calls run together.
WRAPPER = """#!/bin/sh
python3 -c '
import fcntl, json, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, (json.dumps(sys.argv[2:]) + "\\n").encode())
' {log} "$@"
exec {program} "$@"
"""


LOGS = {"buildah": "builder-calls.log", "podman": "runtime-calls.log"}
CHECK_CONTAINER = "privacy-oci-check-"


def install(directory: Path, program: str = "buildah") -> tuple[Path, Path]:
    """Write the wrapper of ``program`` into ``directory``; returns (wrapper, log)."""
    directory.mkdir(parents=True, exist_ok=True)
    wrapper, log = directory / f"{program}-wrapper", directory / LOGS[program]
    wrapper.write_text(WRAPPER.format(log=log, program=program))
    wrapper.chmod(0o755)
    return wrapper, log


def calls(log: Path) -> list[list[str]]:
    """The arguments of every call logged, in order."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []


def builds(log: Path) -> list[tuple[str, str]]:
    """(service, platform) of every ``buildah build`` logged, in order; the
    service is the name of the build context (the checked-out source)."""
    return [(Path(args[-1]).name, args[args.index("--platform") + 1])
            for args in calls(log) if "build" in args and "--platform" in args]


def checks(log: Path) -> list[tuple[str, str]]:
    """(service, platform) of every start check's container started, in
    order (companions left out)."""
    started = []
    for args in calls(log):
        if "run" in args and "--name" in args:
            name = args[args.index("--name") + 1]
            if name.startswith(CHECK_CONTAINER) and "-companion" not in name:
                platform = args[args.index("--platform") + 1]
                service_and_slug = name[len(CHECK_CONTAINER):].rsplit("-", 1)[0]
                started.append((service_and_slug[:-len(platform_slug(platform)) - 1], platform))
    return started


def containers_left(log: Path) -> list[str]:
    """Containers started and not removed, by name, from the podman log."""
    logged = calls(log)
    started = [args[args.index("--name") + 1] for args in logged if "run" in args and "--name" in args]
    removed = {args[-1] for args in logged if "rm" in args}
    return [name for name in started if name not in removed]

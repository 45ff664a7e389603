"""A self-contained stand-in for the outside world, for the offline demo and
the tests: a real Distribution registry on loopback, a tiny real multi-arch
base image made from Debian's busybox-static, and real upstream git
repositories with commits, branches and tags."""
from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# What scripts/ci-prepare says when it takes the Python environment a CI
# cache kept, as it is (the CI rehearsals and its own test look for it).
CI_PREPARE_REUSED = "ci-prepare: the dependencies as the cache kept them"


def scripts_of_this_python_first_on_path() -> None:
    """Puts the folder of the running Python's console scripts first on
    PATH, for this process and every command it starts: ``doit``,
    ``check-jsonschema`` and ``hadolint`` are then those of the environment
    the demo, the tests or the benchmarks run in (``.venv/bin/python -m …``
    needs no activated virtual environment)."""
    scripts = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != scripts:
        os.environ["PATH"] = os.pathsep.join(filter(None, (scripts, path)))


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Holds an exclusive lock on ``path`` (created if missing): for the
    caches in ~/.cache/privacy-oci that parallel test workers share."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

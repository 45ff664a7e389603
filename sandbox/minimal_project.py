"""A project folder with nothing but dodo.py, a catalogue and one
Dockerfile, and the real ``doit`` run in it with a bare environment: for
the checks that must stop a run before any work."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .config_repo import PROJECT_ROOT

CATALOGUE = """\
image_prefix: registry.example.org/group/project
services:
  scribe:
    upstream: https://git.example.org/scribe
    branch: main
    platforms: [linux/amd64]
"""


def project_folder(folder: Path, catalogue: str | bytes) -> Path:
    """``folder`` holding dodo.py, ``catalogue`` as services.yml (text, or
    the file's bytes) and one Dockerfile."""
    (folder / "dodo.py").write_text((PROJECT_ROOT / "dodo.py").read_text())
    (folder / "services.yml").write_bytes(catalogue if isinstance(catalogue, bytes) else catalogue.encode())
    dockerfile = folder / "Dockerfiles" / "scribe" / "Dockerfile"
    dockerfile.parent.mkdir(parents=True, exist_ok=True)
    dockerfile.write_text("FROM scratch\n")
    return folder


def doit_in(folder: Path, catalogue: str | bytes, env_extra=None, *args) -> subprocess.CompletedProcess:
    """The real ``doit`` in ``folder``, made a project of ``catalogue``
    (``project_folder``)."""
    project_folder(folder, catalogue)
    env = {"PATH": "/usr/bin:/bin:" + str(Path(sys.executable).parent), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "doit", *args], cwd=folder,
                          capture_output=True, text=True, env=env)


def assert_stopped_before_any_work(folder: Path, result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""                      # no task ran
    assert not (folder / ".work").exists()          # nothing fetched, built or recorded

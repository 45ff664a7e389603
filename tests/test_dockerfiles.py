"""The shipped Dockerfiles pass hadolint (settings in .hadolint.yaml) and
follow the house rules: a non-root user, the real port, a revision label."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
DOCKERFILES = sorted((PROJECT / "Dockerfiles").glob("*/Dockerfile"))
PORTS = {"bibliogram": "10407", "scribe": "8080", "nitter": "8080", "redlib": "8080", "rimgo": "3000"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_passes(dockerfile):
    assert shutil.which("hadolint"), "hadolint is missing: run scripts/bootstrap"
    result = subprocess.run(["hadolint", "--config", str(PROJECT / ".hadolint.yaml"), str(dockerfile)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM alpine\nRUN cd /tmp && echo hi\nCMD echo hi\n")
    result = subprocess.run(["hadolint", "--config", str(PROJECT / ".hadolint.yaml"), str(bad)],
                            capture_output=True, text=True)
    assert result.returncode != 0


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_runtime_stage_is_non_root_exposes_its_port_and_labels_the_revision(dockerfile):
    runtime = dockerfile.read_text().split("\nFROM ")[-1]
    assert "\nUSER " in runtime and "USER root" not in runtime
    assert f"EXPOSE {PORTS[dockerfile.parent.name]}" in runtime
    assert 'org.opencontainers.image.revision="${UPSTREAM_COMMIT}"' in runtime

"""scripts/ci-prepare, as a CI job runs it: the environment it makes, kept
in GitLab's or GitHub's cache, is used again only where the same Python made
it for the same requirements, from whatever folder the cache is restored to."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sandbox import CI_PREPARE_REUSED as REUSED
from sandbox.config_repo import PROJECT_ROOT


def prepare(checkout: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(["scripts/ci-prepare"], cwd=checkout, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def doit_version(checkout: Path) -> str:
    """doit's version, as the environment in ``checkout`` runs it (doit
    names the folder it runs from)."""
    said = subprocess.run([".venv/bin/doit", "--version"], cwd=checkout, capture_output=True, text=True,
                          check=True).stdout
    assert f"{checkout}/.venv/lib/" in said, said
    return said.splitlines()[0]


@pytest.mark.real
def test_a_cached_environment_is_used_again_only_where_the_same_python_made_it(tmp_path):
    job = tmp_path / "job-1"
    for name in ("scripts/ci-prepare", "requirements/ci.txt"):
        (job / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, job / name)

    assert REUSED not in prepare(job).stdout
    installed = doit_version(job)
    assert installed.startswith("0.")

    # Restored by the next job, in a folder of its own: used as it is.
    shutil.copytree(job, tmp_path / "job-2", symlinks=True)
    shutil.rmtree(job)
    job = tmp_path / "job-2"
    assert REUSED in prepare(job).stdout
    assert doit_version(job) == installed

    # Made by another Python (another image's): made anew.
    made_for = job / ".venv" / "made-for"
    recorded = made_for.read_text()
    made_for.write_text(recorded.replace(" x86_64", " aarch64").replace(" 3.", " 2."))
    assert REUSED not in prepare(job).stdout
    assert made_for.read_text() == recorded

    # Made for other requirements: made anew too.
    (job / "requirements" / "ci.txt").write_text((job / "requirements" / "ci.txt").read_text() + "\n")
    assert REUSED not in prepare(job).stdout
    assert made_for.read_text() != recorded and doit_version(job) == installed

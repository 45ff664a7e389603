"""The hash-locked requirements (scripts/lock) cover pyproject.toml: every
dependency pinned to one version and named by its hashes, and the CI jobs
and the set-up install from them in pip's hash-checking mode. (That pip
accepts them is shown by every CI rehearsal job and by scripts/bootstrap.)"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib

from sandbox.config_repo import PROJECT_ROOT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: str, root: Path = PROJECT_ROOT) -> dict[str, str]:
    """name -> version of each requirement, each checked to carry hashes."""
    lines = (root / path).read_text().splitlines()
    found = {}
    for number, line in enumerate(lines):
        if not line or line.startswith((" ", "#")):
            continue
        match = PIN.match(line)
        assert match, f"{path}:{number + 1}: not a pinned requirement with hashes: {line!r}"
        assert lines[number + 1].strip().startswith("--hash=sha256:"), f"{path}:{number + 1}: no hash"
        found[normalized(match[1])] = match[2]
    return found


def declared(*groups: list[str]) -> set[str]:
    return {normalized(re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]) for group in groups
            for requirement in group}


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]


def test_the_ci_lock_pins_every_dependency(project):
    missing = declared(project["dependencies"]) - set(pins("requirements/ci.txt"))
    assert not missing, f"run scripts/lock: requirements/ci.txt lacks {sorted(missing)}"


def test_the_test_lock_pins_every_dependency_and_test_extra_at_the_ci_versions(project):
    test = pins("requirements/test.txt")
    missing = declared(project["dependencies"], project["optional-dependencies"]["test"]) - set(test)
    assert not missing, f"run scripts/lock: requirements/test.txt lacks {sorted(missing)}"
    ci = pins("requirements/ci.txt")
    assert {name: test[name] for name in ci} == ci


def test_an_unhashed_requirement_is_caught(tmp_path):
    (tmp_path / "x.txt").write_text("doit==0.37.0\n")
    with pytest.raises(AssertionError, match="not a pinned requirement with hashes"):
        pins("x.txt", tmp_path)


@pytest.mark.parametrize("script, lock", [("scripts/ci-prepare", "requirements/ci.txt"),
                                          ("scripts/bootstrap", "requirements/test.txt")])
def test_the_jobs_and_the_set_up_install_in_hash_checking_mode(script, lock):
    installs = [line for line in (PROJECT_ROOT / script).read_text().splitlines()
                if re.search(r"\bpip\b.* install ", line) and not line.lstrip().startswith("#")]
    assert installs and all(f"--require-hashes -r {lock}" in line for line in installs), installs

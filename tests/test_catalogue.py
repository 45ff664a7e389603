"""services.yml: validation through the real ``doit`` command, and the
comment-preserving record of published commits."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tasks.catalogue import CatalogueError, load, with_published

PROJECT = Path(__file__).resolve().parent.parent
GOOD = """\
image_prefix: registry.example.org/group/project
services:
  scribe:
    upstream: https://git.example.org/scribe
    branch: main
    platforms: [linux/amd64]
"""


def doit_in(tmp_path: Path, catalogue: str, env_extra=None) -> subprocess.CompletedProcess:
    (tmp_path / "dodo.py").write_text((PROJECT / "dodo.py").read_text())
    (tmp_path / "services.yml").write_text(catalogue)
    dockerfile = tmp_path / "Dockerfiles" / "scribe" / "Dockerfile"
    dockerfile.parent.mkdir(parents=True, exist_ok=True)
    dockerfile.write_text("FROM scratch\n")
    env = {"PATH": "/usr/bin:/bin:" + str(Path(sys.executable).parent), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "doit", "list", "--all"], cwd=tmp_path,
                          capture_output=True, text=True, env=env)


def test_the_shipped_catalogue_lists_its_services(monkeypatch):
    monkeypatch.setenv("CI_REGISTRY_IMAGE", "registry.example.org/privacy/oci")
    catalogue = load(PROJECT / "services.yml")
    assert {s.name: s.platforms for s in catalogue.services} == {
        "bibliogram": ("linux/amd64", "linux/arm64"), "scribe": ("linux/amd64",)}


def test_a_good_catalogue_lists_tasks(tmp_path):
    result = doit_in(tmp_path, GOOD)
    assert result.returncode == 0, result.stderr
    assert "build:scribe:amd64" in result.stdout


@pytest.mark.parametrize("catalogue, message", [
    (GOOD.replace("branch: main", "branch: main\n    colour: blue"),
     "services.yml: service 'scribe': unknown field(s) colour"),
    (GOOD.replace("    upstream: https://git.example.org/scribe\n", ""),
     "services.yml: service 'scribe': field 'upstream'"),
    (GOOD.replace("[linux/amd64]", "[linux/amd65]"),
     "services.yml: service 'scribe': field 'platforms': 'linux/amd65' is not a platform"),
    (GOOD.replace("[linux/amd64]", "[]"),
     "services.yml: service 'scribe': field 'platforms' must be a non-empty list"),
    (GOOD.replace("    branch: main\n", ""),
     "services.yml: service 'scribe': give exactly one of the fields 'branch' or 'tag'"),
    (GOOD.replace("  scribe:", "  Scribe:"),
     "services.yml: service 'Scribe': invalid service name"),
    (GOOD + "    dockerfile: ../outside/Dockerfile\n",
     "services.yml: service 'scribe': field 'dockerfile': '../outside/Dockerfile' is outside the repository"),
    (GOOD + "    dockerfile: Dockerfiles/missing/Dockerfile\n",
     "services.yml: service 'scribe': field 'dockerfile': 'Dockerfiles/missing/Dockerfile' does not exist"),
    (GOOD + "    build_args:\n      BAD-NAME: x\n",
     "services.yml: service 'scribe': field 'build_args': 'BAD-NAME' is not a build-arg name"),
    (GOOD + "    published:\n      commit: abc\n      inputs: 0123456789abcdef\n",
     "services.yml: service 'scribe': field 'published': 'commit' must be a full 40-character commit id"),
    (GOOD.replace("registry.example.org/group/project", "${NOT_SET_ANYWHERE}"),
     "services.yml: field 'image_prefix': environment variable NOT_SET_ANYWHERE is not set"),
    (GOOD.replace("registry.example.org/group/project", "Registry.example.org/x:tag"),
     "services.yml: field 'image_prefix': 'Registry.example.org/x:tag' is not a valid image reference prefix"),
    (GOOD + "extra: 1\n", "services.yml: unknown top-level key(s) extra"),
    ("services: [\n", "services.yml: not valid YAML"),
])
def test_a_malformed_catalogue_stops_everything_with_a_precise_message(tmp_path, catalogue, message):
    result = doit_in(tmp_path, catalogue)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_record_keeps_comments_order_and_quoting():
    text = ("# heading comment\n"
            "image_prefix: 'registry.example.org/p'  # quoted on purpose\n"
            "services:\n"
            "  # first service\n"
            "  a:\n"
            "    upstream: https://x/a\n"
            "    branch: main\n"
            "    platforms:\n"
            "      - linux/amd64   # only amd64\n"
            "  # second service\n"
            "  b:\n"
            "    upstream: \"https://x/b\"\n"
            "    tag: v1\n"
            "    platforms: [linux/amd64]\n"
            "    published:\n"
            "      commit: " + "1" * 40 + "\n"
            "      inputs: " + "2" * 16 + "\n")
    written_text, written = with_published(text, {"a": ("a" * 40, "b" * 16), "b": ("c" * 40, "d" * 16),
                                                  "gone": ("e" * 40, "f" * 16)})

    expected = text.replace(
        "      - linux/amd64   # only amd64\n",
        "      - linux/amd64   # only amd64\n    published:\n      commit: " + "a" * 40
        + "\n      inputs: " + "b" * 16 + "\n").replace("1" * 40, "c" * 40).replace("2" * 16, "d" * 16)
    assert written_text == expected
    assert written == ["a", "b"]
    assert with_published(expected, {"a": ("a" * 40, "b" * 16)}) == (expected, [])


def test_load_reports_duplicate_services(tmp_path):
    path = tmp_path / "services.yml"
    path.write_text(GOOD + GOOD.split("services:\n")[1])
    with pytest.raises(CatalogueError, match="services.yml"):
        load(path)

"""services.yml: validation through the real ``doit`` command."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.minimal_project import CATALOGUE as GOOD
from sandbox.minimal_project import assert_stopped_before_any_work, doit_in, project_folder
from tasks.catalogue import CatalogueError, load

PROJECT = Path(__file__).resolve().parent.parent


SHIPPED = {"bibliogram": ("linux/amd64", "linux/arm64"), "scribe": ("linux/amd64", "linux/arm64"),
           "nitter": ("linux/amd64", "linux/arm64"), "redlib": ("linux/amd64", "linux/arm64"),
           "rimgo": ("linux/amd64", "linux/arm64")}


def test_the_shipped_catalogue_lists_its_services():
    catalogue = load(PROJECT / "services.yml", {"CI_REGISTRY_IMAGE": "registry.example.org/privacy/oci"})
    # (a fork's own services beside them are its business)
    assert {s.name: s.platforms for s in catalogue.services if s.name in SHIPPED} == SHIPPED
    assert catalogue.tags_for("linux/arm64", "gitlab") == ["saas-linux-small-arm64"]
    assert catalogue.tags_for("linux/arm64", "github") == ["ubuntu-24.04-arm"]
    assert catalogue.tags_for("linux/amd64", "github") == []


@pytest.mark.real
def test_a_service_of_ones_own_does_not_trip_the_projects_tests(tmp_path):
    """A fork adds a service as README "Adding a service" says: the tests
    that hold the shipped recipes to their upstreams leave it alone."""
    fork = tmp_path / "fork"
    shutil.copytree(PROJECT, fork, ignore=shutil.ignore_patterns(".git", ".venv", ".work", "__pycache__",
                                                                  ".pytest_cache"))
    recipe = fork / "Dockerfiles" / "my-front-end" / "Dockerfile"
    recipe.parent.mkdir()
    recipe.write_text("FROM alpine:3.20\nCOPY . /app\nUSER 10001\nCMD [\"/app/serve\"]\n")
    with (fork / "services.yml").open("a") as catalogue:
        catalogue.write("\n  my-front-end:\n    upstream: https://git.example.org/me/front-end\n"
                        "    branch: main\n    platforms: [linux/amd64]\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
                             "tests/test_catalogue.py", "tests/test_dockerfiles.py",
                             "-k", "not a_service_of_ones_own"], cwd=fork, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout


def test_doit_list_of_the_shipped_catalogue_gives_a_build_per_platform(tmp_path):
    """In a copy of the project, with no network at all (no route but loopback)."""
    for name in ("dodo.py", "services.yml"):
        (tmp_path / name).write_text((PROJECT / name).read_text())
    shutil.copytree(PROJECT / "Dockerfiles", tmp_path / "Dockerfiles")
    env = {"PATH": "/usr/bin:/bin:" + str(Path(sys.executable).parent),
           "CI_REGISTRY_IMAGE": "registry.example.org/privacy/oci", "GIT_TRACE": str(tmp_path / "trace")}
    result = subprocess.run([sys.executable, "-m", "doit", "list", "--all"], cwd=tmp_path,
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    builds = {line.split()[0] for line in result.stdout.splitlines()
              if line.startswith("build:") and line.count(":") == 2 and line.split(":")[1] in SHIPPED}
    assert builds == {f"build:{s}:{p.split('/')[1]}" for s, platforms in SHIPPED.items() for p in platforms}
    assert "ls-remote" not in ((tmp_path / "trace").read_text() if (tmp_path / "trace").exists() else "")


def test_a_good_catalogue_lists_tasks(tmp_path):
    result = doit_in(tmp_path, GOOD, None, "list", "--all")
    assert result.returncode == 0, result.stderr
    assert "build:scribe:amd64" in result.stdout


SCRIBE = "services.yml: service 'scribe'"
MALFORMED = [
    # shape of the file
    ("services: [\n", "services.yml: not valid YAML"),
    ("- a\n- b\n", "services.yml: the catalogue must be a mapping"),
    (GOOD + "extra: 1\n", "services.yml: unknown top-level key(s) extra"),
    (GOOD.split("services:")[0], "services.yml: field 'services' must be a non-empty mapping"),
    (GOOD.split("services:")[0] + "services: {}\n", "services.yml: field 'services' must be a non-empty mapping"),
    (GOOD + GOOD.split("services:\n")[1], "services.yml: line 7: 'scribe' is defined twice"),
    # image prefix
    (GOOD.replace("image_prefix: registry.example.org/group/project\n", ""),
     "services.yml: field 'image_prefix' must be a registry path"),
    (GOOD.replace("registry.example.org/group/project", "${CI_REGISTRY_IMAGE}"),
     "services.yml: field 'image_prefix': environment variable CI_REGISTRY_IMAGE is not set"),
    (GOOD.replace("registry.example.org/group/project", "${HOME}/x"),
     "services.yml: field 'image_prefix': ${HOME} may not be used there; an image prefix may name only "
     "${CI_REGISTRY_IMAGE}"),
    (GOOD.replace("registry.example.org/group/project", "Registry.example.org/x:tag"),
     "services.yml: field 'image_prefix': 'Registry.example.org/x:tag' is not a valid image reference prefix"),
    (GOOD.replace("registry.example.org/group/project", "registry.example.org/p@sha256:ab"),
     "services.yml: field 'image_prefix': 'registry.example.org/p@sha256:ab' is not a valid image reference"),
    # service names
    (GOOD.replace("  scribe:", "  Scribe:"), "services.yml: service 'Scribe': invalid service name"),
    (GOOD.replace("  scribe:", "  a/b:"), "services.yml: service 'a/b': invalid service name"),
    (GOOD.replace("  scribe:", "  '..':"), "services.yml: service '..': invalid service name"),
    (GOOD.replace("  scribe:", "  -scribe:"), "services.yml: service '-scribe': invalid service name"),
    (GOOD.split("  scribe:")[0] + "  scribe: yes\n", f"{SCRIBE}: settings must be a mapping"),
    # fields
    (GOOD.replace("branch: main", "branch: main\n    colour: blue"), f"{SCRIBE}: unknown field(s) colour"),
    (GOOD.replace("    upstream: https://git.example.org/scribe\n", ""), f"{SCRIBE}: field 'upstream' must be"),
    (GOOD.replace("https://git.example.org/scribe", "''"), f"{SCRIBE}: field 'upstream' must be"),
    (GOOD.replace("https://git.example.org/scribe", "'--upload-pack=touch /tmp/pwned'"),
     f"{SCRIBE}: field 'upstream': '--upload-pack=touch /tmp/pwned' is not a repository URL"),
    (GOOD.replace("https://git.example.org/scribe", "'ext::sh -c touch% /tmp/pwned'"),
     f"{SCRIBE}: field 'upstream': 'ext::sh -c touch% /tmp/pwned' is not a repository URL"),
    (GOOD.replace("https://git.example.org/scribe", "ftp://git.example.org/scribe"),
     f"{SCRIBE}: field 'upstream': 'ftp://git.example.org/scribe' must start with one of"),
    (GOOD.replace("https://git.example.org/scribe", "https://me:hunter2@git.example.org/scribe"),
     f"{SCRIBE}: field 'upstream': the URL carries user information"),
    (GOOD.replace("https://git.example.org/scribe", "https://glpat-token@git.example.org/scribe"),
     f"{SCRIBE}: field 'upstream': the URL carries user information"),
    (GOOD.replace("https://git.example.org/scribe", "http://git.example.org/scribe"),
     f"{SCRIBE}: field 'upstream': 'http://git.example.org/scribe' is not encrypted"),
    (GOOD.replace("https://git.example.org/scribe", "git://git.example.org/scribe"),
     f"{SCRIBE}: field 'upstream': 'git://git.example.org/scribe' is not encrypted"),
    (GOOD.replace("https://git.example.org/scribe", "file:///srv/scribe.git"),
     f"{SCRIBE}: field 'upstream': 'file:///srv/scribe.git' is a repository on this machine: allowed only with "
     "PRIVACY_OCI_LOCAL_UPSTREAMS=true"),
    (GOOD.replace("https://git.example.org/scribe", "deploy@git.example.org:scribe"),
     f"{SCRIBE}: field 'upstream': 'deploy@git.example.org:scribe' must start with one of"),
    # a value is the whole field: a trailing newline is no part of a name
    (GOOD.replace("branch: main", 'branch: "main\\n"'), f"{SCRIBE}: field 'branch' must be a git branch name"),
    (GOOD.replace("  scribe:", '  "scribe\\n":'), "invalid service name"),
    (GOOD.replace("[linux/amd64]", '["linux/amd64\\n"]'), f"{SCRIBE}: field 'platforms': 'linux/amd64\\n' is not a platform"),
    (GOOD.replace("[linux/amd64]", '[linux/amd64, "linux/amd64\\n"]'), f"{SCRIBE}: field 'platforms': 'linux/amd64\\n'"),
    (GOOD.replace("    branch: main\n", ""), f"{SCRIBE}: give exactly one of the fields 'branch', 'tag' or"),
    (GOOD.replace("    branch: main\n", "    branch: main\n    tag: v1\n"),
     f"{SCRIBE}: give exactly one of the fields 'branch', 'tag' or"),
    (GOOD.replace("branch: main", "tag_pattern: 'v(['"), f"{SCRIBE}: field 'tag_pattern': 'v([' is not a regular"),
    (GOOD.replace("branch: main", "branch: --force"), f"{SCRIBE}: field 'branch' must be a git branch name"),
    (GOOD.replace("branch: main", "branch: a..b"), f"{SCRIBE}: field 'branch' must be a git branch name"),
    (GOOD.replace("branch: main", "branch: [main]"), f"{SCRIBE}: field 'branch' must be a git branch name"),
    (GOOD.replace("[linux/amd64]", "[linux/amd65]"), f"{SCRIBE}: field 'platforms': 'linux/amd65' is not a platform"),
    (GOOD.replace("[linux/amd64]", "[linux/arm/7]"), f"{SCRIBE}: field 'platforms': 'linux/arm/7' is not a platform"),
    (GOOD.replace("[linux/amd64]", "[]"), f"{SCRIBE}: field 'platforms' must be a non-empty list"),
    (GOOD.replace("[linux/amd64]", "linux/amd64"), f"{SCRIBE}: field 'platforms' must be a non-empty list"),
    (GOOD.replace("[linux/amd64]", "[linux/amd64, linux/amd64]"), f"{SCRIBE}: field 'platforms' lists a platform twice"),
    (GOOD + "    dockerfile: ../outside/Dockerfile\n",
     f"{SCRIBE}: field 'dockerfile': '../outside/Dockerfile' is outside the repository"),
    (GOOD + "    dockerfile: /etc/passwd\n", f"{SCRIBE}: field 'dockerfile': '/etc/passwd' is outside the repository"),
    (GOOD + "    dockerfile: Dockerfiles/missing/Dockerfile\n",
     f"{SCRIBE}: field 'dockerfile': 'Dockerfiles/missing/Dockerfile' does not exist"),
    (GOOD + "    build_args:\n      BAD-NAME: x\n", f"{SCRIBE}: field 'build_args': 'BAD-NAME' is not a build-arg name"),
    (GOOD + "    build_args:\n      'A=B': x\n", f"{SCRIBE}: field 'build_args': 'A=B' is not a build-arg name"),
    (GOOD + "    build_args:\n      A: \"one\\ntwo\"\n", f"{SCRIBE}: field 'build_args': A must be a single line"),
    (GOOD + "    build_args:\n      A: [1, 2]\n", f"{SCRIBE}: field 'build_args': A must be a string or number"),
    (GOOD + "    build_args: [A=1]\n", f"{SCRIBE}: field 'build_args' must be a mapping"),
    (GOOD + "    attestations: sometimes\n", f"{SCRIBE}: field 'attestations' must be true or false"),
    (GOOD + "runner_tags:\n  linux/arm64: saas\n", "services.yml: field 'runner_tags': linux/arm64 must have a list"),
    (GOOD + "    published:\n      commit: abc\n      inputs: 0123456789abcdef\n",
     f"{SCRIBE}: field 'published': 'commit' must be a full 40-character commit id"),
    (GOOD + "    published:\n      commit: " + "a" * 40 + "\n      inputs: 0123456789abcdef\n      by: me\n",
     f"{SCRIBE}: field 'published' is written by commit-hash and holds 'commit', 'inputs' and 'bases'"),
    (GOOD + "    published:\n      commit: " + "a" * 40 + "\n      inputs: 0123456789abcdef\n      bases: {alpine: latest}\n",
     f"{SCRIBE}: field 'published': 'bases' must map base images to sha256 digests"),
]


@pytest.mark.parametrize("catalogue, message", MALFORMED)
def test_a_malformed_catalogue_gets_a_precise_message(tmp_path, catalogue, message):
    folder = project_folder(tmp_path, catalogue)
    with pytest.raises(CatalogueError, match=re.escape(message)):
        load(folder / "services.yml", {})


def test_a_malformed_catalogue_stops_doit_before_any_work(tmp_path):
    """The real doit, once: the message, no traceback, no task, no work."""
    catalogue, message = MALFORMED[-1]
    assert_stopped_before_any_work(tmp_path, doit_in(tmp_path, catalogue), message)


@pytest.mark.parametrize("command", [(), ("list",)], ids=["doit", "doit list"])
def test_a_catalogue_that_is_not_utf8_gets_the_same_clear_message(tmp_path, command):
    latin1 = GOOD.replace("branch: main", "branch: main  # caf\u00e9").encode("latin-1")
    result = doit_in(tmp_path, latin1, None, *command)
    assert_stopped_before_any_work(tmp_path, result, "services.yml: line 5: not UTF-8 text (byte 0xe9); "
                                                     "save the catalogue as UTF-8")


@pytest.mark.parametrize("prefix", ["${DOCKER_AUTH_CONFIG}/x", "${CI_REGISTRY_IMAGE}"])
def test_an_image_prefix_never_shows_what_a_variable_holds(tmp_path, prefix):
    secret = '{"auths": {"registry.example.org": {"auth": "c2VjcmV0LXBhc3N3b3JkLTQyCg=="}}}'
    environment = {"DOCKER_AUTH_CONFIG": secret, "CI_REGISTRY_IMAGE": secret}
    result = doit_in(tmp_path, GOOD.replace("registry.example.org/group/project", prefix), environment, "list")
    assert result.returncode != 0 and "field 'image_prefix'" in result.stderr
    assert "c2VjcmV0" not in result.stdout + result.stderr and "auths" not in result.stdout + result.stderr

"""Fixtures on real parts: a Distribution registry on loopback, a busybox
base image for amd64 and arm64, upstream git repositories, a catalogue
repository with a bare remote, and buildah with an empty store per test."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sandbox import base_image, counting_builder
from sandbox.config_repo import ConfigRepo
from sandbox.demo import DEB_CACHE, STAND_IN_DOCKERFILE, stand_in_services
from sandbox.registry import LocalRegistry
from sandbox.upstreams import Upstream, git
from tasks.registry import RegistryClient

REQUIRED_TOOLS = ("buildah", "docker-registry", "git", "doit")


def pytest_sessionstart(session):
    missing = [tool for tool in REQUIRED_TOOLS if not shutil.which(tool)]
    if missing:
        pytest.exit(f"missing {', '.join(missing)}: run scripts/bootstrap first", returncode=3)


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    with LocalRegistry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="session")
def base(registry):
    base_image.publish(registry.host, "sandbox/busybox", DEB_CACHE)
    return f"{registry.host}/sandbox/busybox:latest"


@dataclass
class Sandbox:
    """One maintainer's world: upstreams, the catalogue repo and its remote,
    a builder store, and the real ``doit`` command run in the checkout."""
    directory: Path
    registry: LocalRegistry
    prefix: str
    upstreams: dict[str, Upstream]
    repo: ConfigRepo
    checkout: Path
    env: dict = field(default_factory=dict)
    env_base: str = ""          # the base image the stand-ins build FROM

    @property
    def builder_log(self) -> Path:
        return self.directory / "builder-calls.log"

    def doit(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(["doit", *args], cwd=self.checkout, env=self.env,
                                capture_output=True, text=True, timeout=900)
        if check and result.returncode != 0:
            raise AssertionError(f"doit {' '.join(args)} exited {result.returncode}\n"
                                 f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
        return result

    def take_builds(self) -> list[tuple[str, str]]:
        """(service, platform) of every ``buildah build`` run since the last call."""
        builds = sorted(counting_builder.builds(self.builder_log))
        self.builder_log.unlink(missing_ok=True)
        return builds

    def pending(self) -> set[str]:
        """Tasks ``doit list --status --all`` marks as to be run, but for
        fan-out, which always runs when asked and is never part of ``doit``."""
        listing = self.doit("list", "--status", "--all").stdout
        status = {line.split()[1]: line[0] for line in listing.splitlines()}
        assert status.pop("fan-out") == "R"
        return {task for task, mark in status.items() if mark == "R"}

    def fresh_job(self) -> None:
        """What a new CI job has: a fresh clone, no doit state, an empty store."""
        self.checkout = self.repo.fresh_clone()
        store = self.directory / "buildah"
        if store.exists():
            subprocess.run(["buildah", "--root", f"{store}/root", "--runroot", f"{store}/run",
                            "rm", "--all"], capture_output=True)
            shutil.rmtree(store, ignore_errors=True)

    def services_yml(self) -> str:
        return (self.checkout / "services.yml").read_text()

    def registry_snapshot(self) -> list[tuple[str, int, int]]:
        """Every file the registry stores, with size and mtime: unchanged
        means nothing was written."""
        return sorted((str(p.relative_to(self.registry.storage)), p.stat().st_size, p.stat().st_mtime_ns)
                      for p in self.registry.storage.rglob("*") if p.is_file())


@pytest.fixture
def make_sandbox(tmp_path, registry, base):
    """``make_sandbox(registry_host=…, dockerfile=…, build_args=…)``: two
    stand-in services, hello-web (amd64 + arm64) and hello-cli (amd64),
    published through ``registry_host`` (the real registry by default)."""
    made = []

    def make(registry_host=None, dockerfile=STAND_IN_DOCKERFILE, build_args=None,
             names=("hello-web", "hello-cli"), whole_project=False, extra_yaml="",
             overrides=None) -> Sandbox:
        upstreams = {}
        for name in names:
            upstreams[name] = Upstream(tmp_path / "upstreams" / name)
            upstreams[name].commit({"message.txt": f"hello from {name}\n"}, "first")
        prefix = f"{registry_host or registry.host}/{tmp_path.name.lower().replace('_', '-')}"
        services = stand_in_services(upstreams, base)
        for name, settings in services.items():
            settings["build_args"].update(build_args or {})
            settings.update((overrides or {}).get(name, {}))
        repo = ConfigRepo(tmp_path / "catalogue")
        checkout = repo.create(prefix, services, {name: dockerfile for name in upstreams},
                               whole_project=whole_project, extra_yaml=extra_yaml)
        wrapper, _ = counting_builder.install(tmp_path)
        env = {**os.environ,
               "PRIVACY_OCI_BUILDER": "buildah",
               "PRIVACY_OCI_BUILDAH": str(wrapper),
               "PRIVACY_OCI_BUILDAH_ROOT": str(tmp_path / "buildah"),
               "STORAGE_DRIVER": "vfs"}
        box = Sandbox(tmp_path, registry, prefix, upstreams, repo, checkout, env, base)
        made.append(box)
        return box

    yield make
    for box in made:
        box.fresh_job()  # releases the builder store


@pytest.fixture
def sandbox(make_sandbox):
    return make_sandbox()


@pytest.fixture
def client():
    return RegistryClient({})


def commit_catalogue_change(box: Sandbox, path: str, text: str) -> None:
    """A maintainer's change to the catalogue repo, pushed to its remote."""
    (box.checkout / path).write_text(text)
    git("add", path, cwd=box.checkout)
    git("-c", "user.name=Maintainer", "-c", "user.email=m@example.org",
        "commit", "--quiet", "--message", f"Change {path}", cwd=box.checkout)
    git("push", "--quiet", "origin", "HEAD:main", cwd=box.checkout)

"""Fixtures on real parts: a Distribution registry on loopback, a busybox
base image for amd64 and arm64, upstream git repositories, a catalogue
repository with a bare remote, and buildah with an empty store per test."""
from __future__ import annotations

import os
import shutil

import pytest

from sandbox import base_image, counting_builder
from sandbox.config_repo import ConfigRepo
from sandbox.demo import DEB_CACHE, STAND_IN_DOCKERFILE, stand_in_services
from sandbox.registry import LocalRegistry
from sandbox.upstreams import Upstream
from sandbox.world import World
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


@pytest.fixture
def make_sandbox(tmp_path, registry, base):
    """``make_sandbox(registry_host=…, dockerfile=…, build_args=…)``: two
    stand-in services, hello-web (amd64 + arm64) and hello-cli (amd64),
    published through ``registry_host`` (the real registry by default)."""
    made = []

    def make(registry_host=None, dockerfile=STAND_IN_DOCKERFILE, build_args=None,
             names=("hello-web", "hello-cli"), whole_project=False, extra_yaml="",
             overrides=None) -> World:
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
        box = World(tmp_path, registry, prefix, upstreams, repo, checkout, env, base,
                    {name: settings["platforms"] for name, settings in services.items()})
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
    return RegistryClient()

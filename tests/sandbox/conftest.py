"""The GitLab-shaped world, shared per module: a GitLab instance whose
project has one commit on main, a Docker Hub stand-in with the busybox base
image, and buildah with an empty store and no credentials of its own."""
from __future__ import annotations

import pytest

from sandbox.buildah_store import BuildahStore
from sandbox.demo import DEB_CACHE
from sandbox.gitlab import GitLab
from sandbox.upstreams import IDENTITY, git


@pytest.fixture(scope="module")
def gitlab(tmp_path_factory):
    """A GitLab instance of their own for these tests (the session's is
    shared by the pipeline tests), its project seeded with one commit."""
    with GitLab(tmp_path_factory.mktemp("gitlab")) as instance:
        work = tmp_path_factory.mktemp("seed")
        git("init", "--quiet", "--initial-branch=main", str(work))
        (work / "services.yml").write_text("services: {}\n")
        git("add", "--all", cwd=work)
        git(*IDENTITY, "commit", "--quiet", "--message", "Catalogue", cwd=work)
        git("push", "--quiet", str(instance.bare), "HEAD:refs/heads/main", cwd=work)
        yield instance


@pytest.fixture(scope="module")
def hub_base(hub):
    """The busybox base image on the Docker Hub stand-in."""
    return hub.publish_base(DEB_CACHE)


@pytest.fixture(scope="module")
def buildah(tmp_path_factory):
    store = BuildahStore(tmp_path_factory.mktemp("buildah"))
    yield store
    store.remove()

"""The GitLab-shaped world, shared per module: a GitLab instance whose
project has one commit on main."""
from __future__ import annotations

import pytest

from sandbox.gitlab import GitLab
from sandbox.upstreams import IDENTITY, git


@pytest.fixture(scope="module")
def gitlab(tmp_path_factory):
    with GitLab(tmp_path_factory.mktemp("gitlab")) as instance:
        work = tmp_path_factory.mktemp("seed")
        git("init", "--quiet", "--initial-branch=main", str(work))
        (work / "services.yml").write_text("services: {}\n")
        git("add", "--all", cwd=work)
        git(*IDENTITY, "commit", "--quiet", "--message", "Catalogue", cwd=work)
        git("push", "--quiet", str(instance.bare), "HEAD:refs/heads/main", cwd=work)
        yield instance

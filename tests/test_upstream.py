"""Upstreams choose their tag names, and a server may advertise names git
itself would never make: none of them reaches the registry as a path, none
stops another service, and no tag_pattern hangs a run. Real git over HTTP
(an upstream whose server adds such names to its advertisement), real
builds and the real registry."""
from __future__ import annotations

import pytest

from sandbox.git_http import HostileGitServer
from tasks import names, upstream
from tasks.git import GitError

TRAVERSAL = "v9.9.9/../../../hello-web/manifests/latest"
DIGITS = "v" + "9" * 5000 + ".0.0"


@pytest.fixture
def hostile(make_sandbox):
    """hello-cli tracks tags of an upstream whose server also advertises
    ``extra`` tags; hello-web is an ordinary neighbour."""
    servers = []

    def make(extra, pattern=r"v\d+\.\d+\.\d+.*"):
        box = make_sandbox(names=("hello-web", "hello-cli"))
        cli = box.upstreams["hello-cli"]
        cli.tag("v1.0.0")
        server = HostileGitServer(cli.directory, "repo.git", extra)
        servers.append(server)
        box.commit_change("services.yml", box.services_yml().replace(
            f"upstream: {cli.url}\n    branch: main", f"upstream: {server.url}\n    tag_pattern: '{pattern}'"))
        box.fresh_job()
        return box
    yield make
    for server in servers:
        server.close()


def test_tag_names_that_are_no_image_tags_are_ignored_and_hurt_no_neighbour(hostile, client):
    box = hostile([TRAVERSAL, DIGITS])

    result = box.doit()

    assert f"tag {TRAVERSAL!r} ignored: an image tag cannot be named so" in result.stderr
    assert "tag 'v99999" in result.stderr and "…' ignored" in result.stderr
    web = client.manifest(f"{box.prefix}/hello-web", "latest").json()["annotations"]
    assert web[names.REVISION_ANNOTATION] == box.records()["hello-web"]        # hello-web's own, untouched
    cli = client.manifest(f"{box.prefix}/hello-cli", "latest").json()["annotations"]
    assert cli["org.opencontainers.image.version"] == "v1.0.0"
    assert client.manifest(f"{box.prefix}/hello-cli", "v1.0.0") is not None


def test_a_pattern_that_backtracks_on_a_long_tag_fails_its_service_alone_in_bounded_time(hostile, client):
    box = hostile(["v" + "1" * 60 + "x"], pattern=r"v(\d+\.?)+")

    result = box.doit(check=False)

    assert result.returncode != 0
    assert f"tag_pattern 'v(\\\\d+\\\\.?)+' took more than {upstream.PATTERN_SECONDS} s" in result.stderr
    assert set(box.records()) == {"hello-web"}
    assert client.manifest(f"{box.prefix}/hello-web", "latest") is not None


def test_matching_runs_the_pattern_apart_and_stops_it(monkeypatch):
    monkeypatch.setattr(upstream, "PATTERN_SECONDS", 1)
    assert upstream.matching(["v1.2.3", "v1.2", "nightly"], "semver") == ["v1.2.3"]
    assert upstream.matching(["v1.2.3-rc1", "v1.2.3"], r"v1\.2\.3-rc\d+") == ["v1.2.3-rc1"]
    with pytest.raises(GitError, match="took more than"):
        upstream.matching(["a" * 40 + "!"], r"(a+)+$")

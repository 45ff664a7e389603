"""Tracking upstream releases instead of a branch: the newest tag matching a
pattern is built, and its name becomes an image tag too."""
from __future__ import annotations

from sandbox.demo import DEB_CACHE
from sandbox.readback import recorded
from sandbox.upstreams import git


def test_semver_tracking_builds_the_newest_release_and_rebuilds_once_for_a_new_one(make_sandbox, client):
    box = make_sandbox(overrides={"hello-cli": {"tag_pattern": "semver"}})
    cli = box.upstreams["hello-cli"]
    releases = {}
    for tag in ("v1.2.0", "v1.10.0", "v1.10.0-rc1"):
        cli.commit({"message.txt": f"release {tag}\n"}, tag)
        releases[tag] = cli.tag(tag)
    cli.commit({"message.txt": "unreleased work\n"}, "after the releases")

    box.doit()

    assert box.take_builds() == [("hello-cli", "linux/amd64"), ("hello-web", "linux/amd64"),
                                 ("hello-web", "linux/arm64")]
    repository = f"{box.prefix}/hello-cli"
    index = client.manifest(repository, "v1.10.0")
    assert index is not None and index.digest == client.manifest(repository, "latest").digest
    annotations = index.json()["annotations"]
    assert annotations["org.opencontainers.image.version"] == "v1.10.0"
    assert annotations["org.opencontainers.image.revision"] == releases["v1.10.0"]
    assert client.manifest(repository, "v1.10.0-rc1") is None
    assert box.records()["hello-cli"] == releases["v1.10.0"]

    cli.commit({"message.txt": "more unreleased work\n"}, "not a release")
    box.fresh_job()
    assert box.pending() == set()                  # a new commit alone is no release

    cli.commit({"message.txt": "release v1.11.0\n"}, "v1.11.0")
    new = cli.tag("v1.11.0")
    box.fresh_job()
    box.doit()

    assert box.take_builds() == [("hello-cli", "linux/amd64")]
    assert client.manifest(repository, "v1.11.0").json()["annotations"]["org.opencontainers.image.revision"] == new
    assert box.records()["hello-cli"] == new
    assert git("rev-parse", "v1.10.0^{commit}", cwd=cli.work) == releases["v1.10.0"]


def test_a_new_base_image_digest_rebuilds_exactly_the_services_built_on_it(make_sandbox, hub, client, tmp_path):
    repository = f"{tmp_path.name.lower().replace('_', '-')}/own-base"
    own_base = hub.publish_base(DEB_CACHE, repository, marker="one")
    first_digest = client.manifest(*own_base.rsplit(":", 1), head=True).digest
    box = make_sandbox(overrides={"hello-web": {"build_args": {"BASE_IMAGE": own_base}}})
    box.doit()
    box.take_builds()

    hub.publish_base(DEB_CACHE, repository, marker="two")
    second_digest = client.manifest(*own_base.rsplit(":", 1), head=True).digest
    assert second_digest != first_digest
    box.fresh_job()
    listing = box.doit("list", "--status")
    assert f"hello-web: to publish: base image {own_base} changed {first_digest[:19]} -> {second_digest[:19]}" \
        in listing.stderr
    assert "hello-cli: to publish" not in listing.stderr
    assert box.pending() == box.tasks_of("hello-web")

    box.doit()

    assert box.take_builds() == [("hello-web", "linux/amd64"), ("hello-web", "linux/arm64")]
    remote_yml = box.repo.remote_file("services.yml")
    assert recorded(remote_yml, "hello-web")["bases"] == {own_base: second_digest}
    assert recorded(remote_yml, "hello-cli")["bases"] == {box.env_base: client.manifest(
        *box.env_base.rsplit(":", 1), head=True).digest}

"""``doit status-page`` in a maintainer's world: real buildah builds, a
real registry behind GitLab's token auth, real podman start checks and
real upstreams. One service published and one held back after failing;
then upstream moves on. What the site says comes from the registry (and
the run's report for a check's details); the run's report is left as it
was; a plain ``doit`` never writes the site."""
from __future__ import annotations

import json

from sandbox.demo import stand_in_dockerfile
from tasks import site_memory

# The build fails while upstream's message.txt says "broken".
BREAKS_ON_UPSTREAM = stand_in_dockerfile('RUN ! grep -q broken /app/message.txt || { echo "broken" >&2; exit 2; }',
                                         'CMD ["cat", "/app/message.txt"]')


def site_data(box) -> dict:
    data = json.loads((box.checkout / ".work" / "site" / "status.json").read_text())
    return {service["name"]: service for service in data["services"]}


def test_the_site_shows_what_is_published_held_back_and_behind(make_sandbox, client):
    box = make_sandbox(dockerfile=BREAKS_ON_UPSTREAM, names=("hello-cli", "hello-api"))
    box.upstreams["hello-cli"].commit({"message.txt": "broken\n"}, "needs a newer toolchain")
    box.fresh_job()
    box.doit(check=False)
    assert not (box.checkout / ".work" / "site").exists()      # not part of a plain run
    report = (box.checkout / ".work" / "report.json").read_bytes()

    written = box.doit("status-page")

    assert "the site is in" in written.stdout and "hello-cli held back" in written.stdout
    assert (box.checkout / ".work" / "report.json").read_bytes() == report
    services = site_data(box)
    api, cli = services["hello-api"], services["hello-cli"]
    index = client.manifest(f"{box.prefix}/hello-api", "latest")
    assert api["state"] == "current" and api["index_digest"] == index.digest
    assert api["head"] == api["published_commit"] == box.records()["hello-api"]
    [amd64] = api["platforms"]
    assert amd64["digest"] == index.json()["manifests"][0]["digest"] and amd64["size"] > 1000
    assert amd64["check"]["passed"] and " in " in amd64["check"]["what"]    # the report's detail
    assert cli["state"] == "held back" and cli["published_commit"] is None
    held = cli["platforms"][0]["held_back"]
    assert held["stage"] == "build" and held["attempts"] == 1 and "exit" in held["reason"]
    page = (box.checkout / ".work" / "site" / "services" / "hello-cli.html").read_text()
    assert "held back. Its build failed 1 time(s) in a row" in page
    badge = (box.checkout / ".work" / "site" / "badges" / "hello-cli.svg").read_text()
    assert ">held back</text>" in badge

    # Upstream moves on: the published image is behind, as far as known.
    moved = box.upstreams["hello-api"].commit({"message.txt": "newer\n"}, "newer")
    box.fresh_job()
    box.doit("status-page")
    api = site_data(box)["hello-api"]
    assert api["state"] == "behind" and api["head"] == moved and api["published_commit"] != moved
    assert api["platforms"][0]["pending"] and api["platforms"][0]["check"]["passed"]
    page = (box.checkout / ".work" / "site" / "services" / "hello-api.html").read_text()
    assert f"behind: upstream is at {moved[:12]}" in page


def test_remember_keeps_what_the_site_was_made_from_in_the_registry(make_sandbox, client):
    box = make_sandbox(names=("hello-cli",))
    box.doit()
    assert site_memory.remembered(client, box.prefix) is None

    box.doit("status-page")
    assert site_memory.remembered(client, box.prefix) is None    # only the job that publishes remembers
    box.doit("status-page", "--remember")

    remembered = site_memory.remembered(client, box.prefix)
    assert remembered and len(remembered) == 32
    assert client.manifest(f"{box.prefix}/status-page", "site-inputs") is not None

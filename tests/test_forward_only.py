"""Publishing only moves forward: runs that overlap never roll ``latest``,
a release tag or the record back, whichever finishes last. The overlap is
made exact with a gate: each build waits at a RUN step until the test lets
its upstream commit through."""
from __future__ import annotations

import pytest

from sandbox.gate import GATED_DOCKERFILE, Gate
from sandbox.upstreams import git

SERVICE = "hello-cli"


@pytest.fixture
def gate():
    opened = Gate()
    yield opened
    opened.shutdown()


@pytest.fixture
def world(make_sandbox, gate, request):
    """One service, tracking its branch, or the tag ``v1`` when the test is
    parametrized with ``"tag"``."""
    ref = getattr(request, "param", "branch")
    box = make_sandbox(names=(SERVICE,), dockerfile=GATED_DOCKERFILE, build_args={"GATE_URL": gate.url},
                       overrides={SERVICE: {"tag": "v1"}} if ref == "tag" else {})
    if ref == "tag":
        box.upstreams[SERVICE].tag("v1")
    box.ref = ref
    return box


def new_upstream_commit(box, message: str) -> str:
    """Upstream moves on: a new commit on the branch, or the tag moved to it."""
    upstream = box.upstreams[SERVICE]
    commit = upstream.commit({"message.txt": f"{message}\n"}, message)
    if box.ref == "tag":
        upstream.tag("v1", move=True)
    return commit


def latest(client, box) -> dict:
    return client.manifest(f"{box.prefix}/{SERVICE}", "latest").json()["annotations"]


def held_run(box, gate, commit: str, name: str):
    """A run (its own job) that resolves ``commit`` and waits at its build."""
    gate.close(commit)
    job = box.other_job(name)
    process = box.start_doit(job=job)
    gate.wait_for_arrival(commit)
    return process, job


def log_of(job) -> str:
    return job[0].with_suffix(".log").read_text()


@pytest.mark.parametrize("world", ["branch", "tag"], indirect=True)
def test_an_old_run_finishing_last_leaves_latest_and_the_record_to_the_new_one(world, gate, client):
    old = git("rev-parse", "HEAD", cwd=world.upstreams[SERVICE].work)
    old_run, old_job = held_run(world, gate, old, "old-run")
    new = new_upstream_commit(world, "second")

    world.doit(job=world.other_job("new-run"))           # runs through: publishes and records
    assert latest(client, world)["org.opencontainers.image.revision"] == new
    gate.open(old)
    assert old_run.wait(timeout=600) == 0                 # superseded is not a failure

    assert latest(client, world)["org.opencontainers.image.revision"] == new
    assert world.records() == {SERVICE: new}
    assert client.manifest(f"{world.prefix}/{SERVICE}", old[:12]) is not None   # its own index stays
    summary = log_of(old_job)[log_of(old_job).index("privacy-oci summary:"):]
    assert "superseded" in summary and f"upstream now points at {new[:12]}" in summary
    assert "services: 1 superseded;" in summary
    if world.ref == "tag":
        v1 = client.manifest(f"{world.prefix}/{SERVICE}", "v1").json()["annotations"]
        assert v1["org.opencontainers.image.revision"] == new


@pytest.mark.parametrize("world", ["branch", "tag"], indirect=True)
def test_a_new_run_finishing_last_publishes_and_the_old_one_stands_aside(world, gate, client):
    old = git("rev-parse", "HEAD", cwd=world.upstreams[SERVICE].work)
    old_run, old_job = held_run(world, gate, old, "old-run")
    new = new_upstream_commit(world, "second")
    new_run, _ = held_run(world, gate, new, "new-run")

    gate.open(old)
    assert old_run.wait(timeout=600) == 0
    assert client.manifest(f"{world.prefix}/{SERVICE}", "latest") is None   # the old run moved nothing
    assert world.records() == {}
    gate.open(new)
    assert new_run.wait(timeout=600) == 0

    assert latest(client, world)["org.opencontainers.image.revision"] == new
    assert world.records() == {SERVICE: new}
    assert "1 superseded" in log_of(old_job)


def test_a_laptop_build_overlapping_a_run(world, gate, client):
    """``doit build:<service>`` on a laptop publishes the new commit while a
    scheduled run of the old one waits; the run then leaves latest alone,
    and the next run records what the laptop published without building."""
    old = git("rev-parse", "HEAD", cwd=world.upstreams[SERVICE].work)
    ci_run, ci_job = held_run(world, gate, old, "ci-run")
    new = new_upstream_commit(world, "second")

    world.doit(f"build:{SERVICE}", job=world.other_job("laptop"))
    gate.open(old)
    assert ci_run.wait(timeout=600) == 0

    assert latest(client, world)["org.opencontainers.image.revision"] == new
    assert world.records() == {}
    assert "1 superseded" in log_of(ci_job)
    world.take_builds()
    world.fresh_job()
    world.doit()
    assert world.take_builds() == []
    assert world.records() == {SERVICE: new}


def test_upstream_reset_to_an_older_published_commit_is_followed_without_building(world, client):
    first = git("rev-parse", "HEAD", cwd=world.upstreams[SERVICE].work)
    world.doit()
    second = new_upstream_commit(world, "second")
    world.fresh_job()
    world.doit()
    assert world.records() == {SERVICE: second}
    world.take_builds()

    world.upstreams[SERVICE].reset(first)
    world.fresh_job()
    world.doit()

    assert world.take_builds() == []
    assert latest(client, world)["org.opencontainers.image.revision"] == first
    assert world.records() == {SERVICE: first}

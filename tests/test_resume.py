"""A partial failure is resumed without rebuilding finished platforms, from
a fresh CI job (fresh clone, no doit state, empty builder store), and a run
killed at any moment leaves nothing a later run cannot finish."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from sandbox import counting_builder
from sandbox.fault_proxy import FaultProxy
from sandbox.flaky_server import FLAKY_DOCKERFILE, FlakyPayloads
from sandbox.readback import index_platforms
from sandbox.upstreams import git


@pytest.fixture
def payloads():
    server = FlakyPayloads(failures=1)
    yield server
    server.close()


def test_failed_arm64_is_retried_alone_from_a_fresh_job(make_sandbox, payloads, client):
    box = make_sandbox(dockerfile=FLAKY_DOCKERFILE, build_args={"PAYLOAD_URL": payloads.url})
    web, cli = f"{box.prefix}/hello-web", f"{box.prefix}/hello-cli"

    first = box.doit(check=False)

    assert first.returncode != 0
    assert box.take_builds() == [("hello-cli", "linux/amd64"), ("hello-web", "linux/amd64"),
                                 ("hello-web", "linux/arm64")]
    assert "FAILED build:hello-web:arm64: buildah build exited" in first.stderr
    summary = first.stdout[first.stdout.index("privacy-oci summary:"):]
    web_line = next(line for line in summary.splitlines() if line.strip().startswith("hello-web"))
    assert " failed " in web_line and "build:hello-web:arm64: buildah build exited" in web_line
    assert "503" in web_line, first.stderr  # the reason, from the builder's own output
    assert "services: 1 recorded, 1 failed; 2 platform image(s) built and checked" in summary
    assert client.manifest(web, "latest") is None                      # no index
    assert index_platforms(client, cli) == {"amd64"}                   # the other service published
    records = box.records()
    assert list(records) == ["hello-cli"]                              # and recorded; web is not
    assert len(box.repo.remote_log()) == 2

    box.fresh_job()
    assert box.pending() == set()                                    # held back until the next tick
    box.hours_later(1)
    assert box.pending() == box.tasks_of("hello-web", ["arm64"])
    second = box.doit()

    assert box.take_builds() == [("hello-web", "linux/arm64")]
    assert index_platforms(client, web) == {"amd64", "arm64"}
    assert set(box.records()) == {"hello-web", "hello-cli"}
    assert records["hello-cli"] == box.records()["hello-cli"]
    assert "services: 1 recorded, 1 up to date; 1 platform image(s) built and checked" in second.stdout
    assert payloads.requests.count("/aarch64") == 2 and payloads.requests.count("/x86_64") == 2


def kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def assert_fully_published(box, client):
    records = box.records()
    assert set(records) == {"hello-web", "hello-cli"}
    assert index_platforms(client, f"{box.prefix}/hello-web") == {"amd64", "arm64"}
    assert index_platforms(client, f"{box.prefix}/hello-cli") == {"amd64"}
    for name, commit in records.items():
        latest = client.manifest(f"{box.prefix}/{name}", "latest")
        assert latest.json()["annotations"]["org.opencontainers.image.revision"] == commit
        for entry in latest.json()["manifests"]:
            assert client.manifest(f"{box.prefix}/{name}", entry["digest"], head=True) is not None
    log = box.repo.remote_log()
    assert len(log) == 2 and "[skip ci]" in log[0]
    box.fresh_job()
    assert box.pending() == set()


def test_killed_during_a_build_then_run_again(sandbox, client):
    process = sandbox.start_doit()
    deadline = time.monotonic() + 300
    while ("hello-web", "linux/arm64") not in _peek_builds(sandbox):
        assert process.poll() is None, "doit finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.2)  # buildah has started the arm64 build and is still at it
    kill(process)
    assert client.manifest(f"{sandbox.prefix}/hello-web", "latest") is None
    # Builds run in catalogue order: web amd64 was done, web arm64 was killed.
    assert sandbox.take_builds() == [("hello-web", "linux/amd64"), ("hello-web", "linux/arm64")]

    sandbox.fresh_job()
    sandbox.doit()

    assert sandbox.take_builds() == [("hello-cli", "linux/amd64"), ("hello-web", "linux/arm64")]
    assert_fully_published(sandbox, client)


def test_killed_during_the_index_push_then_run_again(make_sandbox, registry):
    state = {}

    def kill_after_first_index_tag(method, path, status):
        # The index goes to the commit tag first and to 'latest' last: kill
        # doit once the registry has the first (not at the 401 that asks for
        # a token first), before doit hears back.
        if method == "PUT" and status == 201 and path.endswith(f"/hello-web/manifests/{state['commit_tag']}"):
            kill(state["process"])

    with FaultProxy(registry.host, after=kill_after_first_index_tag) as proxy:
        box = make_sandbox(registry_host=proxy.host)
        state["commit_tag"] = _head(box, "hello-web")[:12]
        state["process"] = box.start_doit()
        assert state["process"].wait(timeout=300) == -signal.SIGKILL

        web = f"{box.prefix}/hello-web"
        client = box.client()     # (the job's credentials are for its registry: the proxy, here)
        assert client.manifest(web, state["commit_tag"]) is not None
        assert client.manifest(web, "latest") is None
        assert "hello-web" not in box.records()

        box.fresh_job()
        box.take_builds()
        state["commit_tag"] = "never"
        box.doit()
        assert box.take_builds() == []          # every platform was already there
        assert_fully_published(box, client)


def _peek_builds(box) -> list[tuple[str, str]]:
    """The builds started so far, without taking them."""
    return counting_builder.builds(box.builder_log)


def _head(box, name) -> str:
    return git("rev-parse", "HEAD", cwd=box.upstreams[name].work)


def test_a_failed_platform_build_fails_the_job_that_ran_it(make_sandbox, payloads):
    """``doit build:<service>:<arch>`` is what a CI build job runs: a failed
    build must fail the job, so that GitLab does not go on to its index."""
    box = make_sandbox(dockerfile=FLAKY_DOCKERFILE, build_args={"PAYLOAD_URL": payloads.url})

    failed = box.doit("build:hello-web:arm64", check=False)

    assert failed.returncode != 0
    assert "FAILED build:hello-web:arm64: buildah build exited" in failed.stderr
    assert box.doit("build:hello-web:arm64").returncode == 0       # the 503 was once only

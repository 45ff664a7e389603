"""The whole graph, end to end, through the real ``doit`` command: real
buildah builds (arm64 under emulation), a real registry read back over the
distribution API, real upstream repositories and a real bare remote."""
from __future__ import annotations

import json
import socket

import pytest

from sandbox.readback import file_in_image, image_config, recorded, records
from sandbox.upstreams import git


def test_first_run_publishes_index_and_records_one_skip_ci_commit(sandbox, client):
    original = sandbox.services_yml()
    commits = {name: git("rev-parse", "HEAD", cwd=u.work) for name, u in sandbox.upstreams.items()}
    assert sandbox.pending() == sandbox.all_tasks()

    run = sandbox.doit()

    assert sandbox.take_builds() == [("hello-cli", "linux/amd64"), ("hello-web", "linux/amd64"),
                                     ("hello-web", "linux/arm64")]
    expected = {"hello-web": {"amd64", "arm64"}, "hello-cli": {"amd64"}}
    for name, architectures in expected.items():
        repository = f"{sandbox.prefix}/{name}"
        index = client.manifest(repository, "latest")
        assert index.media_type == "application/vnd.oci.image.index.v1+json"
        body = index.json()
        assert {m["platform"]["architecture"] for m in body["manifests"]} == architectures
        assert len(body["manifests"]) == len(architectures)
        assert body["annotations"]["org.opencontainers.image.revision"] == commits[name]
        assert body["annotations"]["org.opencontainers.image.source"] == sandbox.upstreams[name].url
        assert body["annotations"]["org.opencontainers.image.version"] == commits[name][:12]
        assert body["annotations"]["org.opencontainers.image.created"].endswith("Z")
        assert "org.privacy-oci.build-inputs" in body["annotations"]
        assert client.manifest(repository, commits[name][:12]).digest == index.digest
        for entry in body["manifests"]:
            reader = sandbox.pull_authorization(repository)
            config = image_config(client, repository, entry["digest"], reader)
            assert config["architecture"] == entry["platform"]["architecture"]
            assert config["config"]["Labels"]["org.opencontainers.image.revision"] == commits[name]
            # The RUN step really ran on that architecture (arm64 under emulation).
            built_on = file_in_image(client, repository, entry["digest"], "app/built-on", reader).strip()
            assert built_on == {"amd64": "x86_64", "arm64": "aarch64"}[entry["platform"]["architecture"]]
            assert file_in_image(client, repository, entry["digest"], "app/commit", reader).strip() == commits[name]

    remote_yml = sandbox.repo.remote_file("services.yml")
    assert records(remote_yml) == commits
    # Every original line is still there, in order; only the records were added.
    added = [line for line in remote_yml.splitlines() if line not in original.splitlines()]
    assert [line for line in remote_yml.splitlines() if line in original.splitlines()] == original.splitlines()
    base = sandbox.env_base
    base_digest = client.manifest(*base.rsplit(":", 1), head=True).digest
    expected_added = []
    for name in commits:
        expected_added += ["    published:", f"      commit: {commits[name]}",
                           f"      inputs: {recorded(remote_yml, name)['inputs']}",
                           "      bases:", f"        {base}: {base_digest}"]
    assert sorted(added) == sorted(expected_added)
    log = sandbox.repo.remote_log()
    assert len(log) == 2 and "[skip ci]" in log[0]
    assert "services: 2 recorded; 3 platform image(s) built and checked" in run.stdout
    report = {r["service"]: r for r in json.loads((sandbox.checkout / ".work" / "report.json").read_text())["services"]}
    for name, architectures in expected.items():
        entry = report[name]
        assert (entry["status"], entry["recorded"], entry["commit"], entry["errors"]) == ("recorded", True, commits[name], {})
        assert entry["index_digest"] == client.manifest(f"{sandbox.prefix}/{name}", "latest").digest
        assert entry["tags"] == [commits[name][:12], "latest"]
        assert {p.split("/")[1] for p in entry["platforms"]} == architectures


def test_second_run_does_nothing_also_from_a_fresh_clone(sandbox):
    sandbox.doit()
    sandbox.take_builds()
    log, snapshot = sandbox.repo.remote_log(), sandbox.registry_snapshot()

    assert sandbox.pending() == set()
    again = sandbox.doit()
    sandbox.fresh_job()
    assert not (sandbox.checkout / ".work").exists()
    assert sandbox.pending() == set()
    fresh = sandbox.doit()

    assert sandbox.take_builds() == []
    assert sandbox.registry_snapshot() == snapshot
    assert sandbox.repo.remote_log() == log
    for run in (again, fresh):
        assert "services: 2 up to date; 0 platform image(s) built and checked" in run.stdout
        assert "\n.  " not in run.stdout  # doit's mark of an executed task


def test_new_upstream_commit_rebuilds_and_records_only_that_service(sandbox):
    sandbox.doit()
    sandbox.take_builds()
    web_record = sandbox.records()["hello-web"]
    sandbox.fresh_job()
    new_commit = sandbox.upstreams["hello-cli"].commit({"message.txt": "hello again\n"}, "second")

    assert sandbox.pending() == sandbox.tasks_of("hello-cli")
    sandbox.doit()

    assert sandbox.take_builds() == [("hello-cli", "linux/amd64")]
    records = sandbox.records()
    assert records == {"hello-web": web_record, "hello-cli": new_commit}
    assert len(sandbox.repo.remote_log()) == 3


def test_dockerfile_edit_rebuilds_only_that_service_in_parallel(sandbox):
    sandbox.doit()
    sandbox.take_builds()
    dockerfile = "Dockerfiles/hello-web/Dockerfile"
    text = (sandbox.checkout / dockerfile).read_text()
    sandbox.commit_change(dockerfile, text + 'LABEL org.example.edited="yes"\n')
    sandbox.fresh_job()

    assert sandbox.pending() == sandbox.tasks_of("hello-web")
    sandbox.doit("-n", "4")

    assert sandbox.take_builds() == [("hello-web", "linux/amd64"), ("hello-web", "linux/arm64")]
    log = sandbox.repo.remote_log()
    assert len(log) == 4 and "[skip ci]" in log[0]
    assert sandbox.pending() == set()
    json.loads((sandbox.checkout / ".work" / "doit-state.json").read_text())


def test_build_one_service_publishes_without_committing(sandbox, client):
    run = sandbox.doit("build:hello-cli")

    assert sandbox.take_builds() == [("hello-cli", "linux/amd64")]
    assert client.manifest(f"{sandbox.prefix}/hello-cli", "latest") is not None
    assert client.manifest(f"{sandbox.prefix}/hello-web", "latest") is None
    assert len(sandbox.repo.remote_log()) == 1
    # It looked at hello-cli alone, and says what it did in the same words.
    assert "hello-web" not in run.stdout + run.stderr
    assert "hello-cli  " in run.stdout and "services: 1 published;" in run.stdout
    # What is left is the record alone, and the listing says so.
    listing = sandbox.doit("list", "--status", "--all")
    assert "hello-cli: to record: " in listing.stderr and "hello-cli: to publish" not in listing.stderr
    groups = {"fetch-upstream", "push-manifest", "verify", "commit-hash"}    # hello-web's are pending
    assert sandbox.pending() == sandbox.all_tasks() - (sandbox.tasks_of("hello-cli") - groups)
    sandbox.doit()
    assert sandbox.take_builds() == [("hello-web", "linux/amd64"), ("hello-web", "linux/arm64")]
    assert set(sandbox.records()) == {"hello-web", "hello-cli"}


def test_list_touches_no_network(sandbox):
    """``doit list`` asks neither git nor the registry anything: git is
    traced and the registry is a socket that counts connections."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        host = f"127.0.0.1:{listener.getsockname()[1]}"
        (sandbox.checkout / "services.yml").write_text(
            sandbox.services_yml().replace(sandbox.registry.host, host))
        trace = sandbox.directory / "git-trace"
        sandbox.env["GIT_TRACE"] = str(trace)

        listing = sandbox.doit("list", "--all").stdout
        assert {line.split()[0] for line in listing.splitlines()} == sandbox.all_tasks() | {"fan-out", "status-page"}
        git_commands = trace.read_text() if trace.exists() else ""
        assert "ls-remote" not in git_commands and "fetch" not in git_commands
        with pytest.raises(BlockingIOError):
            listener.accept()

    # The same probe does see the traffic of a listing that needs the facts.
    sandbox.doit("list", "--status")
    assert "ls-remote" in trace.read_text()

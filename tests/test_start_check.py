"""The start check: every platform image is started with a real runtime
(podman) before it may enter an index. An image that does not start, on
any platform, never becomes ``latest``: the last good commit stays
published and recorded, the run fails, and the summary and the JSON report
say which platform, what failed and the container's last words. Real
buildah builds, the real registry, real containers."""
from __future__ import annotations

import json

import pytest

from sandbox.demo import stand_in_dockerfile
from sandbox.readback import tags
from tasks import names

# What the stand-in does at start is up to its upstream's message.txt:
# "exit-on-<machine>" exits 3 there, "never-healthy" never passes its
# health check; otherwise it serves message.txt over HTTP, healthy.
START_RECIPE = stand_in_dockerfile(
    'HEALTHCHECK --interval=1m CMD ["test", "-f", "/tmp/healthy"]',
    'CMD ["sh", "-c", "if grep -q \\"exit-on-$(uname -m)\\" /app/message.txt; then echo \\"cannot start on '
    '$(uname -m)\\" >&2; exit 3; fi; grep -q never-healthy /app/message.txt || touch /tmp/healthy; '
    'echo started; exec httpd -f -p 8080 -h /app"]')
HTTP = {"http": {"port": 8080, "path": "/message.txt"}}


@pytest.fixture
def started(make_sandbox, client):
    """hello-web (amd64 + arm64) and hello-cli published once, good."""
    box = make_sandbox(dockerfile=START_RECIPE, overrides={name: {"start_check": {**HTTP, "timeout": 20}}
                                                          for name in ("hello-web", "hello-cli")})
    box.doit()
    assert box.take_checks() == [("hello-cli", "linux/amd64"), ("hello-web", "linux/amd64"),
                                 ("hello-web", "linux/arm64")]
    box.take_builds()
    return box, latest(client, box, "hello-web"), box.records()


def latest(client, box, service: str) -> tuple[str, str]:
    """(digest, revision) of the service's ``latest``."""
    index = client.manifest(f"{box.prefix}/{service}", "latest")
    return index.digest, index.json()["annotations"][names.REVISION_ANNOTATION]


def summary_line(result, service: str) -> str:
    summary = result.stdout[result.stdout.index("privacy-oci summary:"):]
    return "\n".join(line for line in summary.splitlines() if service in line or "log:" in line)


def report(box) -> dict:
    services = json.loads((box.checkout / ".work" / "report.json").read_text())["services"]
    return {entry["service"]: entry for entry in services}


def break_upstream(box, service: str, message: str) -> str:
    commit = box.upstreams[service].commit({"message.txt": message + "\n"}, "breaks the start")
    box.fresh_job()
    return commit


def assert_nothing_moved(client, box, before, records) -> None:
    assert latest(client, box, "hello-web") == before
    assert box.records() == records


def test_an_image_that_exits_at_start_never_becomes_latest(started, client):
    box, before, records = started
    commit = break_upstream(box, "hello-web", "exit-on-x86_64 exit-on-aarch64")

    result = box.doit(check=False)

    assert result.returncode != 0
    assert_nothing_moved(client, box, before, records)
    assert box.take_checks() == [("hello-web", "linux/amd64"), ("hello-web", "linux/arm64")]
    line = summary_line(result, "hello-web")
    assert "failed" in line and "linux/amd64 image did not pass its start check: exited 3" in line
    assert "linux/amd64 log: cannot start on x86_64" in line
    checks = report(box)["hello-web"]["start_checks"]
    assert checks["linux/amd64"]["result"] == "exited 3" and not checks["linux/amd64"]["passed"]
    assert "cannot start on aarch64" in checks["linux/arm64"]["log"]
    # Nothing of the new commit may enter an index: it has candidates, no platform tag.
    repository = f"{box.prefix}/hello-web"
    published = tags(repository, box.pull_authorization(repository))
    assert [t for t in published if t.startswith(f"candidate-{commit[:12]}-")]
    assert not [t for t in published if t.startswith(f"build-{commit[:12]}-")]


def test_only_the_arm64_image_failing_to_start_keeps_latest_where_it_was(started, client):
    box, before, records = started
    break_upstream(box, "hello-web", "exit-on-aarch64")

    result = box.doit(check=False)

    assert result.returncode != 0
    assert_nothing_moved(client, box, before, records)
    line = summary_line(result, "hello-web")
    assert "linux/arm64 image did not pass its start check: exited 3" in line
    assert "linux/amd64" not in line.split("log:")[0].replace("build:hello-web:arm64", "")
    entry = report(box)["hello-web"]
    assert entry["start_checks"]["linux/amd64"]["passed"] and not entry["start_checks"]["linux/arm64"]["passed"]
    assert list(entry["platforms"]) == ["linux/amd64"]          # amd64 passed and may enter a later index
    assert entry["index_digest"] is None and entry["status"] == "failed"


def test_an_image_that_never_turns_healthy_fails_within_its_timeout(started, client):
    box, before, records = started
    box.commit_change("services.yml", box.services_yml().replace('"timeout": 20', '"timeout": 4'))
    break_upstream(box, "hello-web", "never-healthy")

    result = box.doit(check=False)

    assert result.returncode != 0
    assert_nothing_moved(client, box, before, records)
    checks = report(box)["hello-web"]["start_checks"]
    for platform in ("linux/amd64", "linux/arm64"):
        assert not checks[platform]["passed"]
        assert checks[platform]["result"].startswith("unhealthy after 4 s (timeout): health check")
        assert 4 <= checks[platform]["seconds"] < 60            # bounded by the timeout, not by the image
        assert "started" in checks[platform]["log"]


def test_an_http_port_that_does_not_answer_fails_and_a_companion_is_on_localhost(make_sandbox, client, base):
    # hello-cli waits for its companion (a web server on localhost:8081)
    # and serves only once it has fetched a page from it.
    recipe = stand_in_dockerfile('CMD ["sh", "-c", "until wget -q -O /tmp/page http://127.0.0.1:8081/; do sleep 0.2; '
                                 'done; exec httpd -f -p 8080 -h /tmp"]')
    companion = {"image": base, "command": ["sh", "-c", "echo hi > /tmp/index.html; exec httpd -f -p 8081 -h /tmp"]}
    box = make_sandbox(dockerfile=recipe, names=("hello-cli", "hello-api"), overrides={
        "hello-cli": {"start_check": {"http": {"port": 8080, "path": "/page"}, "companions": [companion]}},
        "hello-api": {"start_check": {"http": {"port": 9999}, "timeout": 3}}})

    result = box.doit(check=False)

    assert result.returncode != 0
    entries = report(box)
    assert entries["hello-cli"]["status"] == "recorded" and entries["hello-cli"]["start_checks"]["linux/amd64"] == {
        "passed": True, "result": "healthy", "seconds": entries["hello-cli"]["start_checks"]["linux/amd64"]["seconds"],
        "log": []}
    assert entries["hello-api"]["start_checks"]["linux/amd64"]["result"].startswith(
        "no HTTP answer after 3 s (timeout): HTTP port 9999")
    assert client.manifest(f"{box.prefix}/hello-api", "latest") is None
    assert box.containers_left() == []     # the image and its companion, each removed


def test_a_cli_that_exits_0_passes_and_a_check_can_be_turned_off_with_a_reason(make_sandbox):
    recipe = stand_in_dockerfile('CMD ["sh", "-c", "test -n \\"$GREETING\\" && test -f /etc/greeting"]')
    box = make_sandbox(dockerfile=recipe, names=("hello-cli", "hello-api"), overrides={
        "hello-cli": {"start_check": {"env": {"GREETING": "hi"}, "files": {"/etc/greeting": "services.yml"}}},
        "hello-api": {"start_check": {"skip": "needs a terminal"}}})

    box.doit()

    assert box.take_checks() == [("hello-cli", "linux/amd64")]
    checks = {name: entry["start_checks"] for name, entry in report(box).items()}
    assert checks["hello-cli"]["linux/amd64"]["result"] == "exited 0"
    assert checks["hello-api"]["linux/amd64"]["result"] == "off: needs a terminal"

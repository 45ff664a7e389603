"""Faults an unattended hourly job meets: a flaky or stopped registry, an
unreachable upstream, a remote that moved, a refused push; and the secrets
that must never show on any of those paths."""
from __future__ import annotations

import base64
import threading
from pathlib import Path

import pytest

from sandbox.fault_proxy import FaultProxy
from sandbox.git_http import RefusingGitServer
from sandbox.registry import LocalRegistry, free_port
from sandbox.upstreams import git

TOKEN = "PLANTED-GIT-TOKEN-7f3a9c"
PASSWORD = "PLANTED-REGISTRY-PASSWORD-2b8e4d"
USER = "planted-user"


def test_registry_answering_503_then_429_is_retried_and_the_run_succeeds(make_sandbox, registry, client):
    answered = {"count": 0}
    lock = threading.Lock()

    def first_requests_fail(method, path):
        with lock:
            answered["count"] += 1
            number = answered["count"]
        if number <= 3:
            return 503
        if number <= 5:
            return 429
        return None

    with FaultProxy(registry.host, fault=first_requests_fail) as proxy:
        box = make_sandbox(registry_host=proxy.host)
        box.doit()
        statuses = [status for _, _, status in proxy.seen]
        assert box.client().manifest(f"{box.prefix}/hello-web", "latest") is not None

    assert statuses[:5] == [503, 503, 503, 429, 429]
    assert len(box.records()) == 2


def test_stopped_registry_fails_cleanly_and_a_later_run_completes(make_sandbox, tmp_path, client):
    port = free_port()
    own = LocalRegistry(tmp_path / "own-registry", port=port)
    box = make_sandbox(registry_host=own.host)

    down = box.doit(check=False)

    assert down.returncode != 0
    for service in ("hello-web", "hello-cli"):
        assert (f"FAILED fetch-upstream:{service}: cannot decide what to do: the image registry cannot say what is "
                "published: registry unreachable") in down.stderr
        assert f"verify:{service}" in down.stdout + down.stderr
    assert "Traceback" not in down.stdout + down.stderr
    assert box.records() == {}
    assert len(box.repo.remote_log()) == 1

    with own:
        box.fresh_job()
        box.doit()
        assert set(box.records()) == {"hello-web", "hello-cli"}
        assert client.manifest(f"{box.prefix}/hello-web", "latest") is not None


def test_unreachable_upstream_fails_only_its_service(make_sandbox, client):
    box = make_sandbox(names=("hello-web", "hello-cli", "hello-api"))
    gone = box.upstreams["hello-api"].bare
    gone.rename(gone.with_name("moved-away.git"))

    result = box.doit(check=False)

    assert result.returncode != 0
    assert "FAILED fetch-upstream:hello-api: cannot decide what to do: upstream " + box.upstreams["hello-api"].url \
        in result.stderr
    assert "verify:hello-api" in result.stdout + result.stderr
    assert set(box.records()) == {"hello-web", "hello-cli"}
    assert client.manifest(f"{box.prefix}/hello-api", "latest") is None
    summary = result.stdout[result.stdout.index("privacy-oci summary:"):]
    assert "services: 2 recorded, 1 failed;" in summary


def test_offline_the_listing_and_a_build_say_what_they_cannot_reach(make_sandbox):
    """As on a machine without the internet: hello-web's upstream and its
    base image's registry cannot be reached."""
    box = make_sandbox()
    box.upstreams["hello-web"].bare.rename(box.upstreams["hello-web"].bare.with_name("gone.git"))
    nowhere = f"127.0.0.1:{free_port()}/library/busybox:latest"
    box.commit_change("services.yml", box.services_yml().replace(
        f'BASE_IMAGE: "{box.env_base}"', f'BASE_IMAGE: "{nowhere}"', 1))
    box.fresh_job()

    listing = box.doit("list", "--status", "--all")
    web = [line for line in listing.stderr.splitlines() if line.startswith("hello-web: ")]
    assert len(web) == 1 and web[0].startswith("hello-web: cannot decide what to do: ")
    assert f"base image {nowhere} cannot be looked up: registry unreachable" in web[0]
    assert (f"upstream {box.upstreams['hello-web'].url} (branch main) cannot be asked for its commit: "
            "fatal: ") in web[0]
    assert "check the network, the URLs in services.yml and the credentials" in web[0]
    assert "hello-cli: to publish: never published" in listing.stderr

    build = box.doit("build:hello-web", check=False)

    assert build.returncode != 0
    output = build.stdout + build.stderr
    assert output.count("cannot be looked up") == 2      # said when it failed, and in the summary
    assert "FAILED fetch-upstream:hello-web: cannot decide what to do: base image" in output
    assert "hello-cli" not in output                     # only what build:hello-web needs was looked up
    assert "UnmetDependency" not in output and "<stdout>:\n\n" not in output
    assert ".  build:hello-web:arm64" not in output and "-- build:hello-web:arm64" in output
    assert "hello-web  -             failed" in output and "services: 1 failed;" in output


def test_docker_hubs_rate_limit_is_named_and_decides_nothing(make_sandbox, hub, base, client):
    """Docker Hub answers 429 (its RateLimit headers, as it sends them) to
    the base image lookup: no service is taken for up to date, nor for one
    whose base changed; nothing is built, moved or recorded."""
    limited = {"on": False}

    def rate_limit(method, path):
        if limited["on"] and "/manifests/" in path:
            return 429, {"RateLimit-Limit": "100;w=21600", "RateLimit-Remaining": "0;w=21600"}
        return None

    with FaultProxy(hub.host, fault=rate_limit) as proxy:
        through_proxy = base.replace(hub.host, proxy.host)
        box = make_sandbox(build_args={"BASE_IMAGE": through_proxy})
        box.doit()
        box.take_builds()
        records, latest = box.records(), client.manifest(f"{box.prefix}/hello-web", "latest").digest
        limited["on"] = True
        box.fresh_job()

        result = box.doit(check=False)

    assert result.returncode != 0
    assert box.take_builds() == [] and box.records() == records
    assert client.manifest(f"{box.prefix}/hello-web", "latest").digest == latest
    said = " ".join(result.stderr.split())
    assert (f"base image {through_proxy} cannot be looked up: cannot read {through_proxy.rsplit(':', 1)[0]}:latest: "
            f"{proxy.host} answers 429, too many requests (its pull limit: 100 per 6 h, 0 left). Docker Hub limits "
            "anonymous pulls per address") in said
    assert "DOCKER_AUTH_CONFIG" in said and "up to date" not in result.stdout and "to publish" not in said


def test_deleted_branch_fails_with_the_ref_named(sandbox):
    git("--git-dir", str(sandbox.upstreams["hello-cli"].bare), "branch", "-m", "main", "renamed")

    result = sandbox.doit(check=False)

    assert result.returncode != 0
    assert "FAILED fetch-upstream:hello-cli: cannot decide what to do: upstream" in result.stderr
    assert "branch 'main' not found upstream" in result.stderr
    assert set(sandbox.records()) == {"hello-web"}


def test_a_run_whose_remote_moved_records_on_top_without_reverting(sandbox):
    sandbox.doit()
    other = sandbox.directory / "other-pipeline"
    git("clone", "--quiet", str(sandbox.repo.remote), str(other))   # a second pipeline, same start
    sandbox.upstreams["hello-cli"].commit({"message.txt": "cli 2\n"}, "cli 2")
    sandbox.fresh_job()
    sandbox.doit()                                                    # the first records hello-cli
    cli_record = sandbox.records()["hello-cli"]
    web_commit = sandbox.upstreams["hello-web"].commit({"message.txt": "web 2\n"}, "web 2")

    sandbox.checkout = other                                          # the second, from its old clone
    second = sandbox.doit()

    assert "moved to" in second.stdout
    records = sandbox.records()
    assert records == {"hello-cli": cli_record, "hello-web": web_commit}
    log = sandbox.repo.remote_log()
    assert len(log) == 4 and all("[skip ci]" in subject for subject in log[:3])
    # The second pipeline's checkout caught up with what it pushed.
    assert git("rev-parse", "HEAD", cwd=other) == git("--git-dir", str(sandbox.repo.remote), "rev-parse", "main")


def assert_no_secret_anywhere(box, result):
    """Neither the git token nor the registry password the run was given,
    nor the Basic header made of it, in the output, the doit state, the
    report, the checkout's git config or the builder's command lines."""
    user = box.env.get("PRIVACY_OCI_REGISTRY_USER") or box.env["CI_REGISTRY_USER"]
    password = box.env.get("PRIVACY_OCI_REGISTRY_PASSWORD") or box.env["CI_REGISTRY_PASSWORD"]
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    places = {"stdout": result.stdout, "stderr": result.stderr}
    for path in [*Path(box.checkout, ".work").rglob("*"), box.checkout / ".git" / "config", box.builder_log]:
        if path.is_file():
            places[str(path)] = path.read_text(errors="replace")
    for where, text in places.items():
        for secret in (TOKEN, password, encoded):
            assert secret not in text, f"{secret} found in {where}"
    assert (box.checkout / ".work" / "report.json").exists()


@pytest.fixture
def secrets(sandbox):
    """A world with a git token; its registry password is the job token,
    which the registry really asks for."""
    sandbox.env.update(PRIVACY_OCI_GIT_TOKEN=TOKEN)
    return sandbox


def test_secrets_stay_hidden_when_the_push_is_refused(secrets, client):
    """A remote that may be read but refuses the push: the images are
    published all the same, nothing is recorded, and the token stays hidden."""
    server = RefusingGitServer()
    try:
        git("remote", "add", "locked", str(secrets.repo.remote), cwd=secrets.checkout)
        git("remote", "set-url", "--push", "locked", server.url, cwd=secrets.checkout)
        secrets.env["PRIVACY_OCI_GIT_REMOTE"] = "locked"
        result = secrets.doit(check=False)
    finally:
        server.close()
    assert result.returncode != 0
    assert "commit-hash: push to locked main failed" in result.stdout + result.stderr
    assert server.credentials and server.credentials[-1] == f"oauth2:{TOKEN}"   # the token was used
    assert secrets.records() == {}
    assert client.manifest(f"{secrets.prefix}/hello-web", "latest") is not None
    assert_no_secret_anywhere(secrets, result)


def test_secrets_stay_hidden_when_the_remote_is_unreachable(secrets):
    git("remote", "add", "nowhere", f"http://127.0.0.1:{free_port()}/catalogue.git", cwd=secrets.checkout)
    secrets.env["PRIVACY_OCI_GIT_REMOTE"] = "nowhere"
    result = secrets.doit(check=False)
    assert result.returncode != 0
    for service in ("hello-web", "hello-cli"):   # latest is not moved without knowing what was recorded
        assert f"FAILED push-manifest:{service}: latest not moved: what other runs recorded cannot be read" \
            in result.stderr
    assert_no_secret_anywhere(secrets, result)


def test_secrets_stay_hidden_when_the_registry_refuses_the_credentials(make_sandbox, registry):
    def refuse(method, path):
        return 401, {"WWW-Authenticate": 'Basic realm="registry"'}

    with FaultProxy(registry.host, fault=refuse) as proxy:
        box = make_sandbox(registry_host=proxy.host)
        box.env.update(PRIVACY_OCI_GIT_TOKEN=TOKEN, PRIVACY_OCI_REGISTRY_USER=USER,
                       PRIVACY_OCI_REGISTRY_PASSWORD=PASSWORD)
        result = box.doit(check=False)
        sent = list(proxy.authorizations)
    assert result.returncode != 0
    assert "HTTP 401" in result.stderr
    assert any(USER in base64.b64decode(a.split()[1]).decode() for a in sent)  # the password was sent
    assert_no_secret_anywhere(box, result)


def test_secrets_stay_hidden_when_the_registry_is_down(make_sandbox):
    box = make_sandbox(registry_host=f"127.0.0.1:{free_port()}")
    box.env.update(PRIVACY_OCI_GIT_TOKEN=TOKEN, PRIVACY_OCI_REGISTRY_USER=USER,
                   PRIVACY_OCI_REGISTRY_PASSWORD=PASSWORD)
    result = box.doit(check=False)
    assert result.returncode != 0
    assert "registry unreachable" in result.stderr
    assert_no_secret_anywhere(box, result)

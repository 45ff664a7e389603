"""GitLab CI, rehearsed with the target's habits: the pipeline files validate
against GitLab's schema; a scheduled pipeline runs under gitlab-ci-local,
each job with only its image's tools, in a checkout the way gitlab-runner
configures it (its git credentials pointed at the job token), against a
GitLab stand-in (token-auth registry, git over smart HTTP that refuses the
job token a push), with the base image on a Docker Hub stand-in; the child
pipeline is run by gitlab-ci-local itself, which, like GitLab, does not pass
the schedule's variables on to it."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from sandbox import CI_PREPARE_REUSED
from sandbox.ci_images import image_dir_name
from sandbox.config_repo import PROJECT_ROOT
from sandbox.demo import DEB_CACHE
from sandbox.docker_hub import DockerHub
from sandbox.flaky_server import FLAKY_DOCKERFILE, FlakyPayloads
from sandbox.git_http import passwords
from sandbox.gitlab_project import make_project
from sandbox.readback import index_platforms
from tasks import site_memory

ARM64_RUNNER = "saas-linux-small-arm64"
RUNNER_TAGS = f"runner_tags:\n  linux/arm64: [{ARM64_RUNNER}]\n"
LIGHT, BUILDAH = image_dir_name("python:3.11-bookworm"), image_dir_name("quay.io/buildah/stable:v1.37")
NO_OP = image_dir_name("alpine:3.20")


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", str(path)],
                          capture_output=True, text=True)


@pytest.fixture(scope="module", autouse=True)
def tools():
    for tool in ("check-jsonschema", "gitlab-ci-local", "rsync"):
        assert shutil.which(tool), f"{tool} is missing: run scripts/bootstrap"


def test_the_pipeline_files_validate_against_gitlabs_schema():
    for path in (PROJECT_ROOT / ".gitlab-ci.yml", *(PROJECT_ROOT / ".gitlab" / "ci").glob("*.yml")):
        result = validate(path)
        assert result.returncode == 0, result.stdout + result.stderr


def test_a_schema_violation_is_caught(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text((PROJECT_ROOT / ".gitlab-ci.yml").read_text().replace("strategy: depend", "strategy: sometimes"))
    assert validate(broken).returncode != 0


def test_the_trigger_forwards_the_schedules_variables_and_build_jobs_fit_an_emulated_build():
    pipeline = YAML(typ="safe").load((PROJECT_ROOT / ".gitlab-ci.yml").read_text())
    assert pipeline["publish"]["trigger"]["forward"] == {"pipeline_variables": True}
    jobs = YAML(typ="safe").load((PROJECT_ROOT / ".gitlab" / "ci" / "jobs.yml").read_text())
    assert jobs[".privacy-oci-build-buildx"]["services"] == [{"name": "docker:27-dind", "command": ["--mtu=1360"]}]
    for builder in ("buildx", "buildah"):
        assert jobs[f".privacy-oci-build-{builder}"]["timeout"] == "3h"
    assert "services" not in jobs[".privacy-oci"] and jobs[".privacy-oci"]["image"].startswith("python:")
    # The light jobs keep their Python environment in the cache, the builder
    # jobs (another image's Python, maybe on another architecture) not.
    doit_state = {"key": "privacy-oci-doit-state", "paths": [".doit-cache/"]}
    assert jobs[".privacy-oci"]["cache"] == [
        doit_state, {"key": {"files": ["requirements/ci.txt"], "prefix": "privacy-oci-venv"}, "paths": [".venv/"]}]
    for builder in ("buildx", "buildah"):
        assert jobs[f".privacy-oci-build-{builder}"]["cache"] == [doit_state]


def assert_pushed_with(project, tokens: list[str]) -> None:
    """The record's pushes went out with ``tokens``, in order, whatever the
    runner set up for git; reads went with the job's own credentials, never
    with a token meant for pushing."""
    assert passwords(project.gitlab.git_credentials, "git-receive-pack") == tokens
    assert not any(c.password in tokens and c.service != "git-receive-pack" for c in project.gitlab.git_credentials)


def said_in(result, text: str) -> list[str]:
    """The jobs whose log lines in gitlab-ci-local's output say ``text``, by name."""
    return sorted({line.split(" > ", 1)[0].split("->")[-1].strip() for line in result.stdout.splitlines()
                   if " > " in line and line.endswith(text)})


@pytest.fixture
def project(tmp_path, base):
    """The runner's job token in rewritten URLs (FF_GIT_URLS_WITHOUT_TOKENS
    off, its default); ``one_project`` below has it in a credential helper."""
    made = make_project(tmp_path, base, urls_without_tokens=False)
    yield made
    made.gitlab.close()


@pytest.mark.long
def test_a_scheduled_tick_publishes_through_light_jobs_and_builds_only_in_builder_jobs(project, hub):
    hub_before = len(hub.tokens.credentials)

    first = project.schedule()

    started = project.started_since(0)
    assert started[0] == ("plan", LIGHT)
    builds = [job for job, image in started if job.startswith("build:")]
    assert sorted(builds) == ["build:hello-cli:amd64", "build:hello-web:amd64", "build:hello-web:arm64"]
    assert all(image == BUILDAH for job, image in started if job.startswith("build:"))
    assert all(image == LIGHT for job, image in started if not job.startswith("build:"))
    assert {"push-manifest:hello-web", "push-manifest:hello-cli", "commit-hash"} <= {job for job, _ in started}
    # The status site comes out last, for GitLab Pages, with each build
    # job's start check (their reports are artifacts of the earlier stages).
    assert started[-1] == ("pages", LIGHT)
    site = project.job.path / ".gitlab-ci-local" / "artifacts" / "pages" / "public"
    status = json.loads((site / "status.json").read_text())
    assert [(s["name"], s["state"]) for s in status["services"]] == [("hello-web", "current"), ("hello-cli", "current")]
    assert all(p["check"]["what"].endswith(" s") for s in status["services"] for p in s["platforms"])
    assert "PASS  publish" in first.stdout
    client = project.client()
    assert index_platforms(client, f"{project.prefix}/hello-web") == {"amd64", "arm64"}
    assert set(project.records()) == {"hello-web", "hello-cli"}
    log = project.repo.remote_log()
    assert len(log) == 2 and "[skip ci]" in log[0]
    assert project.repo.push_options() == ["ci.skip"]
    assert_pushed_with(project, [project.gitlab.project_token])
    assert hub.tokens.credentials[hub_before:] == []
    # The push token, scoped to the record's environment, reached the
    # record job alone: not plan, the builds, the index jobs or pages.
    assert project.images.jobs_given("PRIVACY_OCI_GIT_TOKEN") == ["commit-hash"]

    # Each light job after the first took the Python environment from the
    # runner's cache, which outlives the pipeline; the builder jobs made theirs.
    assert said_in(first, CI_PREPARE_REUSED) == [
        "commit-hash", "pages", "push-manifest:hello-cli", "push-manifest:hello-web"]

    # A new version of the site (here: of what it is made from) brings the
    # pages job alone, once; then nothing is pending.
    site_memory.remember(client, project.prefix, "another site")
    before = len(project.images.jobs_started())
    calls = len(project.images.builder_calls())
    site = project.schedule()
    project.schedule()
    assert project.started_since(before) == [("plan", LIGHT), ("pages", LIGHT),
                                             ("plan", LIGHT), ("nothing-to-do", NO_OP)]
    assert len(project.images.builder_calls()) == calls
    assert len(project.repo.remote_log()) == 2
    assert said_in(site, CI_PREPARE_REUSED) == ["pages", "plan"]


@pytest.fixture
def one_project(tmp_path, base):
    """The runner's job token in a credential helper (FF_GIT_URLS_WITHOUT_TOKENS on)."""
    made = make_project(tmp_path, base, urls_without_tokens=True)
    yield made
    made.gitlab.close()


@pytest.mark.long
def test_a_published_but_unrecorded_service_gets_a_commit_job(one_project):
    """After a run whose record failed: only the record is pending.
    Failed with an expired token, then with one whose role may not push:
    each time the message names the token and what it lacks.

    This project allows pipeline variables, and its schedule chooses the
    builder: gitlab-ci-local, as GitLab without ``forward``, gives the
    child pipeline none of them, so the plan writes its settings into it."""
    one_project.pipeline_variables = True
    del one_project.project_variables["PRIVACY_OCI_BUILDER"]
    schedule = {"PRIVACY_OCI_BUILDER": "buildah"}
    one_project.project_variables["PRIVACY_OCI_GIT_TOKEN"] = "glpat-expired"
    failed = one_project.schedule(variables=schedule, check=False)
    assert failed.failed == ["commit-hash"]
    child = YAML(typ="safe").load((one_project.job.path / "report" / "child-pipeline.yml").read_text())
    assert child["variables"]["PRIVACY_OCI_BUILDER"] == "buildah"
    assert "PRIVACY_OCI_GIT_TOKEN" not in child["variables"]
    assert child["build:hello-web:arm64"]["extends"] == ".privacy-oci-build-buildah"
    assert [call for call in one_project.images.builder_calls() if call[0] == "docker"] == []
    assert "the token in PRIVACY_OCI_GIT_TOKEN" in failed.stdout and "expired, revoked or wrong" in failed.stdout
    assert one_project.records() == {}
    before = len(one_project.images.jobs_started())
    calls = len(one_project.images.builder_calls())

    one_project.project_variables["PRIVACY_OCI_GIT_TOKEN"] = one_project.gitlab.reporter_token
    forbidden = one_project.schedule(variables=schedule, check=False)
    assert forbidden.failed == ["commit-hash"]
    assert "the token in PRIVACY_OCI_GIT_TOKEN" in forbidden.stdout and "write_repository" in forbidden.stdout
    assert one_project.gitlab.reporter_token not in forbidden.stdout + forbidden.stderr
    assert one_project.records() == {}

    # A Developer's token: main is protected, GitLab's pre-receive hook says no.
    one_project.project_variables["PRIVACY_OCI_GIT_TOKEN"] = one_project.gitlab.developer_token
    protected = one_project.schedule(variables=schedule, check=False)
    assert protected.failed == ["commit-hash"]
    said = " ".join(protected.stdout.split())
    assert ('GitLab refused it: "GitLab: You are not allowed to push code to protected branches on this '
            'project."') in said
    assert "the token in PRIVACY_OCI_GIT_TOKEN" in said and "main is a protected branch" in said
    assert "the Maintainer role" in said and "The images are published" in said
    assert one_project.gitlab.developer_token not in protected.stdout + protected.stderr
    assert one_project.records() == {}

    one_project.project_variables["PRIVACY_OCI_GIT_TOKEN"] = one_project.gitlab.project_token
    one_project.schedule(variables=schedule)

    assert one_project.started_since(before) == [("plan", LIGHT), ("commit-hash", LIGHT), ("pages", LIGHT)] * 3
    assert len(one_project.images.builder_calls()) == calls
    assert set(one_project.records()) == {"hello-web", "hello-cli"}
    gitlab = one_project.gitlab
    assert_pushed_with(one_project, ["glpat-expired", gitlab.reporter_token, gitlab.developer_token,
                                     gitlab.project_token])


def test_one_job_mode_publishes_in_a_single_builder_job(one_project):
    """Chosen by a project variable: no pipeline variable is needed."""
    one_project.project_variables["PRIVACY_OCI_MODE"] = "single"
    one_project.schedule()
    assert one_project.started_since(0) == [("publish-in-one-job-buildah", BUILDAH)]
    assert one_project.images.jobs_given("PRIVACY_OCI_GIT_TOKEN") == ["publish-in-one-job-buildah"]
    assert set(one_project.records()) == {"hello-web", "hello-cli"}


@pytest.mark.long
def test_a_failed_arm64_is_built_again_alone_on_its_runner(tmp_path, base):
    payloads = FlakyPayloads(failures=1)
    project = make_project(tmp_path, base, dockerfile=FLAKY_DOCKERFILE, build_args={"PAYLOAD_URL": payloads.url},
                           extra_yaml=RUNNER_TAGS)
    try:
        # arm64 failed once; its index job says it is held back, without
        # building; the rest is done, and what was published is recorded
        # all the same.
        first = project.schedule(check=False)
        assert first.failed == ["build:hello-web:arm64"]
        assert "held back   arm64 held back after 1 failed build(s), next try after" in first.stdout
        assert [job for job, _ in project.images.jobs_started()][-2:] == ["commit-hash", "pages"]
        assert set(project.records()) == {"hello-cli"}
        child = YAML(typ="safe").load((project.job.path / "report" / "child-pipeline.yml").read_text())
        assert child["build:hello-web:arm64"]["tags"] == [ARM64_RUNNER]
        before = len(project.images.jobs_started())

        # A tick soon after, nothing changed: held back, as cheap as a tick with nothing to do.
        project.hours_later(0.25)
        project.schedule()
        assert [job for job, _ in project.started_since(before)] == ["plan", "nothing-to-do"]
        before = len(project.images.jobs_started())

        # Run by hand (CI/CD -> Pipelines -> Run pipeline): tried again now.
        project.schedule(source="web")

        again = project.started_since(before)
        assert [job for job, _ in again] == ["plan", "build:hello-web:arm64", "push-manifest:hello-web",
                                            "commit-hash", "pages"]
        assert index_platforms(project.client(), f"{project.prefix}/hello-web") == {"amd64", "arm64"}
        assert set(project.records()) == {"hello-web", "hello-cli"}
    finally:
        payloads.close()
        project.gitlab.close()


@pytest.mark.real
def test_a_tick_that_cannot_gather_its_facts_starts_no_heavy_job(tmp_path):
    """Docker Hub out of reach for a moment: plan says why in a light job
    that fails, and starts no builder job."""
    with DockerHub(tmp_path / "hub", address="127.0.0.4", auth_address="127.0.0.5") as hub:
        project = make_project(tmp_path / "project", hub.publish_base(DEB_CACHE))
        try:
            hub.registry.stop()
            result = project.schedule(check=False)

            assert [job for job, _ in project.started_since(0)] == ["plan", "cannot-plan"]
            assert result.failed == ["cannot-plan"] and project.images.builder_calls() == []
            for name in ("hello-web", "hello-cli"):
                assert f"{name}: not planned, left to the next tick: cannot decide what to do: base image" \
                       in result.stdout
                # the failing job says it too, its text as it was
                assert f"privacy-oci: {name}: not planned: cannot decide what to do: base image" in result.stdout
        finally:
            project.gitlab.close()

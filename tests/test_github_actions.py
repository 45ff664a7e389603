"""GitHub Actions, rehearsed with the target's habits: the workflow
validates against GitHub's schema and zizmor finds nothing above low; its
shape (least privilege per job, actions pinned by commit, the matrix from
the plan's outputs, nothing after the plan when nothing is pending) is
checked as written; and a tick runs under act, every job on this machine
(``-P <label>=-self-hosted``), actions/checkout replaced by the stand-in in
sandbox/actions/, against a GitHub stand-in (a GHCR-shaped registry whose
token realm grants the job's GITHUB_TOKEN its owner's namespace only, git
over smart HTTP that takes the job's token), with the base image on a
Docker Hub stand-in (see sandbox/github_project.py)."""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess

import jwt
import pytest
import requests
from ruamel.yaml import YAML

from sandbox import CI_PREPARE_REUSED
from sandbox.config_repo import PROJECT_ROOT
from sandbox.demo import DEB_CACHE
from sandbox.docker_hub import DockerHub
from sandbox.flaky_server import FLAKY_DOCKERFILE, FlakyPayloads
from sandbox.git_http import passwords
from sandbox.github import GitHub
from sandbox.github_project import ARM64_RUNNER, RUNNER_TAGS, make_project
from sandbox.readback import index_platforms
from tasks.engines import Build, Work
from tasks.engines.github import outputs

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "privacy-oci.yml"
# A job's log line when scripts/ci-prepare took the environment from the cache.
# (act names a job <workflow>/<job's name>, -<n> after a matrix job's.)
REUSED = rf"^\[privacy-oci/([^\]]+?)(?:-\d)?\] {re.escape(CI_PREPARE_REUSED)}$"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def validate(path) -> subprocess.CompletedProcess:
    return subprocess.run(["check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True)


def workflow() -> dict:
    return YAML(typ="safe").load(WORKFLOW.read_text())


def test_the_workflow_validates_against_githubs_schema():
    result = validate(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_schema_violation_is_caught(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest", 1))
    assert validate(broken).returncode != 0


def test_zizmor_finds_nothing_above_low():
    assert shutil.which("zizmor"), "zizmor is missing: run scripts/bootstrap"
    result = subprocess.run(["zizmor", "--offline", "--no-progress", "--min-severity", "medium", "--format", "plain",
                             str(WORKFLOW)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_runs_on_a_schedule_and_by_hand_only():
    document = workflow()
    # ruamel's safe loader reads the key `on` as it is written
    assert set(document["on"]) == {"schedule", "workflow_dispatch"}


def test_every_job_asks_for_its_own_permissions_and_no_more():
    document = workflow()
    assert document["permissions"] == {}
    jobs = document["jobs"]
    assert all("permissions" in job for job in jobs.values())
    writes = {name: sorted(scope for scope, level in job["permissions"].items() if level == "write")
              for name, job in jobs.items()}
    assert writes == {"plan": [], "cannot-plan": [], "build": ["packages"], "index": ["packages"],
                      "record": ["contents"], "pages": ["id-token", "packages", "pages"]}


def test_third_party_actions_are_pinned_by_commit_and_keep_no_credentials():
    for name, job in workflow()["jobs"].items():
        for step in job["steps"]:
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{name}: {step['uses']} is not pinned by a full commit SHA"
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_the_token_goes_only_to_the_steps_that_run_doit():
    for name, job in workflow()["jobs"].items():
        for step in job["steps"]:
            token = step.get("env", {}).get("GITHUB_TOKEN")
            if token:
                assert ".venv/bin/doit" in step["run"], name


def test_the_plan_feeds_a_matrix_and_nothing_pending_runs_the_plan_alone():
    jobs = workflow()["jobs"]
    build, index = jobs["build"], jobs["index"]
    assert build["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.plan.outputs.builds) }}"
    assert build["runs-on"] == "${{ matrix.runner }}"
    assert build["strategy"]["fail-fast"] is False
    assert index["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.plan.outputs.indexes) }}"
    # every job after the plan is conditional on what the plan found
    for name, job in jobs.items():
        if name != "plan":
            assert "needs.plan.outputs." in job["if"], name
    assert set(jobs["plan"]["outputs"]) == {"builds", "indexes", "record", "site", "not-planned", "venv"}


def test_the_plan_saves_the_environment_the_other_light_jobs_restore():
    """So do the builds, each for its kind of runner (an arm64 one's first)."""
    jobs = workflow()["jobs"]

    def cache_steps(job: str) -> dict[str, dict]:
        return {step["uses"].split("@")[0]: step for step in jobs[job]["steps"]
                if step.get("uses", "").startswith("actions/cache")}

    assert [job for job in jobs if "actions/cache/save" in cache_steps(job)] == ["plan", "build"]
    for job in ("plan", "build"):
        steps = cache_steps(job)
        assert steps["actions/cache/restore"]["with"]["key"] == \
            "privacy-oci-venv-${{ runner.os }}-${{ runner.arch }}-${{ hashFiles('requirements/ci.txt') }}"
        assert steps["actions/cache/save"]["with"]["key"] == "${{ steps.venv.outputs.cache-primary-key }}"
        assert steps["actions/cache/save"]["if"] == "steps.venv.outputs.cache-hit != 'true'"
    assert jobs["plan"]["outputs"]["venv"] == "${{ steps.venv.outputs.cache-primary-key }}"
    for job in ("index", "record", "pages"):
        assert cache_steps(job)["actions/cache/restore"]["with"] == {"path": ".venv",
                                                                     "key": "${{ needs.plan.outputs.venv }}"}


def test_one_record_at_a_time():
    record = workflow()["jobs"]["record"]
    assert record["concurrency"] == {"group": "privacy-oci-record", "cancel-in-progress": False}
    assert record["permissions"]["contents"] == "write"
    assert "secrets.PRIVACY_OCI_GIT_TOKEN" in record["steps"][-1]["env"]["PRIVACY_OCI_GIT_TOKEN"]


def test_the_push_token_reaches_the_record_step_alone():
    document = workflow()
    given = [(name, step.get("name", step.get("run", step.get("uses"))))
             for name, job in document["jobs"].items() for step in job["steps"]
             if "secrets.PRIVACY_OCI_GIT_TOKEN" in str(step) or "secrets.PRIVACY_OCI_GIT_TOKEN" in str(job.get("env"))]
    assert [name for name, _ in given] == ["record"], given
    assert "secrets.PRIVACY_OCI_GIT_TOKEN" not in str(document.get("env"))


@pytest.mark.parametrize("value", ["${{ matrix.task }}", "${{ matrix.tasks }}", "${{ needs.plan.outputs.not-planned }}"])
def test_values_from_the_plan_reach_scripts_as_variables_never_as_script_text(value):
    for job in workflow()["jobs"].values():
        for step in job["steps"]:
            assert value not in step.get("run", "")


def test_zizmor_catches_a_checkout_that_keeps_its_credentials(tmp_path):
    kept = tmp_path / "kept.yml"
    kept.write_text(WORKFLOW.read_text().replace("        with:\n          persist-credentials: false\n", ""))
    result = subprocess.run(["zizmor", "--offline", "--no-progress", "--min-severity", "medium", str(kept)],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "artipacked" in result.stdout + result.stderr


# The rehearsal under act.

@pytest.fixture
def project(tmp_path, base):
    made = make_project(tmp_path, base)
    yield made
    made.github.close()


@pytest.mark.long
def test_a_scheduled_tick_publishes_to_the_owners_namespace_and_records_with_the_jobs_token(project, hub):
    hub_before = len(hub.tokens.credentials)

    first = project.tick()

    assert first.jobs[0] == "plan"
    assert sorted(job for job in first.jobs if job.startswith("build:")) == \
        ["build:hello-cli:amd64", "build:hello-web:amd64", "build:hello-web:arm64"]
    assert {"index:hello-web", "index:hello-cli", "record", "pages"} <= set(first.jobs)
    client = project.client()
    assert index_platforms(client, f"{project.prefix}/hello-web") == {"amd64", "arm64"}
    assert project.prefix.endswith("/privacy-fronts")
    assert set(project.records()) == {"hello-web", "hello-cli"}
    log = project.repo.remote_log()
    assert len(log) == 2 and "[skip ci]" in log[0]
    # The job's token went to the stand-in's registry and git remote only.
    assert hub.tokens.credentials[hub_before:] == []
    assert passwords(project.github.git_credentials, "git-receive-pack") == [project.github.job_token]
    # The site, deployed by the pages job.
    status = json.loads((project.directory / "pages" / "status.json").read_text())
    assert [(s["name"], s["state"]) for s in status["services"]] == [("hello-web", "current"), ("hello-cli", "current")]
    # with each build job's start check, from its report (an artifact of the run)
    assert all(p["check"]["what"].endswith(" s") for s in status["services"] for p in s["platforms"])

    assert first.runners == {"build:hello-web:amd64": "ubuntu-latest", "build:hello-web:arm64": "ubuntu-latest",
                             "build:hello-cli:amd64": "ubuntu-latest"}
    # Each job checked out main's tip with the job's token, as actions/checkout does.
    tips = re.findall(r"\] checkout \(stand-in\): ([0-9a-f]{40}) of .* on main$", first.log, re.MULTILINE)
    assert len(tips) == len(first.jobs) and len(set(tips)) == 1
    assert passwords(project.github.git_credentials, "git-upload-pack") == [project.github.job_token]
    calls = len(project.builds())
    assert calls == 3
    # Each job after the plan took the Python environment the plan saved in
    # GitHub's cache, which outlives the run (all runners here are one machine).
    assert sorted(re.findall(REUSED, first.log, re.MULTILINE)) == [
        "build:hello-cli:amd64", "build:hello-web:amd64", "build:hello-web:arm64", "index hello-cli",
        "index hello-web", "pages", "record"]

    # Nothing pending: the tick is the plan job alone.
    again = project.tick()
    assert again.jobs == ["plan"]
    assert re.findall(REUSED, again.log, re.MULTILINE) == ["plan"]
    assert "Nothing is pending" in again.log or "nothing is pending" in again.log
    assert len(project.builds()) == calls and len(project.repo.remote_log()) == 2

    # One platform pending: a new upstream commit of hello-cli (amd64 only)
    # brings its build, its index, the record and the site; nothing else.
    second = project.upstreams["hello-cli"].commit({"message.txt": "hello again\n"}, "second")
    one = project.tick()
    assert one.jobs == ["plan", "build:hello-cli:amd64", "index:hello-cli", "record", "pages"]
    assert project.builds()[calls:] == [("hello-cli", "linux/amd64")]
    assert project.records()["hello-cli"] == second


def test_the_checkout_stand_in_behaves_as_actions_checkout(project):
    """A shallow fetch of the event's commit alone, a local branch at it,
    the token in an extraheader for the server that stays unless
    persist-credentials is false (what the workflow asks)."""
    here = project.repo.clone(project.directory / "probe")
    workflow = here / ".github" / "workflows" / "privacy-oci.yml"
    checkout = next(line.split("uses: ", 1)[1] for line in workflow.read_text().splitlines()
                    if "uses: actions/checkout@" in line).split()[0]
    workflow.write_text(PROBE.format(checkout=checkout))
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qam", "probe"],
                   cwd=here, check=True)
    subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=here, check=True)
    tick = project.tick()
    said = dict(line.split("] ", 1)[1].split("=", 1) for line in tick.log.splitlines() if "] probe-" in line)
    assert said["probe-shallow"] == "true" and said["probe-commits"] == "1"
    assert said["probe-branch"] == "refs/heads/main"
    expected = base64.b64encode(f"x-access-token:{project.github.job_token}".encode()).decode()
    assert said["probe-kept"] == f"http.{project.github.server_url}/.extraheader AUTHORIZATION: basic {expected}"
    assert said["probe-dropped"] == "none"


PROBE = """\
on: [schedule]
permissions: {{}}
jobs:
  plan:
    runs-on: ubuntu-latest
    steps:
      - uses: {checkout}
      - run: |
          echo "probe-shallow=$(git rev-parse --is-shallow-repository)"
          echo "probe-commits=$(git rev-list --count HEAD)"
          echo "probe-branch=$(git symbolic-ref HEAD)"
          echo "probe-kept=$(git config --get-regexp 'http\\..*\\.extraheader')"
      - uses: {checkout}
        with:
          persist-credentials: false
      - run: echo "probe-dropped=$(git config --get-regexp 'http\\..*\\.extraheader' || echo none)"
"""


@pytest.mark.long
def test_a_failed_arm64_is_built_again_alone_on_its_runner(tmp_path, base):
    payloads = FlakyPayloads(failures=1)
    project = make_project(tmp_path, base, dockerfile=FLAKY_DOCKERFILE, build_args={"PAYLOAD_URL": payloads.url},
                           extra_yaml=RUNNER_TAGS)
    try:
        # arm64 failed once, on its native runner label; the index job says
        # it is held back, without building; what was published is recorded.
        first = project.tick(check=False)
        assert first.failed == ["build:hello-web:arm64"]
        assert first.runners["build:hello-web:arm64"] == ARM64_RUNNER
        assert first.runners["build:hello-web:amd64"] == "ubuntu-latest"
        assert "held back   arm64 held back after 1 failed build(s), next try after" in first.log
        assert first.jobs[-2:] == ["record", "pages"]
        assert set(project.records()) == {"hello-cli"}

        # A tick soon after, nothing changed: held back, the plan job alone.
        project.hours_later(0.25)
        assert project.tick().jobs == ["plan"]

        # Run by hand (Actions -> Run workflow): tried again now.
        again = project.tick("workflow_dispatch")
        assert again.jobs == ["plan", "build:hello-web:arm64", "index:hello-web", "record", "pages"]
        assert index_platforms(project.client(), f"{project.prefix}/hello-web") == {"amd64", "arm64"}
        assert set(project.records()) == {"hello-web", "hello-cli"}
    finally:
        payloads.close()
        project.github.close()


@pytest.mark.long
def test_a_published_but_unrecorded_service_gets_a_record_job(project):
    """main is protected: GITHUB_TOKEN may not push past the rule; a token
    that may only read is refused; a user's token the rule lets push
    records what was published, and nothing is built again."""
    project.github.protected = True
    protected = project.tick(check=False)
    assert protected.failed == ["record"]
    said = " ".join(protected.log.split())
    assert 'GitHub refused it: "GH006: Protected branch update failed for refs/heads/main.' in said
    assert "the token in GITHUB_TOKEN" in said and "PRIVACY_OCI_GIT_TOKEN" in said
    assert "The images are published" in said
    assert project.records() == {}
    calls = len(project.builds())

    project.secrets["PRIVACY_OCI_GIT_TOKEN"] = project.github.read_only_token
    read_only = project.tick(check=False)
    assert read_only.failed == ["record"]
    assert "Contents: read and write" in read_only.log
    assert project.github.read_only_token not in read_only.stdout + read_only.stderr
    assert project.records() == {}

    project.secrets["PRIVACY_OCI_GIT_TOKEN"] = project.github.user_token
    recorded = project.tick()
    assert [tick.jobs for tick in (read_only, recorded)] == [["plan", "record", "pages"]] * 2
    assert len(project.builds()) == calls
    assert set(project.records()) == {"hello-web", "hello-cli"}
    pushes = [c for c in project.github.git_credentials if c.service == "git-receive-pack"]
    assert pushes[-1].password == project.github.user_token


@pytest.mark.real
def test_the_registrys_realm_grants_the_jobs_token_its_owners_namespace_only(tmp_path):
    with GitHub(tmp_path) as github:
        def access(password: str, repository: str):
            answer = requests.get(github.token_service.realm, auth=("any-user", password), timeout=10,
                                  params={"service": "ghcr.io", "scope": f"repository:{repository}:pull,push"})
            if answer.status_code != 200:
                return answer.status_code
            return jwt.decode(answer.json()["token"], options={"verify_signature": False})["access"]

        assert access(github.job_token, "privacy-fronts/hello-web") == \
            [{"type": "repository", "name": "privacy-fronts/hello-web", "actions": ["pull", "push"]}]
        assert access(github.job_token, "someone-else/hello-web") == []
        assert access(github.user_token, "privacy-fronts/hello-web") == 401
        assert github.prefix == f"{github.registry.host}/privacy-fronts"


def test_the_matrices_read_only_what_the_plan_writes():
    """The workflow's matrix fields are the keys of the plan's outputs
    (tasks.engines.github.outputs), and the plan step's outputs are those fan-out writes."""
    work = Work(builds=(Build("hello-web", "linux/arm64", "build:hello-web:arm64", ("ubuntu-24.04-arm",)),),
                indexes=(("hello-web", ("build:hello-web:arm64",)),), record=True, site=True)
    written = outputs(work)
    jobs = workflow()["jobs"]
    for job, output in (("build", "builds"), ("index", "indexes")):
        used = set(re.findall(r"matrix\.([\w-]+)", json.dumps(jobs[job])))
        assert used <= set(json.loads(written[output])[0]), (job, used)
    assert set(written) == {name for name, value in jobs["plan"]["outputs"].items() if "steps.plan." in value}


@pytest.mark.real
def test_a_tick_that_cannot_gather_its_facts_starts_no_heavy_job(tmp_path):
    """Docker Hub out of reach for a moment: the plan says why, the
    cannot-plan job fails with it, and no build job starts."""
    with DockerHub(tmp_path / "hub", address="127.0.0.4", auth_address="127.0.0.5") as hub:
        project = make_project(tmp_path / "project", hub.publish_base(DEB_CACHE))
        try:
            hub.registry.stop()
            tick = project.tick(check=False)

            assert tick.jobs == ["plan", "cannot-plan"]
            assert tick.failed == ["cannot-plan"] and project.calls() == []
            for name in ("hello-web", "hello-cli"):
                assert f"privacy-oci: {name}: not planned: cannot decide what to do: base image" in tick.log
        finally:
            project.github.close()

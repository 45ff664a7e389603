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

import re
import shutil
import subprocess

import pytest
from ruamel.yaml import YAML

from sandbox.config_repo import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "privacy-oci.yml"
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
    assert set(jobs["plan"]["outputs"]) == {"builds", "indexes", "record", "site", "not-planned"}


def test_one_record_at_a_time():
    record = workflow()["jobs"]["record"]
    assert record["concurrency"] == {"group": "privacy-oci-record", "cancel-in-progress": False}
    assert record["permissions"]["contents"] == "write"
    assert "secrets.PRIVACY_OCI_GIT_TOKEN" in record["steps"][-1]["env"]["PRIVACY_OCI_GIT_TOKEN"]


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

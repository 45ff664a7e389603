"""GitLab CI: the pipeline files validate against GitLab's published schema,
the scheduled pipeline runs end to end under gitlab-ci-local (shell executor)
against the local registry and a bare remote, and ``doit fan-out`` turns the
pending work into a child pipeline whose jobs run too."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from sandbox.config_repo import PROJECT_ROOT

from sandbox.flaky_server import FLAKY_DOCKERFILE, FlakyPayloads

ARM64_RUNNER = "saas-linux-small-arm64"
RUNNER_TAGS = f"runner_tags:\n  linux/arm64: [{ARM64_RUNNER}]\n"


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


def gitlab_ci_local(box, *args) -> subprocess.CompletedProcess:
    """A scheduled pipeline of the checkout, run by gitlab-ci-local in the shell."""
    variables = {"CI_PIPELINE_SOURCE": "schedule", **{
        name: box.env[name] for name in ("PRIVACY_OCI_BUILDER", "PRIVACY_OCI_BUILDAH",
                                         "PRIVACY_OCI_BUILDAH_ROOT", "STORAGE_DRIVER")}}
    command = ["gitlab-ci-local", "--force-shell-executor", "--no-color"]
    for name, value in variables.items():
        command += ["--variable", f"{name}={value}"]
    result = subprocess.run([*command, *args], cwd=box.checkout, env=box.env,
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return result


def test_scheduled_pipeline_publishes_commits_back_and_then_builds_nothing(make_sandbox, client):
    box = make_sandbox(whole_project=True)

    first = gitlab_ci_local(box)

    assert "PASS  publish" in first.stdout
    assert "(tests)" not in first.stdout and "(plan)" not in first.stdout   # tests and fan-out do not run
    assert box.take_builds() == [("hello-cli", "linux/amd64"), ("hello-web", "linux/amd64"),
                                 ("hello-web", "linux/arm64")]
    index = client.manifest(f"{box.prefix}/hello-web", "latest").json()
    assert {m["platform"]["architecture"] for m in index["manifests"]} == {"amd64", "arm64"}
    assert set(box.records()) == {"hello-web", "hello-cli"}
    log = box.repo.remote_log()
    assert len(log) == 2 and "[skip ci]" in log[0]
    assert box.repo.push_options() == ["ci.skip"]
    report = box.checkout / "report" / "report.json"
    assert report.exists() and (box.checkout / "report" / "report.txt").exists()

    box.fresh_job()
    gitlab_ci_local(box)

    assert box.take_builds() == []
    assert len(box.repo.remote_log()) == 2


def fan_out(box) -> dict:
    box.doit("fan-out")
    return YAML(typ="safe").load((box.checkout / ".work" / "child-pipeline.yml").read_text())


def jobs_of(pipeline: dict) -> dict:
    return {name: job for name, job in pipeline.items() if name not in ("include", "stages")}


def test_nothing_pending_gives_a_single_no_op_job(sandbox):
    sandbox.doit()
    child = fan_out(sandbox)
    assert list(jobs_of(child)) == ["nothing-to-do"]
    path = sandbox.checkout / ".work" / "child-pipeline.yml"
    assert validate(path).returncode == 0


def test_child_pipeline_for_one_pending_arm64_build_runs(make_sandbox, client):
    payloads = FlakyPayloads(failures=1)
    try:
        box = make_sandbox(whole_project=True, dockerfile=FLAKY_DOCKERFILE,
                           build_args={"PAYLOAD_URL": payloads.url}, extra_yaml=RUNNER_TAGS)
        assert box.doit(check=False).returncode != 0       # arm64 failed once, the rest is done
        box.fresh_job()
        box.take_builds()

        child = fan_out(box)
        path = box.checkout / ".work" / "child-pipeline.yml"
        assert validate(path).returncode == 0, validate(path).stdout
        jobs = jobs_of(child)
        assert set(jobs) == {"build:hello-web:arm64", "push-manifest:hello-web", "commit-hash"}
        assert jobs["build:hello-web:arm64"]["tags"] == [ARM64_RUNNER]
        assert jobs["build:hello-web:arm64"]["stage"] == "build"
        assert jobs["push-manifest:hello-web"]["needs"] == ["build:hello-web:arm64"]
        assert jobs["commit-hash"]["needs"] == ["push-manifest:hello-web"]
        assert jobs["commit-hash"]["when"] == "always"
        assert child["include"] == [{"local": ".gitlab/ci/templates.yml"}]

        # The child pipeline's jobs, run as GitLab would run them.
        shutil.copy(path, box.checkout / "child-pipeline.yml")
        run = gitlab_ci_local(box, "--file", "child-pipeline.yml")
    finally:
        payloads.close()

    for job in ("build:hello-web:arm64", "push-manifest:hello-web", "commit-hash"):
        assert f"PASS  {job}" in run.stdout
    assert box.take_builds() == [("hello-web", "linux/arm64")]
    index = client.manifest(f"{box.prefix}/hello-web", "latest").json()
    assert {m["platform"]["architecture"] for m in index["manifests"]} == {"amd64", "arm64"}
    assert set(box.records()) == {"hello-web", "hello-cli"}

"""The CI engine seam (tasks.engines): which engine a job is on, and what
each means to the project, from the job's environment alone; and that no
other module asks. (The engines' rehearsals: tests/test_gitlab_ci.py and
tests/test_github_actions.py.)"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from sandbox.config_repo import PROJECT_ROOT
from tasks import engines
from tasks.catalogue import CatalogueError, load
from tasks.decide_stale import plan
from tasks.engines import Build, Engine, Work
from tasks.engines.github import GitHub, outputs
from tasks.engines.gitlab import GitLab
from tasks.fan_out import pending_work
from tasks.registry_auth import load as load_credentials
from tasks.remote import CatalogueRemote
from tasks.settings import Settings, SettingsError

GITHUB = {"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_REPOSITORY_OWNER": "Privacy-Fronts",
          "GITHUB_REPOSITORY": "Privacy-Fronts/privacy-oci", "GITHUB_ACTOR": "maintainer",
          "GITHUB_REF": "refs/heads/main", "GITHUB_REF_NAME": "main", "GITHUB_REF_TYPE": "branch",
          "GITHUB_EVENT_NAME": "schedule", "GITHUB_TOKEN": "ghs_job-token"}
GITLAB = {"GITLAB_CI": "true", "CI": "true", "CI_REGISTRY": "registry.gitlab.example",
          "CI_REGISTRY_IMAGE": "registry.gitlab.example/group/project", "CI_SERVER_HOST": "gitlab.example",
          "CI_REGISTRY_USER": "gitlab-ci-token", "CI_REGISTRY_PASSWORD": "job-token", "CI_COMMIT_BRANCH": "main",
          "CI_PIPELINE_SOURCE": "schedule"}
CATALOGUE = """\
image_prefix: ${CI_REGISTRY_IMAGE}
runner_tags:
  github: {linux/arm64: [ubuntu-24.04-arm]}
services:
  scribe:
    upstream: https://git.example.org/scribe
    branch: main
    platforms: [linux/amd64, linux/arm64]
"""


def catalogue_in(tmp_path: Path, environ: dict[str, str], text: str = CATALOGUE):
    (tmp_path / "services.yml").write_text(text)
    (tmp_path / "Dockerfiles" / "scribe").mkdir(parents=True)
    (tmp_path / "Dockerfiles" / "scribe" / "Dockerfile").write_text("FROM scratch\n")
    return load(tmp_path / "services.yml", environ)


def test_the_engine_is_the_one_whose_job_the_environment_is():
    assert type(engines.select(GITLAB)) is GitLab
    assert type(engines.select(GITHUB)) is GitHub
    assert type(engines.select({"CI": "true"})) is Engine
    # gitlab-ci-local says GITLAB_CI=false: not a GitLab job.
    assert type(engines.select({**GITLAB, "GITLAB_CI": "false"})) is Engine
    assert Settings.from_environ(GITHUB).engine.name == "github"


def test_on_github_images_go_to_ghcr_io_under_the_owner_lower_cased(tmp_path):
    assert catalogue_in(tmp_path, GITHUB).image_prefix == "ghcr.io/privacy-fronts"
    elsewhere = {**GITHUB, "PRIVACY_OCI_GITHUB_REGISTRY": "containers.ghes.example"}
    assert GitHub(elsewhere).prefix_variables()["CI_REGISTRY_IMAGE"] == "containers.ghes.example/privacy-fronts"


def test_an_image_prefix_may_name_only_the_engines_variables(tmp_path):
    text = CATALOGUE.replace("${CI_REGISTRY_IMAGE}", "ghcr.io/${CI_PROJECT_PATH}")
    with pytest.raises(CatalogueError, match=r"\$\{CI_PROJECT_PATH\} may not be used there; an image prefix may "
                                             r"name only \$\{CI_REGISTRY_IMAGE\}, \$\{CI_REGISTRY\}, "
                                             r"\$\{GITHUB_REPOSITORY_OWNER\}, \$\{GITHUB_REPOSITORY\}"):
        catalogue_in(tmp_path, GITHUB, text)


def test_githubs_token_belongs_to_its_registry_only():
    settings = Settings.from_environ(GITHUB)
    credentials = load_credentials(settings, "ghcr.io")
    assert credentials.for_host("ghcr.io").password == "ghs_job-token"
    assert credentials.for_host("ghcr.io").user == "maintainer"
    assert credentials.for_host("ghcr.io").source == "GITHUB_TOKEN"
    assert credentials.realm_of("ghcr.io", "ghcr.io")          # https://ghcr.io/token: its own host
    for host in ("registry-1.docker.io", "auth.docker.io", "docker.io", "quay.io", "registry.gitlab.com"):
        assert credentials.for_host(host) is None
    # An image prefix on another registry does not get it either.
    assert load_credentials(settings, "quay.io").for_host("quay.io") is None
    assert "ghs_job-token" not in repr(settings)


def test_the_gitlab_jobs_credentials_and_the_dependency_proxys_stay_with_gitlab():
    settings = Settings.from_environ({**GITLAB, "CI_DEPENDENCY_PROXY_SERVER": "gitlab.example:443",
                                      "CI_DEPENDENCY_PROXY_USER": "gitlab-ci-token",
                                      "CI_DEPENDENCY_PROXY_PASSWORD": "proxy-secret"})
    credentials = load_credentials(settings, "registry.gitlab.example")
    assert credentials.for_host("registry.gitlab.example").password == "job-token"
    assert credentials.realm_of("registry.gitlab.example", "gitlab.example")
    assert credentials.for_host("gitlab.example:443").password == "proxy-secret"
    assert credentials.for_host("ghcr.io") is None
    # Without an engine, neither engine's variables mean anything.
    local = load_credentials(Settings.from_environ({"GITHUB_TOKEN": "x", "CI_REGISTRY_PASSWORD": "y",
                                                    "CI_REGISTRY": "ghcr.io"}), "ghcr.io")
    assert local.for_host("ghcr.io") is None


@pytest.mark.parametrize("environ, branch, retry", [
    (GITHUB, "main", False),
    ({**GITHUB, "GITHUB_EVENT_NAME": "workflow_dispatch"}, "main", True),
    ({**GITHUB, "GITHUB_REF": "refs/tags/v1", "GITHUB_REF_NAME": "v1", "GITHUB_REF_TYPE": "tag"}, None, False),
    (GITLAB, "main", False),
    ({**GITLAB, "CI_PIPELINE_SOURCE": "web"}, "main", True),
    ({"CI_COMMIT_BRANCH": "main", "GITHUB_REF_NAME": "main", "CI_PIPELINE_SOURCE": "web"}, None, False),
])
def test_the_branch_and_a_run_by_hand_are_the_engines(environ, branch, retry):
    settings = Settings.from_environ(environ)
    assert (settings.git_branch, settings.retry) == (branch, retry)


def test_a_branch_name_from_the_engine_is_checked():
    with pytest.raises(SettingsError, match="environment: GITHUB_REF_NAME='--force' is not a git branch name"):
        Settings.from_environ({**GITHUB, "GITHUB_REF_NAME": "--force"})


def test_on_github_the_record_is_pushed_with_the_given_token_else_the_jobs():
    own = Settings.from_environ(GITHUB)
    assert (own.git_token, own.git_token_source, own.git_user) == ("ghs_job-token", "GITHUB_TOKEN", "x-access-token")
    given = Settings.from_environ({**GITHUB, "PRIVACY_OCI_GIT_TOKEN": "github_pat_x"})
    assert (given.git_token, given.git_token_source) == ("github_pat_x", "PRIVACY_OCI_GIT_TOKEN")
    # On GitLab the job token cannot push: nothing unless given.
    assert Settings.from_environ(GITLAB).git_token is None
    assert Settings.from_environ(GITLAB).git_user == "oauth2"


GH006 = ("To https://github.com/o/r remote: error: GH006: Protected branch update failed for refs/heads/main. "
         "remote: error: Changes must be made through a pull request. To https://github.com/o/r ! [remote rejected] "
         "abc -> main (protected branch hook declined) error: failed to push some refs")
GH013 = ("remote: error: GH013: Repository rule violations found for refs/heads/main. remote: - Changes must be "
         "made through a pull request. To https://github.com/o/r ! [remote rejected] main -> main (push declined "
         "due to repository rule violations)")
DENIED = ("remote: Permission to o/r.git denied to github-actions[bot]. fatal: unable to access "
          "'https://github.com/o/r/': The requested URL returned error: 403")


def test_a_refused_push_is_explained_in_the_engines_terms():
    github, job = GitHub(GITHUB), "the token in GITHUB_TOKEN (user x-access-token)"
    said = github.push_refused(GH006, job, "main")
    assert said.startswith(' -- GitHub refused it: "GH006: Protected branch update failed for refs/heads/main. '
                           'Changes must be made through a pull request." main is protected')
    assert "PRIVACY_OCI_GIT_TOKEN" in said and "The images are published" in said
    assert "GH013: Repository rule violations found for refs/heads/main." in github.push_refused(GH013, job, "main")
    assert "GITHUB_TOKEN needs `contents: write`" in github.push_refused(DENIED, job, "main")
    assert "Contents: read and write" in github.push_refused(DENIED, "the token in PRIVACY_OCI_GIT_TOKEN", "main")
    assert "write_repository scope" in GitLab(GITLAB).push_refused(DENIED, job, "main")
    assert "expired, revoked or wrong" in Engine({}).push_refused("returned error: 401", job, "main")


def planned(name: str, **facts):
    return plan(service=name, commit="c" * 40, inputs="i" * 16, platforms=("linux/amd64", "linux/arm64"), **facts)


def test_githubs_outputs_are_a_build_matrix_on_the_platforms_runners(tmp_path):
    catalogue = catalogue_in(tmp_path, GITHUB)
    one = planned("scribe", recorded=False, published_platforms=("linux/amd64",), index_published=False)
    work = pending_work(catalogue, {"scribe": one}, "github", "buildah")
    values = outputs(work)
    assert json.loads(values["builds"]) == [{"service": "scribe", "platform": "linux/arm64",
                                             "task": "build:scribe:arm64", "runner": "ubuntu-24.04-arm",
                                             "report": "build-scribe-arm64"}]
    assert json.loads(values["indexes"]) == [{"service": "scribe", "tasks": "push-manifest:scribe verify:scribe"}]
    assert (values["record"], values["site"], values["not-planned"]) == ("true", "true", "")
    both = planned("scribe", recorded=False, published_platforms=(), index_published=False)
    runners = [entry["runner"] for entry in json.loads(outputs(pending_work(
        catalogue, {"scribe": both}, "github", "buildah"))["builds"])]
    assert runners == ["ubuntu-latest", "ubuntu-24.04-arm"]      # amd64 on the default runner


def test_nothing_pending_on_github_is_no_job_after_the_plan(tmp_path):
    catalogue = catalogue_in(tmp_path, GITHUB)
    done = planned("scribe", recorded=True, published_platforms=(), index_published=True)
    values = outputs(pending_work(catalogue, {"scribe": done}, "github", "buildah"))
    assert values == {"builds": "[]", "indexes": "[]", "record": "false", "site": "false", "not-planned": ""}


def test_github_outputs_go_to_the_output_file_with_a_delimiter_for_lines(tmp_path):
    output, summary = tmp_path / "output", tmp_path / "summary"
    engine = GitHub({**GITHUB, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)})
    work = Work(builds=(Build("web", "linux/arm64", "build:web:arm64", ("ubuntu-24.04-arm",)),),
                not_planned=(("cli", "base image busybox cannot be looked up"), ("app", "upstream unreachable")))
    said = engine.write_fan_out(work, tmp_path)
    lines = output.read_text().splitlines()
    assert lines[0].startswith('builds=[{"service":"web"')
    start = next(i for i, line in enumerate(lines) if line.startswith("not-planned<<"))
    delimiter = lines[start].split("<<", 1)[1]
    assert lines[start + 1:start + 4] == ["privacy-oci: cli: not planned: base image busybox cannot be looked up",
                                          "privacy-oci: app: not planned: upstream unreachable", delimiter]
    assert "build `build:web:arm64` on `ubuntu-24.04-arm`" in summary.read_text()
    assert "build:web:arm64" in said and str(output) in said


def test_without_an_engine_fan_out_writes_the_work_as_json(tmp_path):
    work = Work(record=True, site=True)
    Engine({}).write_fan_out(work, tmp_path)
    assert json.loads((tmp_path / ".work" / "fan-out.json").read_text())["record"] is True


def test_the_remote_asks_the_engine_what_a_refusal_means(tmp_path):
    """CatalogueRemote names the token by the variable it came from."""
    import subprocess
    subprocess.run(["git", "init", "--quiet", "-b", "main", str(tmp_path)], check=True)
    (tmp_path / "services.yml").write_text("x")
    remote = CatalogueRemote(tmp_path, tmp_path / "services.yml", Settings.from_environ(GITHUB), tmp_path / ".work")
    assert "the token in GITHUB_TOKEN (user x-access-token)" in remote._advice(DENIED)


ENGINE_VARIABLE = ("GITLAB_CI", "GITHUB_", "CI_")


def test_no_module_but_the_engines_reads_an_engines_variable_or_names_an_engine():
    """The seam holds: outside tasks/engines, no string in the code is the
    name of a CI engine's variable, or an engine's name."""
    found = []
    for path in sorted((PROJECT_ROOT / "tasks").rglob("*.py")):
        if "engines" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                value = node.value
                if value in engines.NAMES or (value.isupper() and value.startswith(ENGINE_VARIABLE)):
                    found.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}: {value!r}")
    assert found == []

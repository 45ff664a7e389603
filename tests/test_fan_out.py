"""fan-out's work and GitLab's child pipeline, pure functions of the plans:
what each kind of plan costs in jobs. (tests/test_gitlab_ci.py runs such
pipelines under gitlab-ci-local; tests/test_engines.py has GitHub's form.)"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from tasks.catalogue import Catalogue, Service
from tasks.decide_stale import Failure, ServicePlan, plan
from tasks.engines.gitlab import CANNOT_PLAN, NOTHING_TO_DO, PAGES
from tasks.engines.gitlab import child_pipeline as gitlab_child_pipeline
from tasks.fan_out import pending_work

PLATFORMS = ("linux/amd64", "linux/arm64")
CATALOGUE = Catalogue(path=Path("services.yml"), image_prefix="registry.example.org/p",
                      services=tuple(Service(name, f"https://git.example.org/{name}", "branch", "main", PLATFORMS,
                                             Path("/Dockerfile"), ()) for name in ("web", "cli")),
                      runner_tags=(("gitlab", "linux/arm64", ("arm64-runner",)),
                                   ("github", "linux/arm64", ("ubuntu-24.04-arm",))))
FAILED = Failure("build", 1, datetime(2026, 11, 30, tzinfo=timezone.utc), "exit 2", "c")


def child_pipeline(catalogue: Catalogue, plans: dict[str, ServicePlan | str], builder: str,
                   settings: dict[str, str], site_changed: bool = False) -> dict:
    """GitLab's child pipeline for these plans."""
    return gitlab_child_pipeline(pending_work(catalogue, plans, "gitlab", builder, site_changed), settings)


def planned(name, **facts):
    return plan(service=name, commit="c" * 40, inputs="i" * 16, platforms=PLATFORMS, **facts)


def jobs(pipeline: dict) -> set[str]:
    return {name for name in pipeline if name not in ("include", "stages", "variables")}


def test_nothing_pending_and_held_back_cost_one_no_op_job():
    up_to_date = planned("web", recorded=True, published_platforms=(), index_published=True)
    held = planned("cli", recorded=False, published_platforms=(), index_published=False,
                   held=[(p, FAILED) for p in PLATFORMS])
    assert child_pipeline(CATALOGUE, {"web": up_to_date, "cli": held}, "buildah", {}) == NOTHING_TO_DO


def test_one_pending_platform_is_one_build_job_on_its_runner():
    one = planned("web", recorded=False, published_platforms=("linux/amd64",), index_published=False)
    done = planned("cli", recorded=True, published_platforms=(), index_published=True)
    pipeline = child_pipeline(CATALOGUE, {"web": one, "cli": done}, "buildah", {"PRIVACY_OCI_MODE": "fan-out"})
    assert jobs(pipeline) == {"build:web:arm64", "push-manifest:web", "commit-hash", PAGES}
    assert pipeline["build:web:arm64"]["tags"] == ["arm64-runner"]
    assert pipeline["build:web:arm64"]["variables"] == {"PRIVACY_OCI_REPORT": "report/build-web-arm64.json"}
    assert pipeline["variables"] == {"PRIVACY_OCI_MODE": "fan-out", "PRIVACY_OCI_BUILDER": "buildah"}


def test_published_but_unrecorded_is_the_commit_job_alone():
    published = planned("web", recorded=False, published_platforms=(), index_published=True)
    done = planned("cli", recorded=True, published_platforms=(), index_published=True)
    assert jobs(child_pipeline(CATALOGUE, {"web": published, "cli": done}, "buildx", {})) == {"commit-hash", PAGES}


def test_unknown_facts_plan_no_heavy_job_and_a_light_one_says_why():
    reason = 'base image busybox cannot be looked up: registry unreachable; $HOME "quoted" `cmd`'
    one = planned("cli", recorded=False, published_platforms=(), index_published=False)
    pipeline = child_pipeline(CATALOGUE, {"web": reason, "cli": one}, "buildx", {})
    assert jobs(pipeline) == {"build:cli:amd64", "build:cli:arm64", "push-manifest:cli", "commit-hash", CANNOT_PLAN}
    job = pipeline[CANNOT_PLAN]
    assert job["image"] == "alpine:3.20" and job["variables"]["GIT_STRATEGY"] == "none"
    # The reason is data (a variable GitLab does not expand), never script text.
    assert job["variables"]["PRIVACY_OCI_NOT_PLANNED"] == (
        f"privacy-oci: web: not planned: {reason}".replace("$HOME", "$$HOME"))
    assert all(reason not in line for line in job["script"])

    alone = child_pipeline(CATALOGUE, {"web": reason, "cli": reason}, "buildx", {})
    assert jobs(alone) == {CANNOT_PLAN} and alone["stages"] == ["record"]


def test_the_status_site_comes_out_last_after_any_work_and_alone_when_its_inputs_changed():
    one = planned("web", recorded=False, published_platforms=("linux/amd64",), index_published=False)
    done = planned("cli", recorded=True, published_platforms=(), index_published=True)
    pipeline = child_pipeline(CATALOGUE, {"web": one, "cli": done}, "buildah", {})
    assert pipeline["stages"] == ["build", "manifest", "record", PAGES]
    assert pipeline[PAGES] == {"extends": [".privacy-oci", ".privacy-oci-pages"], "stage": PAGES,
                               "script": ["doit status-page --remember"]}

    up_to_date = planned("web", recorded=True, published_platforms=(), index_published=True)
    alone = child_pipeline(CATALOGUE, {"web": up_to_date, "cli": done}, "buildah", {}, site_changed=True)
    assert jobs(alone) == {PAGES} and alone["stages"] == [PAGES]
    assert child_pipeline(CATALOGUE, {"web": up_to_date, "cli": done}, "buildah", {}) == NOTHING_TO_DO

    # Unknown facts never bring the site out: it would say less than it knows.
    reason = "registry unreachable"
    assert PAGES not in child_pipeline(CATALOGUE, {"web": reason, "cli": one}, "buildah", {}, site_changed=True)

"""P7, P8: what a scheduled tick starts on GitLab, counted by running the
pipeline under gitlab-ci-local against the GitLab-shaped test world
(sandbox.gitlab_project): each job with only its image's tools, and
``docker`` and ``buildah`` replaced by shims that log every call.

P7  a tick with nothing pending: jobs started, heavy jobs (on a builder
    image: docker:27 with its Docker-in-Docker service, or buildah's), and
    builder calls; for the default pipeline, the one-job mode, the pipeline
    as it was before this work (its CI files at ``BEFORE``), and the seed's
    design (a check job and one builder job per service every tick,
    counted from the catalogue: the seed's before_script exited in the job).
P8  a tick with one pending platform of one service: heavy jobs.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from sandbox.ci_images import image_dir_name
from sandbox.config_repo import PROJECT_ROOT
from sandbox.demo import DEB_CACHE
from sandbox.docker_hub import DockerHub
from sandbox.flaky_server import FLAKY_DOCKERFILE, FlakyPayloads
from sandbox.gitlab_project import make_project
from sandbox.upstreams import IDENTITY, git
from tasks.catalogue import load

# The last commit with the CI files this work replaced.
BEFORE = "c60c0c0"
CI_FILES = (".gitlab-ci.yml", ".gitlab/ci/jobs.yml", ".gitlab/ci/builder-buildx.yml", ".gitlab/ci/builder-buildah.yml",
            "scripts/ci-prepare")
HEAVY_IMAGES = {image_dir_name("docker:27"), image_dir_name("quay.io/buildah/stable:v1.37")}
GOAL = "1 light job (2 at most), 0 heavy, 0 builder calls"


def tick(project, **variables) -> tuple[list, list, list]:
    """One scheduled tick: (jobs started, heavy ones, builder calls)."""
    jobs, calls = len(project.images.jobs_started()), len(project.images.builder_calls())
    project.schedule(variables=variables or None, check=False)
    started = project.started_since(jobs)
    return started, [job for job, image in started if image in HEAVY_IMAGES], project.images.builder_calls()[calls:]


def figure(started, heavy, calls) -> str:
    names = ", ".join(job for job, _ in started)
    return f"{len(started)} job(s) ({names}), {len(heavy)} heavy, {len(calls)} builder call(s)"


def use_ci_files_of(project, revision: str, without_services: bool = False) -> None:
    """The project's CI files as they were at ``revision``, pushed; with
    ``without_services``, its jobs declare no ``services:`` (gitlab-ci-local
    starts a service only with a Docker engine, which this machine has not)."""
    work = project.directory / f"ci-files-{revision}-{without_services}"
    git("clone", "--quiet", str(project.gitlab.bare), str(work))
    for name in CI_FILES:
        text = subprocess.run(["git", "show", f"{revision}:{name}"], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, check=True).stdout
        if without_services:
            text = "\n".join(line for line in text.splitlines()
                             if not line.startswith(("  services:", "    - docker:27-dind"))) + "\n"
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    (work / "scripts" / "ci-prepare").chmod(0o755)
    git("add", "--all", cwd=work)
    git(*IDENTITY, "commit", "--quiet", "--allow-empty", "--message", f"CI files of {revision}", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)


def run() -> list[tuple[str, str, str, str]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="privacy-oci-bench-") as scratch, \
            DockerHub(Path(scratch, "hub")) as hub:
        base = hub.publish_base(DEB_CACHE)
        project = make_project(Path(scratch, "p7"), base)
        try:
            tick(project, PRIVACY_OCI_BUILDER="buildah")          # publishes everything
            rows.append(("P7", "tick with nothing pending: default pipeline",
                         figure(*tick(project, PRIVACY_OCI_BUILDER="buildah")), GOAL))
            rows.append(("P7", "tick with nothing pending: one-job mode (PRIVACY_OCI_MODE=single)",
                         figure(*tick(project, PRIVACY_OCI_BUILDER="buildah", PRIVACY_OCI_MODE="single")),
                         "(one runner: 1 heavy job, by design)"))
            use_ci_files_of(project, BEFORE)
            rows.append(("P7", f"tick with nothing pending: the pipeline before this work ({BEFORE}, buildah)",
                         figure(*tick(project, PRIVACY_OCI_BUILDER="buildah"))
                         + "; its set-up logged in with buildah before doit found nothing to do", "(for comparison)"))
            use_ci_files_of(project, BEFORE, without_services=True)
            rows.append(("P7", f"tick with nothing pending: the pipeline before this work ({BEFORE}, buildx)",
                         figure(*tick(project, PRIVACY_OCI_BUILDER="buildx"))
                         + " (run without its docker:27-dind service, which needs a Docker engine; its set-up "
                           "stops at the first docker call here, on GitLab buildx create and docker login "
                           "follow: 3 calls)", "(for comparison)"))
        finally:
            project.gitlab.close()
        services = len(load(PROJECT_ROOT / "services.yml", {**os.environ, "CI_REGISTRY_IMAGE": "r.example/p"}).services)
        rows.append(("P7", "tick with nothing pending: the seed's design (one job per service, counted)",
                     f"{services + 1} job(s) (the check that sets each service's out-of-date variable, and one "
                     f"buildx job per service), {services} heavy (Docker-in-Docker, each exiting in its "
                     "before_script)", "(for comparison)"))

        payloads = FlakyPayloads(failures=1)
        project = make_project(Path(scratch, "p8"), base, dockerfile=FLAKY_DOCKERFILE,
                               build_args={"PAYLOAD_URL": payloads.url})
        try:
            tick(project, PRIVACY_OCI_BUILDER="buildah")          # arm64 of hello-web fails once
            rows.append(("P8", "tick with one pending platform of one service",
                         figure(*tick(project, PRIVACY_OCI_BUILDER="buildah")), "exactly 1 heavy job"))
        finally:
            payloads.close()
            project.gitlab.close()
    return rows


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))

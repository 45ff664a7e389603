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
P7  also a tick whose only work is held back (a platform that failed a
    quarter of an hour before): it must cost what nothing pending costs.
P8  a tick with one pending platform of one service, an hour after its
    build failed (sooner, the failure memory holds it back): heavy jobs.
P9  one service whose recipe fails every time, over 24 hourly ticks on the
    simulated clock (PRIVACY_OCI_NOW): heavy jobs and builder calls, with
    the failure memory and without it (PRIVACY_OCI_RETRY=true on every
    tick, fewer ticks), then one tick after upstream's fix: one build, and
    published.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from sandbox.ci_images import image_dir_name
from sandbox.config_repo import PROJECT_ROOT
from sandbox.demo import DEB_CACHE, stand_in_dockerfile
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
# The build fails while upstream's message.txt says "broken" (as in
# tests/test_failure_memory.py).
BREAKS_ON_UPSTREAM = stand_in_dockerfile('RUN ! grep -q broken /app/message.txt || '
                                         '{ echo "upstream needs a newer toolchain" >&2; exit 2; }',
                                         'CMD ["cat", "/app/message.txt"]')
P9_TICKS = 24
P9_TICKS_WITHOUT_MEMORY = 6    # each builds: fewer, and the figure per tick extrapolated


def tick(project, **variables) -> tuple[list, list, list]:
    """One scheduled tick with these settings, as project CI/CD variables
    (new gitlab.com projects refuse pipeline variables): (jobs started,
    heavy ones, builder calls)."""
    jobs, calls = len(project.images.jobs_started()), len(project.images.builder_calls())
    before = dict(project.project_variables)
    project.project_variables.update(variables)
    try:
        project.schedule(check=False)
    finally:
        project.project_variables.clear()
        project.project_variables.update(before)
    started = project.started_since(jobs)
    return started, [job for job, image in started if image in HEAVY_IMAGES], project.images.builder_calls()[calls:]


def buildah_builds(calls) -> list:
    """The ``buildah build`` calls among a tick's builder calls."""
    return [call for call in calls if call[0] == "buildah" and "build" in call[1].split()]


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
            project.hours_later(0.25)                              # held back: its backoff is 1 h
            rows.append(("P7", "tick whose only work is held back (one platform failed 15 min before)",
                         figure(*tick(project, PRIVACY_OCI_BUILDER="buildah")), GOAL))
            project.hours_later(1)                                 # the backoff has run out
            rows.append(("P8", "tick with one pending platform of one service (an hour after it failed)",
                         figure(*tick(project, PRIVACY_OCI_BUILDER="buildah")), "exactly 1 heavy job"))
        finally:
            payloads.close()
            project.gitlab.close()
        rows += p9(Path(scratch, "p9"), base)
    return rows


def p9(directory: Path, base: str, ticks: int = P9_TICKS, ticks_without_memory: int = P9_TICKS_WITHOUT_MEMORY):
    """P9: hello-cli's recipe fails on every try once its upstream says
    "broken" (hello-web stays published); hourly ticks by the simulated
    clock, with the failure memory, then without it, then upstream's fix."""
    started_at = time.perf_counter()
    project = make_project(directory, base, dockerfile=BREAKS_ON_UPSTREAM)
    try:
        project.hours_later(0)                                     # the simulated clock from here on
        tick(project, PRIVACY_OCI_BUILDER="buildah")               # publishes both services
        project.upstreams["hello-cli"].commit({"message.txt": "broken\n"}, "needs a newer toolchain")

        def hourly(count: int, **variables):
            """``count`` ticks an hour apart: heavy jobs, builder calls, the
            ticks' wall times (held back, tried), the hours tried, and how
            many ticks started which jobs."""
            heavy, calls, seconds, tried, shapes = 0, [], ([], []), [], Counter()
            for hour in range(count):
                start = time.perf_counter()
                started, heavy_jobs, tick_calls = tick(project, PRIVACY_OCI_BUILDER="buildah", **variables)
                seconds[bool(heavy_jobs)].append(time.perf_counter() - start)
                heavy += len(heavy_jobs)
                calls += tick_calls
                shapes[", ".join(job for job, _ in started)] += 1
                if heavy_jobs:
                    tried.append(hour)
                project.hours_later(1)
            return heavy, calls, seconds, tried, shapes

        def described(shapes, seconds) -> str:
            held, tried = (f"{statistics.median(times):.0f} s" if times else "-" for times in seconds)
            return (f"{'; '.join(f'{n} tick(s): {jobs}' for jobs, n in shapes.items())}; median tick {held} "
                    f"held back, {tried} tried")

        heavy, calls, seconds, tried, shapes = hourly(ticks)
        builds = buildah_builds(calls)
        with_memory = (f"{heavy} heavy job(s), {len(builds)} buildah build call(s), {len(calls)} buildah call(s) in "
                       f"all in {ticks} ticks, tried at hours {', '.join(map(str, tried))} "
                       f"({described(shapes, seconds)})")

        heavy_r, calls_r, seconds_r, _, shapes_r = hourly(ticks_without_memory, PRIVACY_OCI_RETRY="true")
        builds_r = buildah_builds(calls_r)
        per_tick = [n / ticks_without_memory for n in (heavy_r, len(builds_r), len(calls_r))]
        without_memory = (f"{heavy_r} heavy job(s), {len(builds_r)} buildah build call(s), {len(calls_r)} buildah "
                          f"call(s) in {ticks_without_memory} ticks, measured ({described(shapes_r, seconds_r)}): "
                          f"{per_tick[0]:g}, {per_tick[1]:g} and {per_tick[2]:g} a tick, so "
                          f"{per_tick[0] * ticks:g}, {per_tick[1] * ticks:g} and {per_tick[2] * ticks:g} in {ticks} "
                          "ticks, extrapolated")

        fixed = project.upstreams["hello-cli"].commit({"message.txt": "fixed\n"}, "fix")
        started, heavy_f, calls_f = tick(project, PRIVACY_OCI_BUILDER="buildah")
        published = project.records().get("hello-cli") == fixed
        after_fix = (f"{figure(started, heavy_f, calls_f)}, {len(buildah_builds(calls_f))} buildah build call(s); "
                     f"hello-cli {'published and recorded' if published else 'NOT published'}")
    finally:
        project.gitlab.close()
    wall = time.perf_counter() - started_at
    what = f"one service whose recipe always fails, {ticks} hourly ticks (simulated clock)"
    return [("P9", f"{what}: with the failure memory", f"{with_memory}; the whole P9 run took {wall / 60:.0f} min",
             "<= 6 heavy jobs and <= 6 builds in 24 ticks"),
            ("P9", f"{what}: without it (PRIVACY_OCI_RETRY=true on every tick)", without_memory,
             "(for comparison: today 24 and 24)"),
            ("P9", "the next tick after upstream's fix", after_fix, "exactly 1 more build, published")]


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))

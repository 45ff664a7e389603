"""P7, P8 on GitHub Actions: what a tick of .github/workflows/privacy-oci.yml
starts, counted by running it under act against the GitHub-shaped test
world (sandbox.github_project): every job on this machine, actions/checkout
and the Pages actions replaced by stand-ins, ``buildah`` by a shim that
logs every call. A heavy job is a build job (the only ones that set up a
builder); the others are light (checkout, Python, doit, the registry API).

P7  a tick with nothing pending, and a tick whose only work is held back
    (a platform that failed a quarter of an hour before): jobs started,
    heavy jobs, builder calls, and the tick's wall time here.
P8  a tick with one pending platform of one service, an hour after its
    build failed, on the native arm64 runner label: heavy jobs.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from sandbox.demo import DEB_CACHE
from sandbox.docker_hub import DockerHub
from sandbox.flaky_server import FLAKY_DOCKERFILE, FlakyPayloads
from sandbox.github_project import RUNNER_TAGS, make_project

GOAL = "1 light job, 0 heavy, 0 builder calls"


def tick(project, event: str = "schedule") -> str:
    """One tick: what it started, how many of those jobs were heavy, the
    builder calls it made, and how long it took here."""
    calls = len(project.calls())
    started = time.monotonic()
    done = project.tick(event, check=False)
    seconds = time.monotonic() - started
    heavy = [job for job in done.jobs if job.startswith("build:")]
    runners = "".join(f" on {done.runners[job]}" for job in heavy)
    return (f"{len(done.jobs)} job(s) ({', '.join(done.jobs)}), {len(heavy)} heavy{runners}, "
            f"{len(project.calls()) - calls} builder call(s); {seconds:.0f} s under act here")


def run() -> list[tuple[str, str, str, str]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="privacy-oci-bench-gha-") as scratch, \
            DockerHub(Path(scratch, "hub")) as hub:
        base = hub.publish_base(DEB_CACHE)
        project = make_project(Path(scratch, "p7"), base)
        try:
            project.tick()                                         # publishes everything
            rows.append(("P7", "GitHub Actions: tick with nothing pending", tick(project), GOAL))
        finally:
            project.github.close()

        payloads = FlakyPayloads(failures=1)
        project = make_project(Path(scratch, "p8"), base, dockerfile=FLAKY_DOCKERFILE,
                               build_args={"PAYLOAD_URL": payloads.url}, extra_yaml=RUNNER_TAGS)
        try:
            project.tick(check=False)                              # arm64 of hello-web fails once
            project.hours_later(0.25)                              # held back: its backoff is 1 h
            rows.append(("P7", "GitHub Actions: tick whose only work is held back (one platform failed 15 min "
                               "before)", tick(project), GOAL))
            project.hours_later(1)                                 # the backoff has run out
            rows.append(("P8", "GitHub Actions: tick with one pending platform of one service (an hour after it "
                               "failed)", tick(project), "exactly 1 heavy job"))
        finally:
            payloads.close()
            project.github.close()
    return rows


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))

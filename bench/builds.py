"""P3, P4, P5: real work is never done twice.

P3  rebuild after an upstream-only change, from an empty builder store,
    divided by the cold build, for a Dockerfile whose dependency step takes
    seconds and comes before the source copy (registry build cache).
P4  a two-platform service built in parallel (doit -n 2), divided by its
    slowest platform built alone.
P5  builder invocations when resuming, from a fresh job, after one failed
    platform: an hour later by the simulated clock (PRIVACY_OCI_NOW), as
    the failure memory holds the platform back until then.
Every build is a real buildah build, every publish starts the image with
podman (the start check); every "fresh job" is a new clone and an empty
builder store.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from sandbox import base_image, clock, containers_conf, counting_builder
from sandbox.config_repo import ConfigRepo
from sandbox.demo import DEB_CACHE
from sandbox.flaky_server import FLAKY_DOCKERFILE, FlakyPayloads
from sandbox.registry import LocalRegistry
from sandbox.upstreams import Upstream

REPETITIONS = 3
EXPENSIVE_DEPENDENCIES = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN sleep 8 && echo dependencies > /dependencies
COPY message.txt /app/message.txt
"""
CPU_BOUND = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY message.txt /app/message.txt
RUN i=0; while [ $i -lt 60000 ]; do i=$((i+1)); done; uname -m > /app/built-on
"""


class Project:
    """One service in a catalogue repository of its own, built by buildah."""

    def __init__(self, directory: Path, prefix: str, base: str, dockerfile: str, platforms, build_args=None,
                 **settings):
        """``settings``: more of the service's fields (``start_check``)."""
        self.directory = directory
        self.upstream = Upstream(directory / "upstream")
        self.upstream.commit({"message.txt": "one\n"}, "one")
        self.repo = ConfigRepo(directory / "catalogue")
        self.repo.create(prefix, {"app": {"upstream": self.upstream.url, "platforms": list(platforms),
                                          "build_args": {"BASE_IMAGE": base, **(build_args or {})}, **settings}},
                         {"app": dockerfile})
        wrapper, self.log = counting_builder.install(directory / "builder")
        # podman (the start check) keeps its store in each job's builder
        # store, and needs the limits of sandbox/containers_conf.py here.
        self.env = {**os.environ, "PRIVACY_OCI_BUILDER": "buildah", "PRIVACY_OCI_BUILDAH": str(wrapper),
                    "PRIVACY_OCI_LOCAL_UPSTREAMS": "true",     # the upstream is a bare repository here
                    "STORAGE_DRIVER": "vfs", **containers_conf.write(directory)}
        self.job = 0

    def fresh_job(self) -> Path:
        """A new clone and an empty builder store."""
        self.job += 1
        self.env["PRIVACY_OCI_BUILDAH_ROOT"] = str(self.directory / f"store-{self.job}")
        return self.repo.fresh_clone()

    def doit(self, *args: str, check: bool = True) -> float:
        checkout = self.fresh_job()
        start = time.perf_counter()
        result = subprocess.run(["doit", *args], cwd=checkout, env=self.env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if check and result.returncode != 0:
            raise RuntimeError(f"doit {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return elapsed

    def hours_later(self, hours: float) -> None:
        """Move the clock of the next runs on (PRIVACY_OCI_NOW)."""
        clock.move_on(self.env, hours)

    def report(self) -> dict:
        """The JSON report of the last run."""
        return json.loads((self.repo.checkout / ".work" / "report.json").read_text())

    def cleanup(self):
        for store in self.directory.glob("store-*"):
            subprocess.run(["buildah", "--root", f"{store}/root", "--runroot", f"{store}/run", "--storage-driver",
                            "vfs", "rm", "--all"],
                           capture_output=True)
            shutil.rmtree(store, ignore_errors=True)


@contextlib.contextmanager
def workshop():
    """A scratch folder and a registry holding the base image; yields a
    maker of Projects there, each cleaned up afterwards."""
    with tempfile.TemporaryDirectory(prefix="privacy-oci-bench-") as scratch, \
            LocalRegistry(Path(scratch, "registry")) as registry:
        base_image.publish(registry.host, "bench/base", DEB_CACHE)
        base = f"{registry.host}/bench/base:latest"
        projects = []

        def project(name, dockerfile, platforms, build_args=None, **settings) -> Project:
            made = Project(Path(scratch, name), f"{registry.host}/{name}", base, dockerfile, platforms, build_args,
                           **settings)
            projects.append(made)
            return made

        try:
            yield project
        finally:
            for made in projects:
                made.cleanup()


def run() -> list[tuple[str, str, str, str]]:
    rows = []
    with workshop() as project:
        ratios, colds, warms = [], [], []
        for rep in range(REPETITIONS):
            p3 = project(f"p3-{rep}", EXPENSIVE_DEPENDENCIES, ["linux/amd64"])
            cold = p3.doit()
            p3.upstream.commit({"message.txt": "two\n"}, "two")
            warm = p3.doit()
            ratios.append(warm / cold)
            colds.append(cold)
            warms.append(warm)
        rows.append(("P3", "rebuild after upstream-only change, empty store / cold build",
                     f"{statistics.median(ratios):.2f}x ({statistics.median(warms):.1f} s / "
                     f"{statistics.median(colds):.1f} s)", "<= 0.25x"))

        ratios, details = [], []
        for rep in range(REPETITIONS):
            alone = {}
            for platform in ("amd64", "arm64"):
                alone[platform] = project(f"p4-{rep}-{platform}", CPU_BOUND, ["linux/amd64", "linux/arm64"]
                                          ).doit(f"build:app:{platform}")
            both = project(f"p4-{rep}-both", CPU_BOUND, ["linux/amd64", "linux/arm64"]
                           ).doit("-n", "2", "build:app:amd64", "build:app:arm64")
            ratios.append(both / max(alone.values()))
            details.append((both, alone["amd64"], alone["arm64"]))
        both, amd64, arm64 = (statistics.median(values) for values in zip(*details, strict=True))
        rows.append(("P4", "two platforms in parallel / slowest platform alone",
                     f"{statistics.median(ratios):.2f}x ({both:.1f} s / max({amd64:.1f} s, {arm64:.1f} s))",
                     "<= 1.2x"))

        payloads = FlakyPayloads(failures=1)
        try:
            p5 = project("p5", FLAKY_DOCKERFILE, ["linux/amd64", "linux/arm64"], {"PAYLOAD_URL": payloads.url})
            p5.doit(check=False)
            first = counting_builder.builds(p5.log)
            p5.log.unlink()
            p5.doit()              # right away: the failed platform is held back
            held = counting_builder.builds(p5.log)
            p5.hours_later(1)      # its backoff has run out
            p5.doit()
            resumed = counting_builder.builds(p5.log)[len(held):]
        finally:
            payloads.close()
        rows.append(("P5", "builder invocations when resuming after one failed platform (an hour later)",
                     f"{len(resumed)} ({', '.join(p for _, p in resumed)}; the failed run made {len(first)}; "
                     f"resumed right away, held back: {len(held)})",
                     "exactly 1"))
    return rows


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))

"""P10: what the start check adds to a publish, per platform.

A publish of one stand-in service for one platform, from a fresh job (a
new clone, an empty builder store): with its start check (the image
pulled by podman from the registry and started; arm64 under QEMU),
divided by the same publish with ``start_check: {skip: ...}``, measured in
the same run, alternately. Besides the ratio, the seconds the check itself
took, as the JSON report says (``start_checks[platform]["seconds"]``: from
the container's start, its pull included, to the verdict). Two stand-ins:
the demo's CLI (a RUN step, then ``cat`` as its command: it exits 0), and
a web server (busybox httpd) with a HEALTHCHECK and an HTTP check, which
passes only once both answer.
"""
from __future__ import annotations

import statistics

from sandbox.demo import STAND_IN_DOCKERFILE, stand_in_dockerfile

from .builds import workshop

REPETITIONS = 5
PLATFORMS = {"linux/amd64": "amd64, native", "linux/arm64": "arm64, emulated"}
SKIP = {"skip": "the baseline of P10"}
WEB_SERVER = stand_in_dockerfile('HEALTHCHECK --interval=1m CMD ["test", "-f", "/tmp/healthy"]',
                                 'CMD ["sh", "-c", "touch /tmp/healthy; exec httpd -f -p 8080 -h /app"]')
# name: (recipe, start_check)
IMAGES = {"cli": (STAND_IN_DOCKERFILE, None),
          "web": (WEB_SERVER, {"http": {"port": 8080, "path": "/message.txt"}})}
DESCRIBED = {"cli": "stand-in CLI, exits 0", "web": "stand-in web server, health check + HTTP"}


def run() -> list[tuple[str, str, str, str]]:
    rows = []
    with workshop() as project:
        for image in IMAGES:
            for platform in PLATFORMS:
                rows.append(p10(project, image, platform))
    return rows


def p10(project, image: str, platform: str) -> tuple[str, str, str, str]:
    """One row: ``image`` published for ``platform``, with its start check
    and without, alternately."""
    dockerfile, check = IMAGES[image]
    ratios, checked, skipped, added, seconds = [], [], [], [], []
    for rep in range(REPETITIONS):
        timed = {}
        # the order alternates, so that a warmer machine favours neither
        for kind in (("check", "skip") if rep % 2 == 0 else ("skip", "check")):
            settings = SKIP if kind == "skip" else check
            made = project(f"p10-{image}-{platform.split('/')[1]}-{rep}-{kind}", dockerfile, [platform],
                           **({"start_check": settings} if settings else {}))
            timed[kind] = made.doit()
            if kind == "check":
                seconds.append(made.report()["services"][0]["start_checks"][platform]["seconds"])
        ratios.append(timed["check"] / timed["skip"])
        checked.append(timed["check"])
        skipped.append(timed["skip"])
        added.append(timed["check"] - timed["skip"])
    return ("P10", f"publish with start check / without ({PLATFORMS[platform]}, {DESCRIBED[image]})",
            f"{statistics.median(ratios):.2f}x ({statistics.median(checked):.1f} s / "
            f"{statistics.median(skipped):.1f} s, +{statistics.median(added):.1f} s); the check itself "
            f"{statistics.median(seconds):.1f} s ({min(seconds):.1f} to {max(seconds):.1f} s, report)",
            "<= 3 s native" if platform == "linux/amd64" else "(emulated: no goal)")


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))

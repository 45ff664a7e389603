"""P1, P2, P6: what an hourly run costs when nothing changed.

P1  a no-op ``doit`` over 100 services served by git daemon on loopback,
    divided by the floor: the same 100 ``git ls-remote`` at the same
    concurrency.
P2  ``doit list`` over 100 services: network calls (git daemon connections,
    registry requests) and median wall time.
P6  peak memory (max RSS) of the doit process in a no-op run over 1000
    services, beside the baseline of an interpreter that imported the same
    libraries.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from sandbox.fault_proxy import FaultProxy
from sandbox.registry import LocalRegistry

from .world import doit, ls_remote_all, median_seconds, published_catalogue

REPETITIONS = 5
P1_REPETITIONS = 9
PEAK_RSS = """
import resource, runpy, sys
sys.argv = ["doit"] + sys.argv[1:]
try:
    runpy.run_module("doit", run_name="__main__")
except SystemExit as exit:
    assert not exit.code, exit.code
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""
IMPORTS_ONLY = """
import resource, sys
import doit, requests, git, ruamel.yaml, sh
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def peak_rss_mib(code: str, cwd: Path) -> float:
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "PRIVACY_OCI_BUILDER": "buildah"})
    assert result.returncode == 0, result.stderr
    return int(result.stderr.strip().splitlines()[-1]) / 1024


def run() -> list[tuple[str, str, str, str]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="privacy-oci-bench-") as scratch, \
            LocalRegistry(Path(scratch, "registry")) as registry:
        project, daemon, urls = published_catalogue(Path(scratch, "hundred"), registry.host, 100)
        try:
            doit(project)  # warm-up; also proves nothing is pending
            # Interleaved, so both see the same machine.
            noops, floors = [], []
            for _ in range(P1_REPETITIONS):
                noops.append(median_seconds(lambda: doit(project), 1))
                floors.append(median_seconds(lambda: ls_remote_all(urls), 1))
            noop, floor = statistics.median(noops), statistics.median(floors)
            rows.append(("P1", "no-op doit / 100 ls-remote (100 services)",
                         f"{noop / floor:.2f}x ({noop:.2f} s / {floor:.2f} s); best of each "
                         f"{min(noops) / min(floors):.2f}x ({min(noops):.2f} s / {min(floors):.2f} s)",
                         "<= 1.3x"))

            text = (project / "services.yml").read_text()
            with FaultProxy(registry.host) as proxy:
                (project / "services.yml").write_text(text.replace(registry.host, proxy.host))
                before = daemon.connections()
                listing = median_seconds(lambda: doit(project, "list"), REPETITIONS)
                calls = daemon.connections() - before + len(proxy.seen)
            (project / "services.yml").write_text(text)
            rows.append(("P2", "doit list (100 services): network calls; median wall time",
                         f"{calls} calls; {listing:.2f} s", "0 calls; <= 0.5 s"))
        finally:
            daemon.stop()

        project, daemon, _ = published_catalogue(Path(scratch, "thousand"), registry.host, 1000)
        try:
            doit(project)
            peak = peak_rss_mib(PEAK_RSS, project)
            baseline = peak_rss_mib(IMPORTS_ONLY, project)
            rows.append(("P6", "peak RSS, no-op doit over 1000 services (baseline: imports only)",
                         f"{peak:.0f} MiB ({peak / baseline:.1f}x the {baseline:.0f} MiB baseline)", "<= 150 MiB"))
        finally:
            daemon.stop()
    return rows


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))

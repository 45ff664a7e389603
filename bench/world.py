"""What the benchmarks run against: a git daemon on loopback serving many
upstreams, a local registry with a base image, and a catalogue of N services
that are all already published (so ``doit`` has nothing to do)."""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import time
from pathlib import Path

from sandbox import base_image
from sandbox.config_repo import PROJECT_ROOT
from sandbox.demo import DEB_CACHE
from sandbox.registry import free_port
from sandbox.upstreams import Upstream, git
from tasks import decide_stale

DOCKERFILE = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY message.txt /message.txt\n"
CONCURRENCY = 16   # what tasks.upstream uses for ls-remote
DAEMONS = 4


def median_seconds(command, repetitions: int) -> float:
    """Median wall time of ``command()`` over the repetitions."""
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        command()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class GitDaemons:
    """``git daemon`` on loopback, logging every connection: several of
    them, the upstreams spread over them, as upstreams are spread over
    hosts. One alone listens with a backlog of 5 (daemon.c), and at this
    concurrency a connection it drops waits a second for its SYN to be
    sent again, in the floor and the run alike: noise, not cost."""

    def __init__(self, base_path: Path, count: int = DAEMONS):
        self.base_path = base_path
        self.ports = [free_port() for _ in range(count)]
        self.logs = [base_path.parent / f"git-daemon-{i}.log" for i in range(count)]
        self.processes = [subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", "--verbose", f"--base-path={base_path}",
             "--listen=127.0.0.1", f"--port={port}"], stderr=log.open("w"), stdout=subprocess.DEVNULL)
            for port, log in zip(self.ports, self.logs, strict=True)]
        deadline = time.monotonic() + 10
        waiting = list(self.ports)
        while waiting and time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", waiting[0])) == 0:
                    waiting.pop(0)
                    continue
            time.sleep(0.05)
        if waiting:
            self.stop()
            raise RuntimeError("git daemon did not start")

    def url(self, number: int, name: str) -> str:
        return f"git://127.0.0.1:{self.ports[number % len(self.ports)]}/{name}"

    def connections(self) -> int:
        return sum(log.read_text().count("Connection from") for log in self.logs)

    def stop(self):
        for process in self.processes:
            process.terminate()
            process.wait()


def published_catalogue(directory: Path, registry_host: str, count: int) -> tuple[Path, GitDaemons, list[str]]:
    """A project folder whose services.yml lists ``count`` services, all
    recorded as published for their current upstream commit and inputs;
    returns it, the git daemons serving the upstreams, and their URLs."""
    directory.mkdir(parents=True, exist_ok=True)
    upstream = Upstream(directory / "upstream")
    commit = upstream.commit({"message.txt": "hello\n"}, "first")
    served = directory / "served"
    served.mkdir()
    for i in range(count):
        (served / f"repo-{i:04d}.git").symlink_to(upstream.bare)
    daemon = GitDaemons(served)

    repository = "bench/base"
    base_digest = base_image.publish(registry_host, repository, DEB_CACHE)
    base = f"{registry_host}/{repository}:latest"
    project = directory / "project"
    (project / "Dockerfiles" / "shared").mkdir(parents=True)
    (project / "Dockerfiles" / "shared" / "Dockerfile").write_text(DOCKERFILE)
    (project / "dodo.py").write_text((PROJECT_ROOT / "dodo.py").read_text())
    own = decide_stale.own_inputs_digest(DOCKERFILE.encode(), ("linux/amd64",), (("BASE_IMAGE", base),))
    inputs = decide_stale.build_inputs_digest(own, {base: base_digest})
    lines = [f"image_prefix: {registry_host}/bench", "services:"]
    urls = []
    for i in range(count):
        url = daemon.url(i, f"repo-{i:04d}.git")
        urls.append(url)
        lines += [f"  svc-{i:04d}:", f"    upstream: {url}", "    branch: main",
                  "    platforms: [linux/amd64]", "    dockerfile: Dockerfiles/shared/Dockerfile",
                  f"    build_args: {{BASE_IMAGE: '{base}'}}",
                  f"    published: {{commit: {commit}, inputs: {inputs}, bases: {{'{base}': '{base_digest}'}}}}"]
    (project / "services.yml").write_text("\n".join(lines) + "\n")
    return project, daemon, urls


def doit(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(["doit", *args], cwd=project, capture_output=True, text=True,
                            env={**os.environ, "PRIVACY_OCI_BUILDER": "buildah", **(env or {})})
    if result.returncode != 0:
        raise RuntimeError(f"doit {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def ls_remote_all(urls: list[str]) -> None:
    """The floor: the same ls-remote calls, same concurrency, nothing else."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        list(pool.map(lambda url: git("ls-remote", "--", url, "refs/heads/main", "refs/heads/main^{}"), urls))


def machine() -> str:
    memory = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return f"{os.cpu_count()} cores (nproc), {int(memory) // 1024 // 1024} GiB memory"

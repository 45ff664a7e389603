"""The start check: a platform image is started with a real container
runtime before it may enter an index, and must show that it works.

- Its main process must not exit non-zero. A CLI image that exits 0
  passes, unless something must answer (a health check, an HTTP port).
- When the image has a ``HEALTHCHECK``, its command must succeed inside the
  running container; when the catalogue names an HTTP port, a request to
  it from inside the container must get a 2xx or 3xx answer (with the
  image's own wget or curl). Both are tried every second until the
  timeout.
- Without either, a server passes when it is still running after
  ``SETTLE_SECONDS``.

The containers of one check (companions first, then the image) share one
network namespace with nothing but loopback in it: companions are reached
on localhost, nothing is published on the machine, and the image under
test reaches no other host. The check drives the health check itself,
since neither podman without systemd nor Docker before the image's own
interval would run it in time.
"""
from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .catalogue import StartCheck
from .runtimes import Runtime, RuntimeFailed

SETTLE_SECONDS = 2.0
POLL_SECONDS = 1.0
DEFAULT_PROBE_TIMEOUT = 30.0
LOG_LINES = 20
# What a runtime says when the image's own command cannot be run (a fault
# of the image, remembered as such); any other failure of `run` is the
# runtime's own.
NOT_RUNNABLE = re.compile(r"executable file not found|no such file or directory|permission denied: .*exec",
                          re.IGNORECASE)
# One check at a time in a run: a runtime under QEMU is slow enough alone.
_one_at_a_time = threading.Lock()


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    what: str                 # "healthy", "exited 1", "not healthy within 60 s: …"
    seconds: float
    log: tuple[str, ...] = field(default=())   # the tail of the container's log, on failure


def health_command(config: Mapping[str, Any]) -> list[str] | None:
    """The image's health check as a command to run in the container."""
    test = ((config.get("config") or {}).get("Healthcheck") or {}).get("Test") or []
    if test[:1] == ["CMD"] and len(test) > 1:
        return list(test[1:])
    if test[:1] == ["CMD-SHELL"] and len(test) == 2:
        return ["/bin/sh", "-c", test[1]]
    return None   # none, or NONE


def probe_timeout(config: Mapping[str, Any]) -> float:
    nanoseconds = ((config.get("config") or {}).get("Healthcheck") or {}).get("Timeout") or 0
    return nanoseconds / 1e9 or DEFAULT_PROBE_TIMEOUT


def http_command(port: int, path: str) -> list[str]:
    """A request from inside the container, with whichever client it has."""
    url = f"http://127.0.0.1:{port}{path}"
    return ["/bin/sh", "-c", 'if command -v wget >/dev/null 2>&1; then exec wget -q -O /dev/null "$1"; '
            'elif command -v curl >/dev/null 2>&1; then exec curl -fsS -o /dev/null "$1"; '
            'else echo "no wget or curl in the image for the HTTP check" >&2; exit 127; fi', "http-check", url]


def check(runtime: Runtime, name: str, image: str, platform: str, config: Mapping[str, Any], spec: StartCheck,
          clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> CheckResult:
    """Start ``image`` (an image reference with its digest) for
    ``platform`` with what ``spec`` says its start needs, and judge it.
    ``name`` names the containers. Raises RuntimeFailed when the runtime
    itself fails: that is no verdict on the image."""
    with _one_at_a_time:
        started = clock()
        containers: list[str] = []
        try:
            return _check(runtime, name, image, platform, config, spec, containers, started, clock, sleep)
        finally:
            runtime.remove(containers[::-1])   # the image before the companions whose network it shares


def _check(runtime: Runtime, name: str, image: str, platform: str, config: Mapping[str, Any], spec: StartCheck,
           containers: list[str], started: float, clock: Callable[[], float], sleep: Callable[[float], None]
           ) -> CheckResult:
    suffix = uuid.uuid4().hex[:8]
    network = "none"
    for number, companion in enumerate(spec.companions, 1):
        companion_name = f"{name}-companion{number}-{suffix}"
        code, output = runtime.start(companion_name, companion.image, platform, env=companion.env,
                                     network=network, command=companion.command)
        containers.append(companion_name)
        if code != 0:
            raise RuntimeFailed(f"companion {companion.image} did not start: {_last_line(output)}")
        network = f"container:{companion_name}"
    container = f"{name}-{suffix}"
    code, output = runtime.start(container, image, platform, env=spec.env,
                                 mounts=[(str(source), target) for target, source in spec.files], network=network)
    containers.append(container)
    if code != 0 and not NOT_RUNNABLE.search(output):
        raise RuntimeFailed(f"{runtime.program} could not start the image: {_last_line(output)}")
    if code != 0:
        return _failed(runtime, container, f"its command cannot be run: {_last_line(output)}", started, clock)

    health = health_command(config)
    must_answer = health is not None or spec.http is not None
    deadline = started + spec.timeout
    last = "no answer yet"
    while True:
        state = runtime.state(container)
        if not state.running:
            if state.exit_code != 0:
                return _failed(runtime, container, f"exited {state.exit_code}", started, clock)
            if must_answer:
                return _failed(runtime, container, "exited 0 before it answered its checks", started, clock)
            return CheckResult(True, "exited 0", clock() - started)
        ready, last = _probe(runtime, container, config, health, spec, deadline, clock)
        if ready or (not must_answer and clock() - started >= SETTLE_SECONDS):
            return CheckResult(True, "healthy" if must_answer else "running", clock() - started)
        if clock() >= deadline:
            what = "unhealthy" if health is not None else "no HTTP answer"
            return _failed(runtime, container, f"{what} after {spec.timeout} s (timeout): {last}", started, clock)
        sleep(POLL_SECONDS)


def _probe(runtime: Runtime, container: str, config: Mapping[str, Any], health: list[str] | None, spec: StartCheck,
           deadline: float, clock: Callable[[], float]) -> tuple[bool, str]:
    """Whether the health check and the HTTP request succeed now; what the
    failing one said."""
    probes: list[tuple[str, list[str], float]] = []
    if health is not None:
        probes.append(("health check", health, probe_timeout(config)))
    if spec.http is not None:
        probes.append((f"HTTP port {spec.http[0]}", http_command(*spec.http), DEFAULT_PROBE_TIMEOUT))
    for what, command, timeout in probes:
        code, output = runtime.exec(container, command, max(1.0, min(timeout, deadline - clock())))
        if code != 0:
            said = _last_line(output) or ("timed out" if code < 0 else f"exit {code}")
            return False, f"{what}: {said}"
    return bool(probes), ""


def _failed(runtime: Runtime, container: str, what: str, started: float, clock: Callable[[], float]) -> CheckResult:
    return CheckResult(False, what, clock() - started, tuple(runtime.logs(container, LOG_LINES)))


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""

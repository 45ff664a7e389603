"""Container runtimes: the one small interface the start check runs images
through. A runtime starts a container from an image in the registry, says
whether it still runs, runs a command inside it, and gives its log.

docker and podman share their command line for all of this; each module
here says only what differs (podman's store, its quick removal). Adding
another runtime means a module here and a line in ``RUNTIMES``; the graph
does not change.
"""
from __future__ import annotations

import importlib
import shutil
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import StageFailed

if TYPE_CHECKING:   # (the settings import the runtimes: for the type only, or the imports go round)
    from ..settings import Settings

# name -> (module, class); the builders name the runtime they go with.
RUNTIMES = {"podman": ("podman", "PodmanRuntime"), "docker": ("docker", "DockerRuntime")}
NAMES = tuple(RUNTIMES)
COMMAND_TIMEOUT_SECONDS = 600   # a pull of a large image under a slow link


class RuntimeFailed(StageFailed):
    """The runtime could not do what was asked: not the image's fault."""


@dataclass(frozen=True)
class ContainerState:
    running: bool
    exit_code: int | None     # once it has exited


class Runtime(ABC):
    program: str

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    @abstractmethod
    def works_here(cls, settings: Settings) -> bool:
        """Whether this runtime's program is there."""

    @abstractmethod
    def command(self, *args: str) -> list[str]:
        """The runtime's command line for ``args``."""

    @abstractmethod
    def pull_options(self, image: str) -> list[str]:
        """Options of ``run`` that the pull of ``image`` needs."""

    def start(self, name: str, image: str, platform: str, *, env: Sequence[tuple[str, str]] = (),
              mounts: Sequence[tuple[str, str]] = (), network: str = "none", command: Sequence[str] = ()
              ) -> tuple[int, str]:
        """Start a container in the background; the exit status of ``run``
        and what it said (0 and the container id when it started)."""
        args = ["run", "--detach", "--name", name, "--platform", platform, "--network", network,
                *self.pull_options(image)]
        for variable, value in env:
            args += ["--env", f"{variable}={value}"]
        for source, target in mounts:
            args += ["--volume", f"{source}:{target}:ro"]
        return self._run(*args, image, *command)

    def state(self, name: str) -> ContainerState:
        code, output = self._run("inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", name)
        if code != 0:
            raise RuntimeFailed(f"{self.program} inspect {name}: {output.strip()}")
        running, exit_code = output.split()[-2:]
        return ContainerState(running == "true", None if running == "true" else int(exit_code))

    def exec(self, name: str, argv: Sequence[str], timeout: float) -> tuple[int, str]:
        """Run ``argv`` in the container: its exit status (or -1 when it did
        not finish within ``timeout`` seconds) and its output."""
        return self._run("exec", name, *argv, timeout=timeout)

    def logs(self, name: str, lines: int) -> list[str]:
        _, output = self._run("logs", "--tail", str(lines), name)
        return output.splitlines()[-lines:]

    def remove(self, names: Sequence[str]) -> None:
        """Remove the containers in this order, one at a time: podman
        refuses to remove a container whose network namespace another
        shares in the same call, even when that one is named first."""
        for name in names:
            self._run(*self.remove_args(), name)

    def remove_args(self) -> list[str]:
        return ["rm", "--force"]

    def _run(self, *args: str, timeout: float = COMMAND_TIMEOUT_SECONDS) -> tuple[int, str]:
        try:
            result = subprocess.run(self.command(*args), env=dict(self.settings.environ), stdin=subprocess.DEVNULL,
                                    capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as expired:
            output = expired.stdout or b""
            return -1, output.decode(errors="replace") if isinstance(output, bytes) else output
        except FileNotFoundError:
            raise RuntimeFailed(f"{self.program} is not installed: the start check needs a container runtime "
                                f"({', '.join(NAMES)})") from None
        return result.returncode, result.stdout + result.stderr


def select(settings: Settings, default: str) -> Runtime:
    """The runtime PRIVACY_OCI_RUNTIME names, else ``default`` (the one that
    goes with the builder), else the first of ``RUNTIMES`` that is here."""
    names = [settings.runtime] if settings.runtime else [default, *(n for n in NAMES if n != default)]
    for name in names:
        module, class_name = RUNTIMES[name]
        runtime: type[Runtime] = getattr(importlib.import_module(f"{__name__}.{module}"), class_name)
        if settings.runtime or runtime.works_here(settings):
            return runtime(settings)
    raise RuntimeFailed(f"no container runtime found for the start check: install {' or '.join(NAMES)}")


def which(program: str, environ: Mapping[str, str]) -> bool:
    return shutil.which(program, path=environ.get("PATH")) is not None

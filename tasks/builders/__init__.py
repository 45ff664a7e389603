"""Builders: the one small interface the graph builds images through.

A builder builds one platform of a service from a source tree and pushes it
under a tag, returning the pushed manifest's digest. (The index over the
platforms is put over the distribution API by push-manifest, whatever the
builder.) Adding podman or kaniko means adding a module here and a line to
``BUILDERS``; the graph, the settings check and the selection do not
change.
"""
from __future__ import annotations

import importlib
import re
import sys
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StageFailed
from ..registry import RegistryClient
from ..registry_auth import Credential

if TYPE_CHECKING:   # (the settings import the builders: for the type only, or the imports go round)
    from ..settings import Settings

# The builders, by the name PRIVACY_OCI_BUILDER gives them, in the order they
# are tried when none is named: name -> (module, class).
BUILDERS = {"buildx": ("buildx", "BuildxBuilder"), "buildah": ("buildah", "BuildahBuilder")}
NAMES = tuple(BUILDERS)


OUTPUT_TAIL_LINES = 25
# Progress bars redraw with cursor movements even when output is not a terminal.
EXIT_STATUS_ONLY = re.compile(r"^[\w ]*exit(ed)? (with )?status \d+$")
# What a builder's output says when a build failed for want of a registry
# (credentials, the network) or of the builder itself (buildah's chroot
# runtime under load), not for its recipe: such a failure is not
# remembered against the recipe's inputs.
REGISTRY_TROUBLE = re.compile(r"requested access to the resource is denied|unauthorized: |"
                              r"error parsing HTTP 40[13] response|pinging container registry|"
                              r"connection refused|i/o timeout|no such host|TLS handshake timeout|"
                              r"toomanyrequests|429 Too Many Requests|sealing memfd", re.IGNORECASE)
# What a builder says when it leaves an instruction of the recipe out of the
# image and goes on (buildah, for an image in OCI format).
DROPPED = re.compile(r"\b([A-Z]+) is not supported for OCI image format")
TERMINAL_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class BuildError(StageFailed):
    """A builder command failed; the message ends with the tail of its output."""


class RecipeFailed(BuildError):
    """The recipe did not build: a failure of the image, remembered as
    such (unlike a login or a push that failed)."""


class DroppedInstruction(RecipeFailed):
    """The builder left an instruction of the recipe out of the image."""


@dataclass(frozen=True)
class BuildRequest:
    context: Path
    dockerfile: Path
    platform: str
    build_args: tuple[tuple[str, str], ...]
    labels: tuple[tuple[str, str], ...]
    image: str          # repository:tag to push the platform image to
    cache_ref: str      # repository holding this platform's build cache
    attestations: bool = True   # SBOM and provenance, where the builder makes them
    # What of the context stays out of the image: the recipe's own
    # <Dockerfile>.dockerignore, not the upstream's .dockerignore.
    ignore_file: Path | None = None


@dataclass(frozen=True)
class PlatformManifest:
    """What one platform's tag holds: an image manifest, or an index (the
    image and its attestation manifests), whose ``entries`` then go into the
    service's index as they are."""
    platform: str
    digest: str
    media_type: str
    size: int
    entries: tuple[dict[str, Any], ...] = ()


class Builder(ABC):
    # The container runtime of the jobs this builder runs in, for the start check.
    runtime: str = "docker"

    def __init__(self, registry: RegistryClient, settings: Settings) -> None:
        self.registry = registry
        self.settings = settings

    @classmethod
    @abstractmethod
    def works_here(cls, settings: Settings) -> bool:
        """Whether this builder's programs are there and answer."""

    @abstractmethod
    def build(self, request: BuildRequest, work_dir: Path) -> str:
        """Build and push one platform image; return the pushed digest."""

    @abstractmethod
    def prepare(self, logins: Sequence[tuple[str, Credential]]) -> None:
        """Set up a fresh CI job for building, once, before its first build:
        log in to each (registry host, credential) of ``logins`` (the image
        registry, and the registries base images come from when credentials
        are configured for them), and whatever else the builder needs on a
        bare machine."""


def run(command: list[str], what: str, env: Mapping[str, str], stdin: str = "", builds: bool = False) -> None:
    """Run a builder command (an argument list, never a shell string; a
    secret goes in ``stdin``), passing its output on to whatever stdout is at
    the time (doit captures it per task); raise BuildError with the tail of
    it on failure, RecipeFailed when the command ``builds`` the recipe
    and its output does not blame a registry."""
    import sh  # imported when a builder runs: `doit list` runs none
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    dropped: dict[str, str] = {}

    def echo(line: str) -> None:
        line = TERMINAL_CONTROL.sub("", line)
        tail.append(line.rstrip("\n"))
        for instruction in DROPPED.findall(line):
            dropped.setdefault(instruction, line.strip())
        sys.stdout.write(line)

    try:
        sh.Command(command[0])(*command[1:], _env=dict(env), _err_to_out=True, _out=echo, _in=stdin)
    except sh.ErrorReturnCode as error:
        failure = RecipeFailed if builds and not any(REGISTRY_TROUBLE.search(line) for line in tail) else BuildError
        raise failure(f"{what} exited {error.exit_code}: {_reason(tail)}\n" + "\n".join(tail)) from None
    except sh.CommandNotFound:
        raise BuildError(f"{command[0]} is not installed") from None
    if dropped:
        raise DroppedInstruction(f"{what} left {', '.join(dropped)} of the recipe out of the image: "
                                 + " | ".join(dropped.values()))


def _reason(lines: Iterable[str]) -> str:
    """The builder's last words, and the failing step's own before them
    (skipping the bare "exited with status N" lines in between)."""
    said = [line.strip() for line in lines if line.strip()]
    if not said:
        return "no output"
    cause = next((line for line in reversed(said[:-1]) if not EXIT_STATUS_ONLY.search(line)), None)
    return f"{said[-1]} | {cause}" if cause else said[-1]


def select(settings: Settings, registry: RegistryClient) -> Builder:
    """The builder PRIVACY_OCI_BUILDER names (checked against ``NAMES`` with
    the other settings), or the first of ``BUILDERS`` that works here."""
    names = [settings.builder] if settings.builder else NAMES
    for name in names:
        module, class_name = BUILDERS[name]
        builder: type[Builder] = getattr(importlib.import_module(f"{__name__}.{module}"), class_name)
        if settings.builder or builder.works_here(settings):
            return builder(registry, settings)
    raise BuildError("no builder found: install docker with the buildx plugin, or buildah")

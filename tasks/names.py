"""The names of things, in one place: doit task names, registry tags and
repositories, platform slugs, index annotations.

Stages name one another's tasks through here, never by importing one
another, so every stage module stands on the same floor.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # the catalogue's types only: the names stand on the floor
    from .catalogue import Service

FETCH_UPSTREAM = "fetch-upstream"
BUILD = "build"
PUSH_MANIFEST = "push-manifest"
VERIFY = "verify"
COMMIT_HASH = "commit-hash"
FAN_OUT = "fan-out"
# The status site (never part of a plain doit run), and the registry
# repository, under the image prefix, that remembers what it was made from.
STATUS_PAGE = "status-page"

SHORT_COMMIT = 12
LATEST = "latest"
REVISION_ANNOTATION = "org.opencontainers.image.revision"
# Annotation on the image index that names the build inputs it was made from.
INPUTS_ANNOTATION = "org.privacy-oci.build-inputs"
# Annotation of a remembered failure: the platform it failed on.
PLATFORM_ANNOTATION = "org.privacy-oci.platform"


def platform_slug(platform: str) -> str:
    """'linux/arm64' -> 'arm64', 'linux/arm/v7' -> 'arm-v7',
    'windows/amd64' -> 'windows-amd64': the name used in tasks and tags."""
    parts = platform.split("/")
    if parts[0] == "linux":
        parts = parts[1:]
    return "-".join(parts)


def fetch_task(service: str) -> str:
    return f"{FETCH_UPSTREAM}:{service}"


def build_group(service: str) -> str:
    """``doit build:<service>``: every platform, the index and its check."""
    return f"{BUILD}:{service}"


def build_task(service: str, platform: str) -> str:
    return f"{build_group(service)}:{platform_slug(platform)}"


def push_manifest_task(service: str) -> str:
    return f"{PUSH_MANIFEST}:{service}"


def index_prerequisites(service: str, platforms: Iterable[str]) -> list[str]:
    """The tasks a service's index needs done: its fetch and every build."""
    return [fetch_task(service), *(build_task(service, p) for p in platforms)]


def verify_task(service: str) -> str:
    return f"{VERIFY}:{service}"


def default_tasks(services: Iterable[Service]) -> list[str]:
    """What a plain ``doit`` runs: every stage but the build:<service> groups,
    which are for running one service by hand and would only repeat its
    failures, and fan-out, which is asked for on its own."""
    return [FETCH_UPSTREAM, *(build_task(s.name, p) for s in services for p in s.platforms),
            PUSH_MANIFEST, VERIFY, COMMIT_HASH]


def build_key(commit: str, inputs: str) -> str:
    return f"{commit[:SHORT_COMMIT]}-{inputs[:SHORT_COMMIT]}"


def platform_tag(commit: str, inputs: str, platform: str) -> str:
    """The tag under which one platform's image is published for a build key;
    its presence in the registry is what marks the platform as done."""
    return f"build-{build_key(commit, inputs)}-{platform_slug(platform)}"


def candidate_tag(commit: str, inputs: str, platform: str) -> str:
    """The tag a platform image is pushed under before its start check; it
    gets its platform tag only once the check has passed."""
    return f"candidate-{build_key(commit, inputs)}-{platform_slug(platform)}"


def failure_tag(commit: str, inputs: str, platform: str) -> str:
    """The tag under which a failed attempt at one platform is remembered."""
    return f"failed-{build_key(commit, inputs)}-{platform_slug(platform)}"


def index_tags(commit: str, version: str | None = None) -> tuple[str, ...]:
    """Tags of the published index: the short commit, the upstream release
    tag when one is tracked, and ``latest`` last, because it is the one that
    marks the index as done for a build key."""
    return (commit[:SHORT_COMMIT], *([version] if version else []), LATEST)


def cache_repository(image: str, platform: str) -> str:
    """The repository that holds one platform's registry build cache."""
    return f"{image}/cache-{platform_slug(platform)}"

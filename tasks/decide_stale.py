"""decide-stale: the pure decisions of the graph.

Nothing here talks to git, the registry or a builder; everything takes the
facts it needs as arguments, so the rules are easy to read and to test:

- a service is *recorded* when services.yml says its current upstream commit
  was published with its current build inputs: nothing of it runs;
- otherwise each platform is *pending* until the registry holds its image
  under the build key (upstream commit + build inputs), the index is pending
  until the registry's ``latest`` index carries that key, and the commit is
  pending until services.yml records it.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

# Annotation on the image index that names the build inputs it was made from.
INPUTS_ANNOTATION = "org.privacy-oci.build-inputs"
REVISION_ANNOTATION = "org.opencontainers.image.revision"
SHORT_COMMIT = 12


def own_inputs_digest(dockerfile: bytes, platforms, build_args, attestations: bool = True) -> str:
    """A digest of this repository's own inputs to a service's image."""
    canonical = json.dumps({
        "dockerfile": hashlib.sha256(dockerfile).hexdigest(),
        "platforms": sorted(platforms),
        "build_args": sorted([name, value] for name, value in build_args),
        "attestations": attestations,
    }, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def build_inputs_digest(own_inputs: str, bases: dict[str, str]) -> str:
    """The build inputs: this repository's own, and the digests of the base
    images the Dockerfile names, so a new base image is a new build."""
    canonical = json.dumps({"own": own_inputs, "bases": sorted(bases.items())})
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def stale_reasons(published_commit, published_inputs, published_bases: dict,
                  commit: str, own_inputs: str, bases: dict) -> tuple[str, ...]:
    """Why a service is to be published again, in words; empty when it is
    recorded."""
    if is_recorded(published_commit, published_inputs, commit, build_inputs_digest(own_inputs, bases)):
        return ()
    if published_commit is None:
        return ("never published",)
    reasons = []
    if published_commit != commit:
        reasons.append(f"upstream moved {published_commit[:SHORT_COMMIT]} -> {commit[:SHORT_COMMIT]}")
    for image, digest in bases.items():
        before = published_bases.get(image)
        if before and before != digest:
            reasons.append(f"base image {image} changed {before[:19]} -> {digest[:19]}")
    known_bases = {image: published_bases.get(image, digest) for image, digest in bases.items()}
    if build_inputs_digest(own_inputs, known_bases) != published_inputs:
        reasons.append("Dockerfile, platforms, build args or base images changed")
    return tuple(reasons)


def platform_slug(platform: str) -> str:
    """'linux/arm64' -> 'arm64', 'linux/arm/v7' -> 'arm-v7',
    'windows/amd64' -> 'windows-amd64': the name used in tasks and tags."""
    parts = platform.split("/")
    if parts[0] == "linux":
        parts = parts[1:]
    return "-".join(parts)


SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


def newest_tag(tags, pattern: str) -> str | None:
    """The newest of ``tags`` matching ``pattern``: 'semver' (vX.Y.Z, no
    pre-releases) or a regular expression; newest by the numbers in the name."""
    matcher = SEMVER if pattern == "semver" else re.compile(pattern)
    matching = [tag for tag in tags if matcher.fullmatch(tag)]
    if not matching:
        return None
    return max(matching, key=lambda tag: (tuple(int(n) for n in re.findall(r"\d+", tag)), tag))


def build_key(commit: str, inputs: str) -> str:
    return f"{commit[:SHORT_COMMIT]}-{inputs[:SHORT_COMMIT]}"


def platform_tag(commit: str, inputs: str, platform: str) -> str:
    """The tag under which one platform's image is published for a build key;
    its presence in the registry is what marks the platform as done."""
    return f"build-{build_key(commit, inputs)}-{platform_slug(platform)}"


def index_tags(commit: str, version: str | None = None) -> tuple[str, ...]:
    """Tags of the published index: the short commit, the upstream release
    tag when one is tracked, and ``latest`` last, because it is the one that
    marks the index as done for a build key."""
    return (commit[:SHORT_COMMIT], *([version] if version else []), "latest")


def is_recorded(published_commit, published_inputs, commit: str, inputs: str) -> bool:
    return published_commit == commit and published_inputs == inputs


def index_matches(annotations: dict | None, commit: str, inputs: str) -> bool:
    """Whether an index's annotations say it was made for this build key."""
    annotations = annotations or {}
    return (annotations.get(REVISION_ANNOTATION) == commit
            and annotations.get(INPUTS_ANNOTATION) == inputs)


@dataclass(frozen=True)
class ServicePlan:
    """What a run must still do for one service."""
    service: str
    commit: str
    inputs: str
    recorded: bool
    pending_platforms: tuple[str, ...]
    index_published: bool
    version: str | None = None    # the upstream tag, when tags are tracked
    bases: tuple[tuple[str, str], ...] = ()   # base image -> digest

    @property
    def needs_source(self) -> bool:
        return bool(self.pending_platforms)

    @property
    def needs_index(self) -> bool:
        return not self.recorded and not self.index_published

    @property
    def needs_record(self) -> bool:
        return not self.recorded


def plan(service: str, commit: str, inputs: str, recorded: bool, platforms, published_platforms,
         index_published: bool, version: str | None = None, bases=()) -> ServicePlan:
    """Decide what is pending for one service from the facts gathered about it.

    ``published_platforms`` and ``index_published`` are ignored when the
    service is recorded (they need not even be looked up then)."""
    if recorded:
        return ServicePlan(service, commit, inputs, True, (), True, version, tuple(bases))
    if index_published:
        # The index only ever points at platform images that exist.
        return ServicePlan(service, commit, inputs, False, (), True, version, tuple(bases))
    pending = tuple(p for p in platforms if p not in set(published_platforms))
    return ServicePlan(service, commit, inputs, False, pending, False, version, tuple(bases))

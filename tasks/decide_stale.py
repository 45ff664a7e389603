"""decide-stale: the pure decisions of the graph.

Nothing here talks to git, the registry or a builder; everything takes the
facts it needs as arguments, so the rules are easy to read and to test:

- a service is *recorded* when services.yml says its current upstream commit
  was published with its current build inputs: nothing of it runs;
- otherwise each platform is *pending* until the registry holds its image
  under the build key (upstream commit + build inputs), the index is pending
  until the registry's ``latest`` index carries that key, and the commit is
  pending until services.yml records it;
- a platform whose build or start check failed for this build key is *held
  back* until its backoff has run out (or the check's settings changed, or
  a retry is asked for): it is not pending, and neither are the service's
  index and record.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from .catalogue import Record
from .names import INPUTS_ANNOTATION, REVISION_ANNOTATION, SHORT_COMMIT


def own_inputs_digest(dockerfile: bytes, platforms: Iterable[str], build_args: Iterable[tuple[str, str]],
                      attestations: bool = True, ignore_file: bytes | None = None) -> str:
    """A digest of this repository's own inputs to a service's image."""
    inputs: dict[str, object] = {
        "dockerfile": hashlib.sha256(dockerfile).hexdigest(),
        "platforms": sorted(platforms),
        "build_args": sorted([name, value] for name, value in build_args),
        "attestations": attestations,
    }
    if ignore_file is not None:  # (absent, so that digests without one stay as they were)
        inputs["ignore_file"] = hashlib.sha256(ignore_file).hexdigest()
    canonical = json.dumps(inputs, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def build_inputs_digest(own_inputs: str, bases: Mapping[str, str]) -> str:
    """The build inputs: this repository's own, and the digests of the base
    images the Dockerfile names, so a new base image is a new build."""
    canonical = json.dumps({"own": own_inputs, "bases": sorted(bases.items())})
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def stale_reasons(recorded: Record | None, commit: str, own_inputs: str, bases: Mapping[str, str]
                  ) -> tuple[str, ...]:
    """Why a service is to be published again, in words; empty when its
    record says it is published as it is now."""
    if is_recorded(recorded, commit, build_inputs_digest(own_inputs, bases)):
        return ()
    if recorded is None:
        return ("never published",)
    reasons = []
    if recorded.commit != commit:
        reasons.append(f"upstream moved {recorded.commit[:SHORT_COMMIT]} -> {commit[:SHORT_COMMIT]}")
    recorded_bases = dict(recorded.bases)
    for image, digest in bases.items():
        before = recorded_bases.get(image)
        if before and before != digest:
            reasons.append(f"base image {image} changed {before[:19]} -> {digest[:19]}")
    known_bases = {image: recorded_bases.get(image, digest) for image, digest in bases.items()}
    if build_inputs_digest(own_inputs, known_bases) != recorded.inputs:
        reasons.append("Dockerfile, platforms, build args or base images changed")
    return tuple(reasons)


SEMVER = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
# The OCI distribution spec's grammar for a tag: a tag upstream chooses is
# published under that name, so one that does not fit is not used.
OCI_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


def newest_tag(tags: Iterable[str]) -> str | None:
    """The newest of ``tags`` by the numbers in their names (v1.10.0 after
    v1.9.2), compared as digit strings: an upstream may name a tag with
    thousands of digits, more than int() takes."""
    return max(tags, key=version_key, default=None)


def version_key(tag: str) -> tuple[tuple[tuple[int, str], ...], str]:
    numbers = tuple((len(digits), digits) for digits in
                    (run.lstrip("0") or "0" for run in re.findall(r"\d+", tag)))
    return numbers, tag


def is_recorded(recorded: Record | None, commit: str, inputs: str) -> bool:
    return recorded is not None and recorded.commit == commit and recorded.inputs == inputs


def index_matches(annotations: Mapping[str, str] | None, commit: str, inputs: str) -> bool:
    """Whether an index's annotations say it was made for this build key."""
    annotations = annotations or {}
    return (annotations.get(REVISION_ANNOTATION) == commit
            and annotations.get(INPUTS_ANNOTATION) == inputs)


# Failed attempts are tried again after 1 h, 2 h, 4 h … and at most a day:
# on an hourly schedule that is 5 attempts on the first day (ticks 0, 1, 3,
# 7, 15), then one a day. The next attempt is due a little before the
# backoff has run out, so that a tick that starts a few minutes early or
# late is not skipped for it.
FIRST_BACKOFF = timedelta(hours=1)
MAX_BACKOFF = timedelta(days=1)
TICK_SLACK = timedelta(minutes=10)


@dataclass(frozen=True)
class Failure:
    """A failed attempt at one platform of one build key, as remembered in
    the registry: which stage failed, how often in a row, when it was last
    tried, why, and with which start check settings."""
    stage: str            # "build" or "start check"
    attempts: int
    attempted_at: datetime
    reason: str
    check: str            # the start check's digest at the time

    @property
    def next_try(self) -> datetime:
        return self.attempted_at + backoff(self.attempts) - TICK_SLACK


def backoff(attempts: int) -> timedelta:
    """How long to wait after ``attempts`` failed attempts in a row."""
    factor: int = 2 ** max(attempts - 1, 0)   # (typeshed: a power of an int may be a float)
    return min(FIRST_BACKOFF * factor, MAX_BACKOFF)


def held_back(failure: Failure | None, now: datetime, check: str, retry: bool) -> bool:
    """Whether a platform that failed is left alone on this run: its backoff
    has not run out, its start check is the one that failed, and no retry
    was asked for. A new commit, recipe, build argument or base image is a
    new build key, with no failure of its own."""
    return failure is not None and not retry and failure.check == check and now < failure.next_try


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
    held_back: tuple[tuple[str, Failure], ...] = ()   # platform -> its last failure

    @property
    def needs_source(self) -> bool:
        return bool(self.pending_platforms)

    @property
    def needs_index(self) -> bool:
        return not self.recorded and not self.index_published and not self.held_back

    @property
    def needs_record(self) -> bool:
        return not self.recorded and not self.held_back

    @property
    def record(self) -> Record:
        """What services.yml is to record once this plan is published."""
        return Record(self.commit, self.inputs, self.bases)


def plan(service: str, commit: str, inputs: str, recorded: bool, platforms: Iterable[str],
         published_platforms: Collection[str], index_published: bool, version: str | None = None,
         bases: Iterable[tuple[str, str]] = (), held: Iterable[tuple[str, Failure]] = ()) -> ServicePlan:
    """Decide what is pending for one service from the facts gathered about it.

    ``published_platforms`` and ``index_published`` are ignored when the
    service is recorded (they need not even be looked up then); ``held`` are
    (platform, failure) of the platforms that ``held_back`` leaves alone."""
    if recorded:
        return ServicePlan(service, commit, inputs, True, (), True, version, tuple(bases))
    if index_published:
        # The index only ever points at platform images that exist.
        return ServicePlan(service, commit, inputs, False, (), True, version, tuple(bases))
    held = tuple((p, failure) for p, failure in held if p not in set(published_platforms))
    pending = tuple(p for p in platforms if p not in set(published_platforms) and p not in dict(held))
    return ServicePlan(service, commit, inputs, False, pending, False, version, tuple(bases), held)


def superseded_by(commit: str, upstream_now: str, started_from: Record | None, recorded_now: Record | None,
                  publishing: Record) -> str | None:
    """Why a run that publishes ``publishing`` (built from upstream
    ``commit``) must leave ``latest`` and the record alone, or None when it
    may move them: upstream's ref points elsewhere now, or another run
    recorded something else since this run read the catalogue
    (``started_from``). Either way the other state is newer than this run's,
    and moving to this run's would move backwards."""
    if upstream_now != commit:
        return f"upstream now points at {upstream_now[:SHORT_COMMIT]}"
    if not _same_build(recorded_now, started_from) and not _same_build(recorded_now, publishing):
        what = f"{recorded_now.commit[:SHORT_COMMIT]} (build inputs {recorded_now.inputs[:SHORT_COMMIT]})" \
            if recorded_now else "the removal of its record"
        return f"another run recorded {what} since this run started"
    return None


def _same_build(a: Record | None, b: Record | None) -> bool:
    """The build inputs digest covers the base images: commit and inputs say it all."""
    return (a.commit, a.inputs) == (b.commit, b.inputs) if a and b else a is b

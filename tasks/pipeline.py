"""The run's context: the catalogue, and the facts gathered about it from
upstream git and the registry, each looked up at most once per run.

Task creators only read the catalogue (no network); the facts are gathered
the first time an ``uptodate`` check or an action asks for them, for all
services at once and concurrently. Tasks share values through here, never
through doit's ``getargs`` (which breaks when the producer is skipped).
"""
from __future__ import annotations

import os
import sys
import threading
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import decide_stale, dockerfile, upstream
from .builders import Builder, BuildError, PlatformManifest, select
from .catalogue import Catalogue, Service
from .registry import INDEX_TYPES, RegistryClient, RegistryError, normalize_image

MAX_CONCURRENT_REGISTRY_CHECKS = 16


def say(line: str) -> None:
    """One line to stderr in one write, so lines from threads do not mix."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class StageFailed(Exception):
    """A stage of one service failed; the message says what to fix."""


@dataclass
class Outcome:
    """What happened to one service in this run, for the summary."""
    built: dict[str, str] = field(default_factory=dict)       # platform -> digest
    failures: dict[str, str] = field(default_factory=dict)    # task name -> reason
    index_digest: str | None = None
    recorded: bool = False


class Pipeline:
    def __init__(self, root: Path, catalogue: Catalogue, environ=os.environ):
        self.root = Path(root)
        self.catalogue = catalogue
        self.environ = environ
        self.work_dir = self.root / ".work"
        self.outcomes = {s.name: Outcome() for s in catalogue.services}
        # One lock per memo: plans are made in threads that resolve commits
        # and open the registry client, each under its own lock.
        self._parts_lock = threading.Lock()
        self._commits_lock = threading.Lock()
        self._plans_lock = threading.Lock()
        self._outcomes_lock = threading.Lock()
        self._bases_lock = threading.Lock()
        self._base_digests: dict[str, Future] = {}
        self._commits: Future | None = None
        self._plans: dict | None = None
        self._registry: RegistryClient | None = None
        self._builder: Builder | None = None

    # -- parts, made when first needed ----------------------------------------
    @property
    def registry(self) -> RegistryClient:
        with self._parts_lock:
            if self._registry is None:
                self._registry = RegistryClient(self.environ)
            return self._registry

    @property
    def builder(self) -> Builder:
        registry = self.registry
        with self._parts_lock:
            if self._builder is None:
                self._builder = select(self.environ.get("PRIVACY_OCI_BUILDER"), registry)
            return self._builder

    def image(self, service: Service) -> str:
        return self.catalogue.image(service)

    def setting_path(self, variable: str, default: str) -> Path:
        """A file named by an environment variable, relative to the project."""
        return self.root / (self.environ.get(variable) or default)

    def source_dir(self, service: Service) -> Path:
        return self.work_dir / "src" / service.name

    # -- facts ---------------------------------------------------------------
    @property
    def facts_gathered(self) -> bool:
        return self._plans is not None

    def own_inputs(self, service: Service) -> str:
        return decide_stale.own_inputs_digest(service.dockerfile.read_bytes(), service.platforms,
                                              service.build_args, service.attestations)

    def bases(self, service: Service) -> dict[str, str]:
        """The digest each base image of the service's Dockerfile has now."""
        return {image: self._base_digest(image)
                for image in dockerfile.base_images(service.dockerfile.read_text(), dict(service.build_args))}

    def _base_digest(self, image: str) -> str:
        """Looked up once per run, however many services build on it."""
        with self._bases_lock:
            pending = self._base_digests.get(image)
            if pending is None:
                pending = self._base_digests[image] = Future()
                owner = True
            else:
                owner = False
        if owner:
            try:
                manifest = self.registry.manifest(*normalize_image(image), head=True)
                if manifest is None:
                    raise StageFailed(f"base image {image} is not in its registry")
                pending.set_result(manifest.digest)
            except (StageFailed, RegistryError) as error:
                pending.set_exception(error)
        return pending.result()

    def commit(self, service: Service) -> str:
        """The upstream commit this run works on; all services' refs are
        resolved together, once."""
        return self._resolution(service)[0]

    def version(self, service: Service) -> str | None:
        """The upstream tag this run builds, when the service tracks tags."""
        return self._resolution(service)[1] if service.ref_kind != "branch" else None

    def _resolution(self, service: Service) -> tuple[str, str]:
        resolution = self._resolve_upstreams().result()[service.name]
        if isinstance(resolution, upstream.UpstreamError):
            raise StageFailed(f"upstream {service.upstream} ({service.ref_kind} {service.ref}): {resolution}")
        return resolution

    def plan(self, service: Service) -> decide_stale.ServicePlan:
        """What is pending for ``service``, as decided at the start of the
        run. Plans of all services are made together, concurrently."""
        with self._plans_lock:
            if self._plans is None:
                self._resolve_upstreams()  # meanwhile the threads look up base images
                services = self.catalogue.services
                with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_REGISTRY_CHECKS, len(services))) as pool:
                    self._plans = dict(zip((s.name for s in services),
                                           pool.map(self._plan_or_error, services)))
        plan = self._plans[service.name]
        if isinstance(plan, StageFailed):
            raise plan
        return plan

    def _resolve_upstreams(self) -> Future:
        """All services' refs, resolved once, in the background."""
        with self._commits_lock:
            if self._commits is None:
                self._commits = future = Future()
                requests = {s.name: (s.upstream, s.ref_kind, s.ref) for s in self.catalogue.services}

                def resolve():
                    try:
                        future.set_result(upstream.resolve_all(requests))
                    except BaseException as error:  # never leave the waiting threads hanging
                        future.set_exception(StageFailed(f"upstreams could not be checked: {error}"))
                threading.Thread(target=resolve, daemon=True).start()
            return self._commits

    def _plan_or_error(self, service: Service):
        try:
            own, bases = self.own_inputs(service), self.bases(service)
            commit, version = self.commit(service), self.version(service)
            inputs = decide_stale.build_inputs_digest(own, bases)
            reasons = decide_stale.stale_reasons(service.published_commit, service.published_inputs,
                                                 dict(service.published_bases), commit, own, bases)
            if reasons:
                say(f"{service.name}: to publish: {'; '.join(reasons)}")
            facts = dict(service=service.name, commit=commit, inputs=inputs,
                         platforms=service.platforms, version=version, bases=tuple(bases.items()))
            if not reasons:
                return decide_stale.plan(recorded=True, published_platforms=(), index_published=True, **facts)
            if self.index_published(service, commit, inputs):
                return decide_stale.plan(recorded=False, published_platforms=(), index_published=True, **facts)
            published = [p for p in service.platforms if self.platform_manifest(service, commit, inputs, p)]
            return decide_stale.plan(recorded=False, published_platforms=published, index_published=False,
                                     **facts)
        except StageFailed as error:
            return error
        except RegistryError as error:
            return StageFailed(f"registry: {error}")

    def index_published(self, service: Service, commit: str, inputs: str) -> bool:
        """Whether the registry's ``latest`` index was made for this build key."""
        index = self.registry.manifest(self.image(service), "latest")
        if index is None:
            return False
        return decide_stale.index_matches(index.json().get("annotations"), commit, inputs)

    def platform_manifest(self, service: Service, commit: str, inputs: str,
                          platform: str) -> PlatformManifest | None:
        tag = decide_stale.platform_tag(commit, inputs, platform)
        manifest = self.registry.manifest(self.image(service), tag)
        if manifest is None:
            return None
        entries = tuple(manifest.json().get("manifests", ())) if manifest.media_type in INDEX_TYPES else ()
        return PlatformManifest(platform, manifest.digest, manifest.media_type, manifest.size, entries)

    def pending(self, service: Service, check) -> bool:
        """Whether ``check(plan)`` says work is pending for ``service``. When
        the facts cannot be gathered the work is pending: the task runs, and
        its action reports why."""
        try:
            return check(self.plan(service))
        except StageFailed:
            return True

    def uptodate(self, check, service: Service | None = None):
        """An ``uptodate`` callable for doit: true when ``check(plan)`` finds
        nothing pending for ``service``, or for any service when None."""
        services = [service] if service else self.catalogue.services
        return lambda: not any(self.pending(s, check) for s in services)

    # -- outcomes ------------------------------------------------------------
    def record_built(self, service: Service, platform: str, digest: str) -> None:
        with self._outcomes_lock:
            self.outcomes[service.name].built[platform] = digest

    def record_index(self, service: Service, digest: str) -> None:
        with self._outcomes_lock:
            self.outcomes[service.name].index_digest = digest

    def record_recorded(self, name: str) -> None:
        with self._outcomes_lock:
            self.outcomes[name].recorded = True

    def failures(self, service: Service) -> dict[str, str]:
        with self._outcomes_lock:
            return dict(self.outcomes[service.name].failures)

    def attempt(self, service: Service, task_name: str, action, after=()) -> bool:
        """Run one service's stage so that its failure is the service's
        outcome, not the end of the run: it is reported at once and in the
        summary, the service's ``verify`` task fails the run, and every other
        service still runs to the end and is recorded. A stage whose
        prerequisite (a task named in ``after``) failed is skipped."""
        failed = [name for name in after if name in self.failures(service)]
        if failed:
            say(f"skipped {task_name}: {failed[0]} failed")
            return True
        try:
            action()
        except (StageFailed, RegistryError, upstream.UpstreamError, BuildError) as error:
            self._report_failure(service, task_name, str(error))
        except Exception as error:  # a bug must not stop the other services either
            self._report_failure(service, task_name, "".join(
                traceback.format_exception(type(error), error, error.__traceback__)).strip())
        return True

    def _report_failure(self, service, stage, message):
        with self._outcomes_lock:
            self.outcomes[service.name].failures[stage] = message
        say(f"FAILED {stage}: {message}")

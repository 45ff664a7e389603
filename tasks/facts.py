"""The facts a run gathers about its services from upstream git and the
registry, each looked up at most once per run, and the plans made of them.

Task creators only read the catalogue (no network); the facts are gathered
the first time an ``uptodate`` check or an action asks for them, for all
services at once and concurrently. Tasks share values through here, never
through doit's ``getargs`` (which breaks when the producer is skipped).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from functools import partial

from . import decide_stale, dockerfile, failure_memory, names, upstream
from .builders import PlatformManifest
from .catalogue import Catalogue, Service
from .errors import StageFailed
from .git import GitError
from .ledger import say
from .registry import INDEX_TYPES, RegistryClient, RegistryError, normalize_image
from .settings import Settings

MAX_CONCURRENT_REGISTRY_CHECKS = 16
NETWORK_HINT = (" (a run needs upstream's git server and the registries: check the network, the URLs in "
                "services.yml and the credentials; nothing was built or recorded, the next run tries again)")


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


class Facts:
    def __init__(self, catalogue: Catalogue, settings: Settings, registry: Callable[[], RegistryClient]) -> None:
        """``registry()`` gives the run's registry client, made when first needed."""
        self.catalogue = catalogue
        self.settings = settings
        self.now = settings.clock()   # one clock for every decision of the run
        self._registry = registry
        # One lock per memo: plans are made in threads that resolve commits
        # and look up base images, each under its own lock.
        self._commits_lock = threading.Lock()
        self._plans_lock = threading.Lock()
        self._bases_lock = threading.Lock()
        self._base_digests: dict[str, Future[str]] = {}
        self._commits: dict[str, Future[tuple[str, str] | GitError]] = {}
        self._plans: dict[str, decide_stale.ServicePlan | StageFailed] = {}
        self._scope: set[str] | None = None
        # A run says why a service failed as it fails; a listing has only this.
        self.say_errors = True

    def limit_to(self, services: set[str]) -> None:
        """Gather facts for these services only, unless another is asked
        for: ``doit build:scribe`` does not wait for every other service's
        upstream and base images."""
        self._scope = set(services)

    @property
    def gathered(self) -> bool:
        return bool(self._plans)

    def planned(self) -> list[Service]:
        """The services whose plans this run made, in catalogue order."""
        return [s for s in self.catalogue.services if s.name in self._plans]

    def plan(self, service: Service) -> decide_stale.ServicePlan:
        """What is pending for ``service``, as decided at the start of the
        run. Plans of all services (in scope) are made together, concurrently."""
        with self._plans_lock:
            if service.name not in self._plans:
                wanted = [s for s in self.catalogue.services if s.name not in self._plans
                          and (self._scope is None or s.name in self._scope or s is service)]
                self._resolve_upstreams(wanted)  # meanwhile the threads look up base images
                with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_REGISTRY_CHECKS, len(wanted))) as pool:
                    plans = pool.map(self._plan_or_error, wanted)
                    self._plans.update(zip((s.name for s in wanted), plans, strict=True))
        plan = self._plans[service.name]
        if isinstance(plan, StageFailed):
            raise plan
        return plan

    def pending(self, service: Service, check: Callable[[decide_stale.ServicePlan], bool]) -> bool:
        """Whether ``check(plan)`` says work is pending for ``service``. When
        the facts cannot be gathered the work is pending: the task runs, and
        its action reports why."""
        try:
            return check(self.plan(service))
        except StageFailed:
            return True

    def upstream_now(self, service: Service) -> str:
        """The commit the service's ref points at now, asked afresh (not the
        one this run resolved at its start)."""
        try:
            return upstream.resolve(service.upstream, service.ref_kind, service.ref, self.settings.environ)[0]
        except GitError as error:
            raise StageFailed(f"upstream {service.upstream} ({service.ref_kind} {service.ref}): {error}") from None

    def index_published(self, service: Service, commit: str, inputs: str) -> bool:
        """Whether the registry's ``latest`` index was made for this build key."""
        index = self._registry().manifest(self.catalogue.image(service), names.LATEST)
        if index is None:
            return False
        return decide_stale.index_matches(index.json().get("annotations"), commit, inputs)

    def platform_manifest(self, service: Service, commit: str, inputs: str,
                          platform: str) -> PlatformManifest | None:
        tag = names.platform_tag(commit, inputs, platform)
        manifest = self._registry().manifest(self.catalogue.image(service), tag)
        if manifest is None:
            return None
        entries = tuple(manifest.json().get("manifests", ())) if manifest.media_type in INDEX_TYPES else ()
        return PlatformManifest(platform, manifest.digest, manifest.media_type, manifest.size, entries)

    def _plan_or_error(self, service: Service) -> decide_stale.ServicePlan | StageFailed:
        """The service's plan, or the StageFailed saying, once and on
        stderr, what could not be reached or read."""
        try:
            return self._plan(service)
        except StageFailed as error:
            failure = StageFailed(f"cannot decide what to do: {error}")
            if self.say_errors:
                say(f"{service.name}: {failure}")
            return failure

    def _plan(self, service: Service) -> decide_stale.ServicePlan:
        ignore = service.ignore_file
        own = decide_stale.own_inputs_digest(service.dockerfile.read_bytes(), service.platforms,
                                             service.build_args, service.attestations,
                                             ignore.read_bytes() if ignore else None)
        bases, (commit, version) = self._lookups(service)
        inputs = decide_stale.build_inputs_digest(own, bases)
        reasons = decide_stale.stale_reasons(service.published, commit, own, bases)
        decide = partial(decide_stale.plan, service=service.name, commit=commit, inputs=inputs,
                         platforms=service.platforms, version=version if service.ref_kind != "branch" else None,
                         bases=tuple(bases.items()))
        if not reasons:
            return decide(recorded=True, published_platforms=(), index_published=True)
        try:
            if self.index_published(service, commit, inputs):
                say(f"{service.name}: to record: {commit[:names.SHORT_COMMIT]} is published, "
                    "services.yml does not record it yet")
                return decide(recorded=False, published_platforms=(), index_published=True)
            say(f"{service.name}: to publish: {'; '.join(reasons)}")
            published = [p for p in service.platforms if self.platform_manifest(service, commit, inputs, p)]
            held = self._held_back(service, commit, inputs, [p for p in service.platforms if p not in published])
        except RegistryError as error:
            raise StageFailed(f"the image registry cannot say what is published: {error}") from None
        return decide(recorded=False, published_platforms=published, index_published=False, held=held)

    def _lookups(self, service: Service) -> tuple[dict[str, str], tuple[str, str]]:
        """The base images' digests and the upstream commit, both asked
        for; when either fails, StageFailed names each that did."""
        problems = []
        try:
            bases = self._bases(service)
        except StageFailed as error:
            problems.append(str(error))
        try:
            resolution = self._resolution(service)
        except StageFailed as error:
            problems.append(str(error))
        if problems:
            raise StageFailed("; ".join(problems) + NETWORK_HINT)
        return bases, resolution

    def failure(self, service: Service, commit: str, inputs: str, platform: str) -> decide_stale.Failure | None:
        """The failed attempt remembered for this platform and build key."""
        return failure_memory.read(self._registry(), self.catalogue.image(service),
                                   names.failure_tag(commit, inputs, platform))

    def _held_back(self, service: Service, commit: str, inputs: str, platforms: Iterable[str]
                   ) -> list[tuple[str, decide_stale.Failure]]:
        """(platform, failure) of the platforms a remembered failure holds
        back on this run, each said on stderr with when it is tried next."""
        held = []
        for platform in platforms:
            failure = self.failure(service, commit, inputs, platform)
            if failure is not None and decide_stale.held_back(failure, self.now, service.start_check.digest(),
                                                              self.settings.retry):
                held.append((platform, failure))
                say(f"{service.name}: held back: {platform} failed its {failure.stage} "
                    f"{failure.attempts} time(s) in a row, last at {_when(failure.attempted_at)} "
                    f"({failure.reason[:160]}); next try after {_when(failure.next_try)}, "
                    "or now with PRIVACY_OCI_RETRY=true")
        return held

    def build_args(self, service: Service) -> tuple[tuple[str, str], ...]:
        """The build arguments of every build of ``service`` (and of the
        lookup of its base images): ``DOCKER_HUB``, when PRIVACY_OCI_DOCKER_HUB
        names a Docker Hub mirror such as GitLab's Dependency Proxy, and its
        own from services.yml, which win."""
        mirror = (("DOCKER_HUB", self.settings.docker_hub),) if self.settings.docker_hub else ()
        own = dict(service.build_args)
        return (*((name, value) for name, value in mirror if name not in own), *service.build_args)

    def base_image_names(self) -> set[str]:
        """Every base image the catalogue's recipes name (no lookup)."""
        return {image for service in self.catalogue.services
                for image in dockerfile.base_images(service.dockerfile.read_text(), dict(self.build_args(service)))}

    def _bases(self, service: Service) -> dict[str, str]:
        """The digest each base image of the service's Dockerfile has now."""
        return {image: self._base_digest(image)
                for image in dockerfile.base_images(service.dockerfile.read_text(), dict(self.build_args(service)))}

    def _base_digest(self, image: str) -> str:
        """Looked up once per run, however many services build on it."""
        with self._bases_lock:
            pending = self._base_digests.get(image)
            owner = pending is None
            if pending is None:
                pending = self._base_digests[image] = Future()
        if owner:
            repository, reference = normalize_image(image)
            try:
                manifest = self._registry().manifest(repository, reference, head=True)
                if manifest is None:
                    raise StageFailed(f"base image {image} is not in its registry ({repository.split('/')[0]})")
                pending.set_result(manifest.digest)
            except RegistryError as error:
                pending.set_exception(StageFailed(f"base image {image} cannot be looked up: {error}"))
            except StageFailed as error:
                pending.set_exception(error)
        return pending.result()

    def _resolution(self, service: Service) -> tuple[str, str]:
        """The upstream commit this run works on, and the ref's name."""
        resolution = self._commits[service.name].result()
        if isinstance(resolution, GitError):
            raise StageFailed(f"upstream {service.upstream} ({service.ref_kind} {service.ref}) cannot be asked "
                              f"for its commit: {resolution}")
        return resolution

    def _resolve_upstreams(self, services: list[Service]) -> None:
        """The refs of ``services``, resolved once each, together, in the
        background."""
        with self._commits_lock:
            requests = {s.name: (s.upstream, s.ref_kind, s.ref) for s in services if s.name not in self._commits}
            futures = {name: self._commits.setdefault(name, Future()) for name in requests}
        if not requests:
            return

        def resolve() -> None:
            try:
                results = upstream.resolve_all(requests, self.settings.environ)
            except BaseException as error:  # never leave the waiting threads hanging
                results = {name: GitError(f"upstreams could not be checked: {error}") for name in requests}
            for name, future in futures.items():
                future.set_result(results[name])
        threading.Thread(target=resolve, daemon=True).start()

"""The run: the catalogue and the settings, the parts that talk to the world
(made when first needed, so that ``doit list`` makes none: the registry,
the builder, the container runtime, the catalogue's remote), the facts
gathered about the services, and the ledger of what became of each."""
from __future__ import annotations

import threading
from pathlib import Path

from .builders import Builder, select
from .catalogue import Catalogue, Service
from .facts import Facts
from .ledger import Ledger
from .registry import DOCKER_HUB, RegistryClient, normalize_image, split_reference
from .registry_auth import Credential
from .registry_auth import load as load_credentials
from .remote import CatalogueRemote
from .runtimes import Runtime
from .runtimes import select as select_runtime
from .settings import Settings

# What `docker login` and `buildah login` call Docker Hub.
DOCKER_HUB_LOGIN = "docker.io"


class Run:
    def __init__(self, root: Path, catalogue: Catalogue, settings: Settings) -> None:
        self.root = Path(root)
        self.catalogue = catalogue
        self.settings = settings
        self.work_dir = self.root / ".work"
        self.ledger = Ledger(s.name for s in catalogue.services)
        self.facts = Facts(catalogue, settings, lambda: self.registry)
        self._parts_lock = threading.Lock()
        self._registry: RegistryClient | None = None
        self._builder: Builder | None = None
        self._runtime: Runtime | None = None
        self._remote: CatalogueRemote | None = None

    @property
    def registry(self) -> RegistryClient:
        with self._parts_lock:
            if self._registry is None:
                self._registry = RegistryClient(load_credentials(self.settings, self.prefix_host))
            return self._registry

    @property
    def builder(self) -> Builder:
        """The builder, made (and, in a CI job, set up) when the first build
        asks for it: a job that builds nothing sets nothing up."""
        registry = self.registry
        with self._parts_lock:
            if self._builder is None:
                builder = select(self.settings, registry)
                if self.settings.prepare_builder:
                    builder.prepare(self.logins(registry))
                self._builder = builder
            return self._builder

    @property
    def runtime(self) -> Runtime:
        """The container runtime the start checks run images with: the one
        that goes with the builder, unless PRIVACY_OCI_RUNTIME says."""
        builder = self.builder
        with self._parts_lock:
            if self._runtime is None:
                self._runtime = select_runtime(self.settings, builder.runtime)
            return self._runtime

    @property
    def remote(self) -> CatalogueRemote:
        with self._parts_lock:
            if self._remote is None:
                self._remote = CatalogueRemote(self.root, self.catalogue.path, self.settings, self.work_dir)
            return self._remote

    def logins(self, registry: RegistryClient) -> list[tuple[str, Credential]]:
        """(host, credential) a builder logs in to: the image registry, and
        each registry base images come from that has credentials configured
        (Docker Hub's from DOCKER_AUTH_CONFIG, GitLab's Dependency Proxy)."""
        hosts = [self.prefix_host, *{split_reference(normalize_image(image)[0])[0]
                                     for image in self.facts.base_image_names()}]
        logins = []
        for host in dict.fromkeys(hosts):
            credential = registry.credentials.for_host(host)
            if credential:
                logins.append((DOCKER_HUB_LOGIN if host == DOCKER_HUB else host, credential))
        return logins

    @property
    def prefix_host(self) -> str:
        """The registry the images go to."""
        return split_reference(self.catalogue.image_prefix)[0]

    def image(self, service: Service) -> str:
        return self.catalogue.image(service)

    def path(self, relative: str) -> Path:
        """A file the settings name, relative to the project."""
        return self.root / relative

    def source_dir(self, service: Service) -> Path:
        return self.work_dir / "src" / service.name

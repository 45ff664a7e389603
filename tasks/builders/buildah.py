"""The daemonless builder: buildah, as root or rootless, with no engine.
buildah 1.28 makes no SBOM or provenance attestations; its images have none.

Each platform is built with registry build cache and pushed under its tag
with ``--digestfile`` (``build`` in 1.28 has none).

Images are built and pushed in Docker's format: the OCI image config has no
field for ``HEALTHCHECK``, ``SHELL`` or ``ONBUILD``, and buildah drops them
from an OCI image with no more than a warning (and from a Docker-format
image pushed as OCI without one). The service's index is an OCI index all
the same; it may list manifests of either format.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..registry import RegistryClient, is_loopback, split_reference
from ..registry_auth import Credential
from . import Builder, BuildRequest, run

if TYPE_CHECKING:
    from ..settings import Settings


class BuildahBuilder(Builder):
    runtime = "podman"

    def __init__(self, registry: RegistryClient, settings: Settings) -> None:
        super().__init__(registry, settings)
        self.executable = settings.buildah
        # A separate store (PRIVACY_OCI_BUILDAH_ROOT) keeps runs apart, as on a fresh runner.
        root = settings.buildah_root
        self.store: list[str] = ["--root", f"{root}/root", "--runroot", f"{root}/run"] if root else []
        # STORAGE_DRIVER as a flag: buildah 1.28 ignores the variable.
        if settings.buildah_storage_driver:
            self.store += ["--storage-driver", settings.buildah_storage_driver]
        self.isolation = settings.buildah_isolation

    @classmethod
    def works_here(cls, settings: Settings) -> bool:
        return shutil.which(settings.buildah) is not None

    def prepare(self, logins: Sequence[tuple[str, Credential]]) -> None:
        for registry_host, credential in logins:
            run([self.executable, *self.store, "login", "--username", credential.user, "--password-stdin",
                 *_tls_flags(f"{registry_host}/x"), registry_host], "buildah login", self.settings.environ,
                stdin=credential.password)

    def build(self, request: BuildRequest, work_dir: Path) -> str:
        tls = _tls_flags(request.image)
        command = [self.executable, *self.store, "build",
                   "--platform", request.platform,
                   "--format", "docker",
                   "--isolation", self.isolation,
                   "--layers",
                   "--cache-from", request.cache_ref,
                   "--cache-to", request.cache_ref,
                   "--file", str(request.dockerfile),
                   *(["--ignorefile", str(request.ignore_file)] if request.ignore_file else []),
                   *tls]
        for name, value in request.build_args:
            command += ["--build-arg", f"{name}={value}"]
        for name, value in request.labels:
            command += ["--label", f"{name}={value}"]
        command += ["--tag", request.image, str(request.context)]
        run(command, "buildah build", self.settings.environ, builds=True)
        work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work_dir) as scratch:
            digest_file = Path(scratch, "digest")
            run([self.executable, *self.store, "push", "--format", "v2s2",
                 "--digestfile", str(digest_file), *tls,
                 request.image, f"docker://{request.image}"], "buildah push", self.settings.environ)
            return digest_file.read_text().strip()


def _tls_flags(image: str) -> list[str]:
    host, _ = split_reference(image)
    return ["--tls-verify=false"] if is_loopback(host) else []

"""The daemonless builder: buildah, as root or rootless, with no engine.
buildah 1.28 makes no SBOM or provenance attestations; its images have none.

Each platform is built with registry build cache and pushed under its tag
with ``--digestfile``. buildah 1.28 cannot put annotations on an index, so
the index is assembled from the pushed manifests and put over the
distribution API.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..registry import RegistryClient, image_index, is_loopback, split_reference
from . import Builder, BuildRequest, IndexRequest, run


class BuildahBuilder(Builder):
    name = "buildah"

    def __init__(self, registry: RegistryClient, environ=os.environ):
        self.registry = registry
        self.executable = environ.get("PRIVACY_OCI_BUILDAH", "buildah")
        # A separate store (PRIVACY_OCI_BUILDAH_ROOT) keeps runs apart, as on a fresh runner.
        root = environ.get("PRIVACY_OCI_BUILDAH_ROOT")
        self.store = ["--root", f"{root}/root", "--runroot", f"{root}/run"] if root else []
        self.isolation = environ.get("BUILDAH_ISOLATION", "chroot")

    def build(self, request: BuildRequest, work_dir: Path) -> str:
        tls = _tls_flags(request.image)
        command = [self.executable, *self.store, "build",
                   "--platform", request.platform,
                   "--isolation", self.isolation,
                   "--layers",
                   "--cache-from", request.cache_ref,
                   "--cache-to", request.cache_ref,
                   "--file", str(request.dockerfile),
                   *tls]
        for name, value in request.build_args:
            command += ["--build-arg", f"{name}={value}"]
        for name, value in request.labels:
            command += ["--label", f"{name}={value}"]
        command += ["--tag", request.image, str(request.context)]
        run(command, "buildah build")
        work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work_dir) as scratch:
            digest_file = Path(scratch, "digest")
            run([self.executable, *self.store, "push", "--format", "oci",
                 "--digestfile", str(digest_file), *tls,
                 request.image, f"docker://{request.image}"], "buildah push")
            return digest_file.read_text().strip()

    def push_index(self, request: IndexRequest, work_dir: Path) -> str:
        body, media_type = image_index(request.manifests, dict(request.annotations))
        digest = None
        for tag in request.tags:
            digest = self.registry.put_manifest(request.repository, tag, body, media_type)
        return digest


def _tls_flags(image: str) -> list[str]:
    host, _ = split_reference(image)
    return ["--tls-verify=false"] if is_loopback(host) else []

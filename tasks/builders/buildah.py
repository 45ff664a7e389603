"""The daemonless builder: buildah, as root or rootless, with no engine.
buildah 1.28 makes no SBOM or provenance attestations; its images have none.

Each platform is built with registry build cache and pushed under its tag
with ``--digestfile``. buildah 1.28 cannot put annotations on an index, so
the index is assembled from the pushed manifests and put over the
distribution API.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from ..registry import OCI_INDEX, is_loopback, split_reference
from . import Builder, BuildRequest, IndexRequest, run


class BuildahBuilder(Builder):
    def __init__(self, registry, settings):
        super().__init__(registry, settings)
        self.executable = settings.buildah
        # A separate store (PRIVACY_OCI_BUILDAH_ROOT) keeps runs apart, as on a fresh runner.
        root = settings.buildah_root
        self.store = ["--root", f"{root}/root", "--runroot", f"{root}/run"] if root else []
        self.isolation = settings.buildah_isolation

    @classmethod
    def works_here(cls, settings) -> bool:
        return shutil.which(settings.buildah) is not None

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
        run(command, "buildah build", self.settings.environ)
        work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work_dir) as scratch:
            digest_file = Path(scratch, "digest")
            run([self.executable, *self.store, "push", "--format", "oci",
                 "--digestfile", str(digest_file), *tls,
                 request.image, f"docker://{request.image}"], "buildah push", self.settings.environ)
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


def image_index(manifests, annotations: dict) -> tuple[bytes, str]:
    """An OCI image index over platform manifests already in the repository
    (objects with platform 'os/arch[/variant]', digest, media_type, size, and
    the entries of a platform that was pushed as an index of its own)."""
    entries = []
    for manifest in manifests:
        if manifest.entries:  # the platform's image with its attestations
            entries.extend(manifest.entries)
            continue
        os_name, arch, *variant = manifest.platform.split("/")
        platform = {"architecture": arch, "os": os_name}
        if variant:
            platform["variant"] = variant[0]
        entries.append({"mediaType": manifest.media_type, "digest": manifest.digest,
                        "size": manifest.size, "platform": platform})
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries,
             "annotations": dict(sorted(annotations.items()))}
    return json.dumps(index, indent=2).encode(), OCI_INDEX

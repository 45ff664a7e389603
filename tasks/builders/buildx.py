"""The Docker buildx builder, the CI default: one ``docker buildx build`` per
platform, pushed under its tag, digest read from ``--metadata-file``.

BuildKit reads the recipe's ``<Dockerfile>.dockerignore`` beside it by
itself, in place of the context's ``.dockerignore``. It writes the image
config as moby/docker-image-spec's ``DockerOCIImage``: ``Healthcheck``,
``Shell`` and ``OnBuild`` beside the OCI fields, in either media type, so
the image output needs no format option to keep the recipe's instructions.

A CI job is set up as Docker documents multi-platform builds: QEMU handlers
for the other architectures, and a ``docker-container`` builder (the default
``docker`` driver exports no registry cache), on the BuildKit image pinned
here rather than the floating one buildx would pull."""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..registry import RegistryClient, is_loopback, split_reference
from ..registry_auth import Credential
from . import Builder, BuildError, BuildRequest, run

if TYPE_CHECKING:
    from ..settings import Settings

# BuildKit 0.32 and later push attestations as OCI artifacts, which the
# gitlab.com registry refuses for a new image (moby/buildkit#7007); the image
# output also opts out (oci-artifact=false) for when this pin moves on.
BUILDKIT_IMAGE = "moby/buildkit:v0.31.2"
BINFMT_IMAGE = "tonistiigi/binfmt:qemu-v10.2.3"
BUILDER_NAME = "privacy-oci"


class BuildxBuilder(Builder):
    def __init__(self, registry: RegistryClient, settings: Settings) -> None:
        super().__init__(registry, settings)
        self.docker = settings.docker

    @classmethod
    def works_here(cls, settings: Settings) -> bool:
        return (shutil.which(settings.docker) is not None
                and subprocess.run([settings.docker, "buildx", "version"], capture_output=True).returncode == 0)

    def build_command(self, request: BuildRequest, metadata_file: Path) -> list[str]:
        host, _ = split_reference(request.image)
        output = f"type=image,name={request.image},push=true,oci-artifact=false"
        if is_loopback(host):
            output += ",registry.insecure=true"
        command = [self.docker, "buildx", "build",
                   "--platform", request.platform,
                   "--file", str(request.dockerfile),
                   *(["--sbom=true", "--provenance=mode=max"] if request.attestations
                     # a plain single-platform manifest, for consumers that need one
                     else ["--sbom=false", "--provenance=false"]),
                   "--cache-from", f"type=registry,ref={request.cache_ref}",
                   "--cache-to", f"type=registry,ref={request.cache_ref},mode=max",
                   "--output", output,
                   "--metadata-file", str(metadata_file)]
        for name, value in request.build_args:
            command += ["--build-arg", f"{name}={value}"]
        for name, value in request.labels:
            command += ["--label", f"{name}={value}"]
        return command + [str(request.context)]

    def prepare(self, logins: Sequence[tuple[str, Credential]]) -> None:
        env = self.settings.environ
        run([self.docker, "run", "--privileged", "--rm", BINFMT_IMAGE, "--install", "arm64,arm"],
            "installing the QEMU handlers", env)
        run([self.docker, "buildx", "create", "--name", BUILDER_NAME, "--driver", "docker-container",
             "--driver-opt", f"image={BUILDKIT_IMAGE}", "--bootstrap", "--use"], "docker buildx create", env)
        for registry_host, credential in logins:
            run([self.docker, "login", "--username", credential.user, "--password-stdin", registry_host],
                "docker login", env, stdin=credential.password)

    def build(self, request: BuildRequest, work_dir: Path) -> str:
        work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work_dir) as scratch:
            metadata_file = Path(scratch, "metadata.json")
            # (it builds and pushes in one: a failed push counts as a failed build)
            run(self.build_command(request, metadata_file), "docker buildx build", self.settings.environ,
                builds=True)
            try:
                return str(json.loads(metadata_file.read_text())["containerimage.digest"])
            except (OSError, ValueError, KeyError):
                raise BuildError("docker buildx build wrote no image digest to its metadata file") from None

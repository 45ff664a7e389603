"""podman, daemonless: the runtime that goes with buildah, in the same kind
of job. With a store of its own next to buildah's (PRIVACY_OCI_BUILDAH_ROOT),
it pulls the image from the registry, as a consumer would."""
from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..registry import is_loopback, split_reference
from . import Runtime, which

if TYPE_CHECKING:
    from ..settings import Settings


# podman refuses a run root longer than this many characters.
RUN_ROOT_LIMIT = 50


def run_root_of(root: Path, temporary: str) -> Path:
    """podman's run root for the store ``root``: one per store, as its
    database remembers it; in the temporary folder where it fits within
    RUN_ROOT_LIMIT, else in /tmp."""
    name = "privacy-oci-" + hashlib.sha256(str(root).encode()).hexdigest()[:12]
    run_root = Path(temporary, name)
    return run_root if len(str(run_root)) <= RUN_ROOT_LIMIT else Path("/tmp", name)


class PodmanRuntime(Runtime):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.program = settings.podman
        self.store: list[str] = []
        if settings.buildah_root:
            root = Path(settings.buildah_root, "runtime")
            run_root = run_root_of(root, tempfile.gettempdir())
            self.store = ["--root", str(root), "--runroot", str(run_root)]
            # Run state, like /run's: gone when the run is over (every
            # container of a check is removed when the check ends).
            atexit.register(shutil.rmtree, run_root, ignore_errors=True)
        if settings.buildah_storage_driver:
            self.store += ["--storage-driver", settings.buildah_storage_driver]

    @classmethod
    def works_here(cls, settings: Settings) -> bool:
        return which(settings.podman, settings.environ)

    def command(self, *args: str) -> list[str]:
        return [self.program, *self.store, *args]

    def pull_options(self, image: str) -> list[str]:
        host, _ = split_reference(image)
        return ["--tls-verify=false"] if is_loopback(host) else []

    def remove_args(self) -> list[str]:
        return ["rm", "--force", "--time", "0"]

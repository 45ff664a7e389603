"""buildah as a fresh CI job has it: root, daemonless, an empty vfs store
of its own, and no registry credentials but those it is given."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


class BuildahStore:
    """``store(*args)`` runs ``buildah`` on the store under ``directory``,
    with an auth file of its own there (empty until a ``login``)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.auth_file = self.directory / "auth.json"
        self.directory.mkdir(parents=True, exist_ok=True)
        # buildah refuses a REGISTRY_AUTH_FILE that does not exist.
        self.auth_file.write_text('{"auths": {}}')
        self.env = {**os.environ, "REGISTRY_AUTH_FILE": str(self.auth_file)}

    def __call__(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(["buildah", "--root", str(self.directory / "root"),
                                 "--runroot", str(self.directory / "run"), "--storage-driver", "vfs",
                                 *args], env=self.env, input=input, capture_output=True, text=True,
                                timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"buildah {args[0]} exited {result.returncode}:\n{result.stderr}")
        return result

    def remove(self) -> None:
        """Release the store (vfs layers are plain directories)."""
        self("rm", "--all", check=False)
        shutil.rmtree(self.directory, ignore_errors=True)

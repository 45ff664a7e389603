"""A repository of this project's kind (dodo.py, services.yml, Dockerfiles),
with a bare remote the records are pushed to: what a maintainer's fork is."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from .upstreams import IDENTITY, git

PROJECT_ROOT = Path(__file__).resolve().parent.parent

HEADER = """\
# Stand-in catalogue for privacy-oci.
# Comments like this one must survive commit-hash.
image_prefix: {prefix}

services:
"""


WRITTEN_ABOVE = {"upstream", "branch", "tag", "tag_pattern", "platforms", "build_args"}


def services_yaml(prefix: str, services: dict[str, dict]) -> str:
    """services.yml text; each service: upstream, branch, platforms,
    optional build_args, with a comment per service."""
    text = HEADER.format(prefix=prefix)
    for name, settings in services.items():
        text += f"  # {name}: stand-in upstream\n  {name}:\n"
        text += f"    upstream: {settings['upstream']}\n"
        if "tag_pattern" in settings:
            text += f"    tag_pattern: {settings['tag_pattern']}\n"
        elif "tag" in settings:
            text += f"    tag: {settings['tag']}\n"
        else:
            text += f"    branch: {settings.get('branch', 'main')}\n"
        text += "    platforms:\n" + "".join(f"      - {p}\n" for p in settings["platforms"])
        if settings.get("build_args"):
            text += "    build_args:\n" + "".join(
                f'      {k}: "{v}"\n' for k, v in settings["build_args"].items())
        for key, value in settings.items():
            if key not in WRITTEN_ABOVE:   # any other field, in YAML's JSON form
                text += f"    {key}: {json.dumps(value)}\n"
    return text


class ConfigRepo:
    def __init__(self, directory: Path, remote: Path | None = None):
        """``remote``: a bare repository to seed (by default one of its own)."""
        self.directory = Path(directory)
        self.remote = Path(remote) if remote else self.directory / "remote.git"
        self.checkout = self.directory / "checkout"

    def create(self, prefix: str, services: dict[str, dict], dockerfiles: dict[str, str],
               whole_project: bool = False, extra_yaml: str = "") -> Path:
        """The remote, seeded with dodo.py (or, with ``whole_project``, every
        file of this project, CI files included), the stand-in catalogue and
        Dockerfiles; returns a fresh clone."""
        git("init", "--quiet", "--bare", "--initial-branch=main", str(self.remote))
        # Accept push options as GitLab does, and keep what was pushed with.
        git("--git-dir", str(self.remote), "config", "receive.advertisePushOptions", "true")
        hook = self.remote / "hooks" / "post-receive"
        hook.write_text('#!/bin/sh\ni=0\nwhile [ "$i" -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do\n'
                        '  eval "echo \\$GIT_PUSH_OPTION_$i" >> "$GIT_DIR/push-options.log"\n'
                        '  i=$((i + 1))\ndone\n')
        hook.chmod(0o755)
        source = self.directory / "seed"
        source.mkdir(parents=True)
        git("init", "--quiet", "--initial-branch=main", str(source))
        files = git("ls-files", cwd=PROJECT_ROOT).splitlines() if whole_project else ["dodo.py", ".gitignore"]
        for name in files:
            if (PROJECT_ROOT / name).is_file():
                (source / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(PROJECT_ROOT / name, source / name)
        (source / "services.yml").write_text(services_yaml(prefix, services) + extra_yaml)
        for name, text in dockerfiles.items():
            path = source / "Dockerfiles" / name / "Dockerfile"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", "--all", cwd=source)
        git(*IDENTITY, "commit", "--quiet", "--message", "Catalogue", cwd=source)
        git("push", "--quiet", str(self.remote), "HEAD:refs/heads/main", cwd=source)
        shutil.rmtree(source)
        return self.fresh_clone()

    def fresh_clone(self) -> Path:
        """A new clone of the remote, as a fresh CI job has: no doit state."""
        return self.clone(self.checkout)

    def clone(self, directory: Path) -> Path:
        """A clone of the remote at ``directory``: another job's checkout."""
        if directory.exists():
            shutil.rmtree(directory)
        git("clone", "--quiet", str(self.remote), str(directory))
        return directory

    def remote_log(self) -> list[str]:
        """Subjects of the remote's commits, newest first."""
        return git("--git-dir", str(self.remote), "log", "--format=%s", "main").splitlines()

    def push_options(self) -> list[str]:
        log = self.remote / "push-options.log"
        return log.read_text().split() if log.exists() else []

    def remote_file(self, path: str) -> str:
        return git("--git-dir", str(self.remote), "show", f"main:{path}")

    def remote_bytes(self, path: str) -> bytes:
        """A file of the remote's main branch, byte for byte."""
        return subprocess.run(["git", "--git-dir", str(self.remote), "show", f"main:{path}"],
                              check=True, capture_output=True).stdout

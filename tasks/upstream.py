"""Upstream git repositories: which commit a tracked ref points at, and the
source tree at exactly that commit."""
from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Mapping

from . import decide_stale, git
from .git import GitError

# Upstream checks of all services run at once, bounded.
MAX_CONCURRENT_CHECKS = 16


def resolve(url: str, ref_kind: str, ref: str, env: Mapping[str, str]) -> tuple[str, str]:
    """The commit ``ref`` points at upstream and the ref's name (for a tag
    pattern, the newest matching tag), asked with one ``git ls-remote`` (no
    clone). Annotated tags are peeled to their commit."""
    if ref_kind == "tag_pattern":
        found = git.ls_remote(url, ("--tags",), env)
        tags = [name[len("refs/tags/"):] for name in found if not name.endswith("^{}")]
        name = decide_stale.newest_tag(tags, ref)
        if name is None:
            raise GitError(f"no tag matches {ref!r} upstream")
    else:
        name = ref
        refname = f"refs/{'heads' if ref_kind == 'branch' else 'tags'}/{ref}"
        found = git.ls_remote(url, (refname, f"{refname}^{{}}"), env)
    refname = f"refs/{'heads' if ref_kind == 'branch' else 'tags'}/{name}"
    commit = found.get(f"{refname}^{{}}") or found.get(refname)
    if not commit:
        raise GitError(f"{ref_kind} {ref!r} not found upstream")
    return commit, name


def resolve_all(requests: dict[str, tuple[str, str, str]], env: Mapping[str, str]
                ) -> dict[str, tuple[str, str] | GitError]:
    """Resolve ``{name: (url, ref_kind, ref)}`` concurrently; each value is
    (commit, ref name) or the GitError for that name, so one bad upstream
    does not stop the others."""
    def one(item):
        name, (url, kind, ref) = item
        try:
            return name, resolve(url, kind, ref, env)
        except GitError as error:
            return name, error
    if not requests:
        return {}
    with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_CHECKS, len(requests))) as pool:
        return dict(pool.map(one, requests.items()))


def checkout(url: str, commit: str, directory: Path, env: Mapping[str, str]) -> Path:
    """Make ``directory`` hold the upstream tree at exactly ``commit``."""
    directory = Path(directory)
    if directory.exists() and git.head_of(directory, env) == commit:
        return directory
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    git.shallow_checkout(url, commit, directory, env)
    return directory

"""Upstream git repositories: which commit a tracked ref points at, and the
source tree at exactly that commit."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

from . import decide_stale, git
from .git import GitError
from .ledger import say

# Upstream checks of all services run at once, bounded.
MAX_CONCURRENT_CHECKS = 16
PATTERN_SECONDS = 5
MAX_TAGS_NAMED = 5   # ignored tags said by name, per upstream
MATCHER = ("import json, re, sys\n"
           "pattern, tags = json.load(sys.stdin)\n"
           "matcher = re.compile(pattern)\n"
           "print(json.dumps([tag for tag in tags if matcher.fullmatch(tag)]))")


def resolve(url: str, ref_kind: str, ref: str, env: Mapping[str, str]) -> tuple[str, str]:
    """The commit ``ref`` points at upstream and the ref's name (for a tag
    pattern, the newest matching tag), asked with one ``git ls-remote`` (no
    clone). Annotated tags are peeled to their commit."""
    if ref_kind == "tag_pattern":
        found = git.ls_remote(url, ("--tags",), env)
        names = [name[len("refs/tags/"):] for name in found if not name.endswith("^{}")]
        tags = [tag for tag in names if decide_stale.OCI_TAG.fullmatch(tag)]
        for ignored in sorted(set(names) - set(tags))[:MAX_TAGS_NAMED]:
            shown = ignored if len(ignored) <= 80 else ignored[:80] + "…"
            say(f"upstream {url}: tag {shown!r} ignored: an image tag cannot be named so")
        name = decide_stale.newest_tag(matching(tags, ref))
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


def matching(tags: list[str], pattern: str) -> list[str]:
    """The tags ``pattern`` matches whole: 'semver', or a regular expression
    from services.yml, run against the upstream's tag names in a process of
    its own that is stopped after PATTERN_SECONDS: a pattern that backtracks
    on a long tag name an upstream chose cannot hang the run."""
    if pattern == "semver":
        return [tag for tag in tags if decide_stale.SEMVER.fullmatch(tag)]
    try:
        result = subprocess.run([sys.executable, "-I", "-c", MATCHER], input=json.dumps([pattern, tags]),
                                capture_output=True, text=True, timeout=PATTERN_SECONDS)
    except subprocess.TimeoutExpired:
        raise GitError(f"tag_pattern {pattern!r} took more than {PATTERN_SECONDS} s over upstream's "
                       f"{len(tags)} tags: make it simpler (no repeat inside a repeat)") from None
    if result.returncode != 0:
        raise GitError(f"tag_pattern {pattern!r} could not be matched: {result.stderr.strip()[-200:]}")
    return cast(list[str], json.loads(result.stdout))   # the matcher prints a list of the tags given


def resolve_all(requests: dict[str, tuple[str, str, str]], env: Mapping[str, str]
                ) -> dict[str, tuple[str, str] | GitError]:
    """Resolve ``{name: (url, ref_kind, ref)}`` concurrently; each value is
    (commit, ref name) or the GitError for that name, so one bad upstream
    (whatever it sends) does not stop the others."""
    def one(item: tuple[str, tuple[str, str, str]]) -> tuple[str, tuple[str, str] | GitError]:
        name, (url, kind, ref) = item
        try:
            return name, resolve(url, kind, ref, env)
        except GitError as error:
            return name, error
        except Exception as error:  # an upstream's data the code did not expect: that service's failure
            return name, GitError(f"its refs could not be read: {type(error).__name__}: {str(error)[:200]}")
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

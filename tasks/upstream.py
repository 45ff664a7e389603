"""Talking to upstream git repositories: which commit a ref points at, and the
source tree at exactly that commit."""
from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import decide_stale

# Upstream checks of all services run at once, bounded.
MAX_CONCURRENT_CHECKS = 16
NETWORK_TIMEOUT_SECONDS = 120
# Never let git stop to ask for a password in an unattended job.
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "SSH_ASKPASS": "true",
           # Only plain transports, whatever a URL asks for (no ext::, fd::).
           "GIT_ALLOW_PROTOCOL": "https:http:ssh:git:file"}


class UpstreamError(Exception):
    """An upstream that cannot be reached, or a ref it does not have."""


def _git(*args, cwd=None) -> str:
    """Run git with an argument list. Plain subprocess rather than
    gitpython: a hundred concurrent ls-remote calls pay no start-up cost."""
    try:
        result = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV},
                                capture_output=True, text=True, timeout=NETWORK_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise UpstreamError(f"git {args[0]} did not answer within {NETWORK_TIMEOUT_SECONDS} s") from None
    if result.returncode != 0:
        detail = result.stderr.strip()
        raise UpstreamError(detail.splitlines()[-1] if detail else f"git {args[0]} exited {result.returncode}")
    return result.stdout.strip()


def resolve(url: str, ref_kind: str, ref: str) -> tuple[str, str]:
    """The commit ``ref`` points at upstream and the ref's name (for a tag
    pattern, the newest matching tag), asked with one ``git ls-remote`` (no
    clone). Annotated tags are peeled to their commit."""
    if ref_kind == "tag_pattern":
        output = _git("ls-remote", "--tags", "--", url)
    else:
        refname = f"refs/{'heads' if ref_kind == 'branch' else 'tags'}/{ref}"
        output = _git("ls-remote", "--", url, refname, f"{refname}^{{}}")
    found = dict(reversed(line.split("\t", 1)) for line in output.splitlines() if "\t" in line)
    if ref_kind == "tag_pattern":
        tags = [name[len("refs/tags/"):] for name in found if not name.endswith("^{}")]
        name = decide_stale.newest_tag(tags, ref)
        if name is None:
            raise UpstreamError(f"no tag matches {ref!r} upstream")
    else:
        name = ref
    refname = f"refs/{'heads' if ref_kind == 'branch' else 'tags'}/{name}"
    commit = found.get(f"{refname}^{{}}") or found.get(refname)
    if not commit:
        raise UpstreamError(f"{ref_kind} {ref!r} not found upstream")
    return commit, name


def resolve_all(requests: dict[str, tuple[str, str, str]]) -> dict[str, tuple[str, str] | UpstreamError]:
    """Resolve ``{name: (url, ref_kind, ref)}`` concurrently; each value is
    (commit, ref name) or the UpstreamError for that name, so one bad upstream
    does not stop the others."""
    def one(item):
        name, (url, kind, ref) = item
        try:
            return name, resolve(url, kind, ref)
        except UpstreamError as error:
            return name, error
    if not requests:
        return {}
    with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_CHECKS, len(requests))) as pool:
        return dict(pool.map(one, requests.items()))


def checkout(url: str, commit: str, directory: Path) -> Path:
    """Make ``directory`` hold the upstream tree at exactly ``commit``, fetched
    shallowly. The URL is never written into the checkout's git config."""
    directory = Path(directory)
    if directory.exists() and current_commit(directory) == commit:
        return directory
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    _git("init", "--quiet", str(directory))
    _git("fetch", "--depth", "1", "--no-tags", "--quiet", "--", url, commit, cwd=directory)
    _git("-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit, cwd=directory)
    return directory


def current_commit(directory: Path) -> str | None:
    if not (Path(directory) / ".git").exists():  # else git would answer for an enclosing repository
        return None
    try:
        return _git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", cwd=directory)
    except UpstreamError:  # no repository, no commit yet: treated alike
        return None

"""Running git: one environment policy and one error type for every git
command privacy-oci runs, from the upstream checks to pushing the records.

The policy: git never stops to ask for anything (an unattended job would
hang), inherits no credential helper (a CI runner's helper hands out the job
token), and speaks only plain transports whatever a URL asks for (no ext::,
no fd::). Credentials are given only on purpose, to the record's push, by an
askpass helper that reads them from the environment: never on a command
line, in a URL or in git config.

Upstream checks run git as a plain subprocess, so a hundred concurrent
``ls-remote`` calls pay no start-up cost; the record's repository work
goes through GitPython (``Repository``). A push with a token goes out of a
scratch repository that shares the checkout's objects but none of its
configuration, nor the user's or the system's: a CI runner points the
checkout's credentials at its job token (a URL rewrite in a config the
checkout includes, or a credential helper), and git would ask those before
the askpass helper.
"""
from __future__ import annotations

import stat
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal, overload
from urllib.parse import urlsplit, urlunsplit

from .errors import StageFailed

ALLOWED_PROTOCOLS = "https:http:ssh:git:file"
# Where a fetch with the token keeps the remote branch in the scratch repository.
FETCHED = "refs/privacy-oci/fetched"
NETWORK_TIMEOUT_SECONDS = 120
ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "$PRIVACY_OCI_GIT_USER" ;;
  *) printf '%s\\n' "$PRIVACY_OCI_GIT_TOKEN" ;;
esac
"""


# What a push or a fetch with a token authenticates with: the askpass
# helper, the user and the token.
Askpass = tuple[Path, str, str]


class GitError(StageFailed):
    """A git command failed, or a repository lacks what was asked of it."""


def environment(base: Mapping[str, str], credentials: Askpass | None = None,
                own_helpers: bool = False) -> dict[str, str]:
    """``base`` under the policy; ``credentials`` (askpass helper, user,
    token) are what the record's push authenticates with; ``own_helpers``
    keeps the credential helpers of a maintainer's own git set-up, for a
    record pushed without a token."""
    env = {**base, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "SSH_ASKPASS": "true",
           "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS}
    if not own_helpers:
        # An empty credential.helper in the command-line scope, which git
        # reads last, clears every helper configured before it.
        count = int(base.get("GIT_CONFIG_COUNT") or 0)
        env.update({"GIT_CONFIG_COUNT": str(count + 1), f"GIT_CONFIG_KEY_{count}": "credential.helper",
                    f"GIT_CONFIG_VALUE_{count}": ""})
    if credentials:
        helper, user, token = credentials
        env.update(GIT_ASKPASS=str(helper), PRIVACY_OCI_GIT_USER=user, PRIVACY_OCI_GIT_TOKEN=token)
    return env


def askpass_helper(directory: Path) -> Path:
    """The askpass script, written once into ``directory``."""
    helper = Path(directory, "git-askpass")
    helper.parent.mkdir(parents=True, exist_ok=True)
    helper.write_text(ASKPASS)
    helper.chmod(stat.S_IRWXU)
    return helper


def _last_words(stderr: str, args: Sequence[str]) -> str:
    """What git said went wrong: its first fatal or error line (the lines
    after it are advice), else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return f"git {args[0]} exited"
    return next((line for line in lines if line.startswith(("fatal:", "error:"))), lines[-1])


def run(args: Sequence[str], env: Mapping[str, str], cwd: Path | None = None) -> str:
    """``git args…`` under the policy, reading no configuration but its
    repository's (not the user's or the system's: a CI runner's global git
    set-up, a git-lfs filter among it, has no business with an upstream's
    files), and fetching no Git LFS content; its output, or GitError with
    git's last words."""
    quiet = {**environment(env), "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
             "GIT_LFS_SKIP_SMUDGE": "1"}
    try:
        result = subprocess.run(["git", *args], cwd=cwd, env=quiet, capture_output=True,
                                text=True, timeout=NETWORK_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} did not answer within {NETWORK_TIMEOUT_SECONDS} s") from None
    if result.returncode != 0:
        raise GitError(_last_words(result.stderr, args))
    return result.stdout.strip()


def ls_remote(url: str, refs: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
    """``{ref name: object id}`` of the ``refs`` a remote has (all its tags
    for ``refs=("--tags",)``), asked with one ``git ls-remote``."""
    options = [r for r in refs if r.startswith("--")]
    names = [r for r in refs if not r.startswith("--")]
    output = run(["ls-remote", *options, "--", url, *names], env)
    return {name: oid for oid, name in (line.split("\t", 1) for line in output.splitlines() if "\t" in line)}


def shallow_checkout(url: str, commit: str, directory: Path, env: Mapping[str, str]) -> None:
    """``directory`` made to hold exactly ``commit`` of ``url``, fetched
    with depth 1. The URL is never written into the checkout's git config."""
    run(["init", "--quiet", str(directory)], env)
    run(["fetch", "--depth", "1", "--no-tags", "--quiet", "--", url, commit], env, cwd=directory)
    run(["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit], env, cwd=directory)


def head_of(directory: Path, env: Mapping[str, str]) -> str | None:
    """The commit checked out in ``directory``, if it is a repository of its own."""
    if not (Path(directory) / ".git").exists():  # else git would answer for an enclosing repository
        return None
    try:
        return run(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], env, cwd=directory)
    except GitError:
        return None


class Repository:
    """The project's own checkout, for the record: commits made and
    pushed without touching its files or index."""

    def __init__(self, root: Path, env: Mapping[str, str]) -> None:
        from git import InvalidGitRepositoryError, NoSuchPathError, Repo  # GitPython: only the record needs it
        self.env = env
        try:
            self.repo = Repo(root)
        except (InvalidGitRepositoryError, NoSuchPathError):
            raise GitError(f"{root} is not a git checkout") from None

    @property
    def head(self) -> str:
        return self.repo.head.commit.hexsha

    def current_branch(self) -> str:
        if self.repo.head.is_detached:
            raise GitError("HEAD is detached: set PRIVACY_OCI_GIT_BRANCH to the branch to push to")
        return self.repo.active_branch.name

    def identity(self, name: str | None, email: str | None) -> dict[str, str]:
        """Author and committer: as given, else the checkout's own, else privacy-oci."""
        reader = self.repo.config_reader()
        # (GitPython reads a value that looks like a number as one.)
        name = name or str(reader.get_value("user", "name", "privacy-oci"))
        email = email or str(reader.get_value("user", "email", "privacy-oci@localhost"))
        return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
                "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}

    def show(self, commit: str, path: str) -> bytes:
        """``path`` as ``commit`` has it, byte for byte."""
        return self.git("show", f"{commit}:{path}", raw=True)

    def commit_file(self, parent: str, path: str, content: bytes, message: str, identity: Mapping[str, str],
                    scratch: Path) -> str:
        """A commit of ``content`` as ``path`` on top of ``parent``, made in
        a scratch index: the checkout's files and index stay as they are."""
        scratch.mkdir(parents=True, exist_ok=True)
        (scratch / "content").write_bytes(content)
        blob = self.git("hash-object", "-w", str(scratch / "content"))
        index = {"GIT_INDEX_FILE": str(scratch / "index")}
        self.git("read-tree", parent, extra=index)
        self.git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", extra=index)
        tree = self.git("write-tree", extra=index)
        return self.git("commit-tree", tree, "-p", parent, "-m", message, extra=identity)

    def push(self, remote: str, commit: str, branch: str, options: Iterable[str] = (),
             credentials: Askpass | None = None) -> None:
        self.git("push", "--quiet", *(f"--push-option={o}" for o in options), remote,
                 f"{commit}:refs/heads/{branch}", credentials=credentials)

    def fetch(self, remote: str, branch: str) -> str:
        """The commit ``branch`` of ``remote`` points at now, fetched with
        the checkout's own credentials."""
        self.git("fetch", "--quiet", remote, f"refs/heads/{branch}")
        return self.git("rev-parse", "FETCH_HEAD")

    def url(self, remote: str, push: bool = True) -> str:
        """Where ``remote`` (a name, or a URL as it is) pushes to, as
        configured, without any user name or password in it."""
        if "/" in remote or ":" in remote:
            return without_userinfo(remote)
        reader = self.repo.config_reader()
        section = f'remote "{remote}"'
        # (GitPython takes a default of None for no default.)
        url = (push and reader.get_value(section, "pushurl", "")) or reader.get_value(section, "url", "")
        if not url:
            raise GitError(f"the checkout has no remote {remote!r}: set PRIVACY_OCI_GIT_REMOTE to the URL to push to")
        return without_userinfo(str(url))

    def push_apart(self, url: str, commit: str, branch: str, options: Iterable[str], credentials: Askpass | None,
                   scratch: Path) -> None:
        """Push ``commit`` to ``url`` from a scratch repository that shares
        the checkout's objects and no configuration at all."""
        self._apart(["push", "--quiet", *(f"--push-option={o}" for o in options), url,
                     f"{commit}:refs/heads/{branch}"], credentials, scratch)

    def fetch_apart(self, url: str, branch: str, credentials: Askpass | None, scratch: Path) -> str:
        """The commit ``branch`` of ``url`` points at, fetched with
        ``credentials`` into the scratch repository and brought from there
        into the checkout (a path, which no URL rewrite or credential helper
        of a runner's matches)."""
        self._apart(["fetch", "--quiet", url, f"+refs/heads/{branch}:{FETCHED}"], credentials, scratch)
        self.git("fetch", "--quiet", str(scratch), FETCHED)
        return self.git("rev-parse", "FETCH_HEAD")

    def _apart(self, args: list[str], credentials: Askpass | None, scratch: Path) -> None:
        """``git args…`` in a scratch repository that shares the checkout's
        objects and no configuration at all: not the checkout's, the user's
        nor the system's."""
        if not (scratch / "HEAD").exists():
            run(["init", "--quiet", "--bare", str(scratch)], self.env)
        objects = Path(self.repo.common_dir, "objects").resolve()
        (scratch / "objects" / "info" / "alternates").write_text(f"{objects}\n")
        env = {**environment(self.env, credentials), "GIT_DIR": str(scratch),
               "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
        result = subprocess.run(["git", *args], env=env, capture_output=True, text=True,
                                timeout=NETWORK_TIMEOUT_SECONDS)
        if result.returncode != 0:
            raise GitError(" ".join(result.stderr.split()) or f"git {args[0]} exited")

    def fast_forward(self, commit: str) -> None:
        self.git("merge", "--quiet", "--ff-only", commit)

    @overload
    def git(self, *args: str, extra: Mapping[str, str] | None = None, credentials: Askpass | None = None,
            raw: Literal[False] = False) -> str: ...

    @overload
    def git(self, *args: str, extra: Mapping[str, str] | None = None, credentials: Askpass | None = None,
            raw: Literal[True]) -> bytes: ...

    def git(self, *args: str, extra: Mapping[str, str] | None = None, credentials: Askpass | None = None,
            raw: bool = False) -> str | bytes:
        """git's output as text, or as the bytes it wrote with ``raw``."""
        from git import GitCommandError
        env = {**environment(self.env, credentials, own_helpers=credentials is None), **(extra or {})}
        try:
            if raw:
                return self.repo.git.execute(["git", *args], env=env, stdout_as_string=False,
                                             strip_newline_in_stdout=False)
            return self.repo.git.execute(["git", *args], env=env)
        except GitCommandError as error:
            detail = (error.stderr or "").replace("stderr:", "").strip(" '\n")
            raise GitError(" ".join(detail.split()) or f"git {args[0]} exited {error.status}") from None


def without_userinfo(url: str) -> str:
    """``url`` without a user name or password (scp-like addresses stay)."""
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))

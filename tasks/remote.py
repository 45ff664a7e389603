"""The catalogue's own remote: where commit-hash pushes the records, and
where a run reads what other runs recorded since it started.

Reading goes through the checkout's own git set-up (on a CI runner, the job
token, which may read its project), so a token that can no longer push does
not keep the images from being published; where those credentials may not
read the remote (another project, a laptop without them), it reads with
PRIVACY_OCI_GIT_TOKEN, when that is set. Pushing authenticates with
PRIVACY_OCI_GIT_TOKEN when it is set (see ``tasks.git``). Commits are made
and pushed without touching the checkout's files or index; the checkout is
brought along afterwards when that is a fast-forward.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from . import git
from .catalogue import CatalogueError, Record, parse_record
from .git import GitError

REJECTED_BECAUSE_REMOTE_MOVED = ("non-fast-forward", "fetch first", "[rejected]", "stale info")
FORBIDDEN = ("returned error: 403", "HTTP 403", "403 Forbidden")
REFUSED = ("Authentication failed", "returned error: 401", "HTTP Basic: Access denied")
# GitLab refuses in its pre-receive hook (a protected branch, a push rule),
# not with an HTTP status; what it says comes back as "remote: GitLab: …".
PRE_RECEIVE = "pre-receive hook declined"
GITLAB_SAYS = re.compile(r"remote: (GitLab: .+?)(?= To | ! |remote: |$)")
MAINTAINER = ("the Maintainer role: gitlab.com protects a project's default branch, and only Maintainers push to "
              "it (or allow Developers to push in Settings > Repository > Protected branches)")


class CatalogueRemote:
    def __init__(self, root: Path, catalogue_path: Path, settings, work_dir: Path):
        self.settings = settings
        self.work_dir = work_dir
        self.repository = git.Repository(root, settings.environ)
        self.path = str(catalogue_path.relative_to(root))
        self.remote = settings.git_remote
        self.branch = settings.git_branch or self.repository.current_branch()
        self.credentials = ((git.askpass_helper(work_dir), settings.git_user, settings.git_token)
                            if settings.git_token else None)
        self._fetch_lock = threading.Lock()   # a fetch answers through FETCH_HEAD, one at a time
        self._unreadable: GitError | None = None

    @property
    def start(self) -> str:
        """The commit the checkout is at: the catalogue this run read."""
        return self.repository.head

    def head(self) -> str:
        """The commit the remote branch points at now: read with the
        checkout's own credentials, else with the token. When neither can
        read it, the first ask is told why, every later one that it could
        not (the same reason, said once)."""
        with self._fetch_lock:
            if self._unreadable:
                raise GitError("the catalogue's remote cannot be read (said at the first service that asked)")
            try:
                return self.repository.fetch(self.remote, self.branch)
            except GitError as error:
                refused = f"with the checkout's own git credentials: {error}"
            if self.credentials:
                try:
                    return self.repository.fetch_apart(self.repository.url(self.remote, push=False), self.branch,
                                                       self.credentials, self.work_dir / "record.git")
                except GitError as error:
                    refused += f"; with the token in PRIVACY_OCI_GIT_TOKEN: {error}"
            self._unreadable = GitError(
                f"the catalogue's remote {self.remote} ({self.branch}) cannot be read, {refused}. Set "
                "PRIVACY_OCI_GIT_TOKEN to a token that may read and push it, or PRIVACY_OCI_GIT_REMOTE to the "
                "remote commit-hash is to push to")
            raise self._unreadable

    def text(self, commit: str) -> bytes:
        """The catalogue as ``commit`` has it, byte for byte."""
        return self.repository.show(commit, self.path)

    def records(self, commit: str) -> dict[str, Record | None]:
        """service -> the record the catalogue at ``commit`` holds."""
        try:
            services = (YAML(typ="safe").load(self.text(commit).decode("utf-8-sig")) or {}).get("services") or {}
            return {str(name): parse_record((settings or {}).get("published"), f"{self.path} at {commit[:12]}")
                    for name, settings in services.items()}
        except (UnicodeDecodeError, YAMLError, CatalogueError, AttributeError) as error:
            raise GitError(f"{self.remote} {self.branch}: the catalogue at {commit[:12]} cannot be read: {error}") \
                from None

    def commit(self, parent: str, text: bytes, message: str) -> str:
        identity = self.repository.identity(*self.settings.git_identity)
        return self.repository.commit_file(parent, self.path, text, message, identity, self.work_dir / "commit-hash")

    def push(self, commit: str) -> bool:
        """True when pushed, False when the remote moved on; raises otherwise,
        saying which credentials were used and what they lack."""
        options = self.settings.git_push_options
        try:
            if self.credentials:
                url = self.repository.url(self.remote)
                self.repository.push_apart(url, commit, self.branch, options, self.credentials,
                                           self.work_dir / "record.git")
            else:
                self.repository.push(self.remote, commit, self.branch, options)
            return True
        except GitError as error:
            if any(sign in str(error) for sign in REJECTED_BECAUSE_REMOTE_MOVED):
                return False
            raise GitError(f"push to {self.remote} {self.branch} failed: {error}{self._advice(str(error))}") \
                from None

    def _advice(self, error: str) -> str:
        who = (f"the token in PRIVACY_OCI_GIT_TOKEN (user {self.settings.git_user})" if self.credentials
               else "the checkout's own git credentials (on a CI runner: the job token); set PRIVACY_OCI_GIT_TOKEN")
        published = "The images are published; once the token may push, the next run records them"
        if any(sign in error for sign in FORBIDDEN):
            return (f" -- the push was made with {who}, which may not push to {self.branch}: it needs the "
                    f"write_repository scope and {MAINTAINER}. {published}")
        if any(sign in error for sign in REFUSED):
            return (f" -- the push was made with {who}, which was refused: expired, revoked or wrong. The images "
                    "are published; once the token is replaced, the next run records them")
        if PRE_RECEIVE in error:
            said = "; ".join(GITLAB_SAYS.findall(error)) or "no reason given"
            if "protected branch" in said:
                return (f" -- GitLab refused it: \"{said}\" The push was made with {who}; {self.branch} is a "
                        f"protected branch, where only Maintainers may push: the token needs {MAINTAINER}. "
                        f"{published}")
            return f" -- GitLab's pre-receive hook refused it: \"{said}\" The push was made with {who}. {published}"
        return ""

    def catch_up(self, commit: str) -> str | None:
        """Bring the checkout to ``commit`` when that is a fast-forward; the
        reason when it is left as it was."""
        if self.repository.head == commit:
            return None
        try:
            self.repository.fast_forward(commit)
            return None
        except GitError as error:
            return str(error)

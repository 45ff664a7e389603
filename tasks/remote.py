"""The catalogue's own remote: where commit-hash pushes the records, and
where a run reads what other runs recorded since it started.

Reading goes through the checkout's own git set-up (on a CI runner, the job
token, which may read its project), so a token that can no longer push does
not keep the images from being published; where those credentials may not
read the remote (another project, a laptop without them, a checkout that
kept no credentials), it reads with the record's token, when there is one.
Pushing authenticates with the record's token: PRIVACY_OCI_GIT_TOKEN, else
the CI engine's own where that may push (GitHub's GITHUB_TOKEN; see
``tasks.git``). Commits are made and pushed without touching the
checkout's files or index; the checkout is brought along afterwards when
that is a fast-forward. What a refused push means is the engine's to say
(``tasks.engines``).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from . import git
from .catalogue import CatalogueError, Record, parse_record
from .git import GitError

if TYPE_CHECKING:
    from .settings import Settings

REJECTED_BECAUSE_REMOTE_MOVED = ("non-fast-forward", "fetch first", "[rejected]", "stale info")


class CatalogueRemote:
    def __init__(self, root: Path, catalogue_path: Path, settings: Settings, work_dir: Path):
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
                    refused += f"; with the token in {self.settings.git_token_source}: {error}"
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
        who = (f"the token in {self.settings.git_token_source} (user {self.settings.git_user})" if self.credentials
               else "the checkout's own git credentials (on a CI runner: the job token); set PRIVACY_OCI_GIT_TOKEN")
        return self.settings.engine.push_refused(error, who, self.branch)

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

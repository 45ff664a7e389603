"""commit-hash: records in services.yml the upstream commits whose index is
now published, as one ``[skip ci]`` commit pushed to the remote, so the next
run has nothing to do for them.

Only what the registry shows as fully published is recorded; a service that
failed keeps its previous record. The commit is made and pushed before the
checkout is touched, so a run killed at any point leaves either the remote
with the record or nothing to undo. When the remote has moved on (another
pipeline pushed first), this run's records are applied again onto the new
head, never reverting what the other recorded. Over https the push
authenticates with a token from the environment, handed to git through an
askpass helper: never on a command line, in a URL or in git config.
"""
from __future__ import annotations

import os
import stat
from operator import attrgetter
from pathlib import Path

from doit.exceptions import TaskFailed

from . import catalogue, push_manifest
from .pipeline import Pipeline, StageFailed

BASENAME = "commit-hash"
# GitLab skips pipelines for pushes whose commit message contains this.
SKIP_CI = "[skip ci]"
TOKEN_ENV = "PRIVACY_OCI_GIT_TOKEN"
PUSH_ATTEMPTS = 5
ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "${PRIVACY_OCI_GIT_USER:-oauth2}" ;;
  *) printf '%s\\n' "$PRIVACY_OCI_GIT_TOKEN" ;;
esac
"""
REJECTED_BECAUSE_REMOTE_MOVED = ("non-fast-forward", "fetch first", "[rejected]", "stale info")


class CommitBackError(Exception):
    pass


def tasks(pipeline: Pipeline):
    yield {
        "basename": BASENAME,
        "doc": "record the published upstream commits in services.yml and push a [skip ci] commit",
        "actions": [(record, [pipeline])],
        # After every index push, whatever its outcome: a failed service must
        # not keep the others from being recorded.
        "task_dep": [push_manifest.task_name(s) for s in pipeline.catalogue.services],
        "uptodate": [pipeline.uptodate(attrgetter("needs_record"))],
        "verbosity": 2,
    }


def published_now(pipeline: Pipeline) -> dict[str, dict]:
    """Services not yet recorded whose index the registry now holds, with the
    record to write: upstream commit, build inputs, base image digests."""
    published = {}
    for service in pipeline.catalogue.services:
        try:
            plan = pipeline.plan(service)
        except StageFailed:
            continue
        if not plan.recorded and pipeline.index_published(service, plan.commit, plan.inputs):
            published[service.name] = {"commit": plan.commit, "inputs": plan.inputs, "bases": dict(plan.bases)}
    return published


def record(pipeline: Pipeline):
    try:
        published = published_now(pipeline)
        if not published:
            print("commit-hash: nothing newly published to record")
            return True
        CommitBack(pipeline).record(published)
    except CommitBackError as error:
        return TaskFailed(f"commit-hash: {error}")
    return True


class CommitBack:
    """The git side of commit-hash, on the checkout at the pipeline's root."""

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self.environ = pipeline.environ
        from git import Repo  # imported when used: every doit command loads this module
        self.repo = Repo(pipeline.root)
        self.path = str(pipeline.catalogue.path.relative_to(pipeline.root))
        self.remote = self.environ.get("PRIVACY_OCI_GIT_REMOTE", "origin")
        self.branch = self._target_branch()

    def record(self, published: dict[str, dict]) -> None:
        parent = self.repo.head.commit.hexsha
        pushed = None
        for _ in range(PUSH_ATTEMPTS):
            text = self._git("show", f"{parent}:{self.path}")
            new_text, written = catalogue.with_published(text + "\n", published)
            if not written:
                print(f"commit-hash: {self.remote} {self.branch} already records these commits")
                break
            commit = self._commit(parent, new_text, {name: published[name] for name in written})
            if self._push(commit):
                pushed = commit
                for name in written:
                    self.pipeline.record_recorded(name)
                    print(f"commit-hash: recorded {name} at {published[name]['commit']}")
                print(f"commit-hash: pushed {commit[:12]} to {self.remote} {self.branch}")
                break
            # Another pipeline pushed first: apply this run's records onto its head.
            self._git("fetch", "--quiet", self.remote, f"refs/heads/{self.branch}", env=self._push_env())
            parent = self._git("rev-parse", "FETCH_HEAD")
            print(f"commit-hash: {self.remote} {self.branch} moved to {parent[:12]}; recording on top of it")
        else:
            raise CommitBackError(f"{self.remote} {self.branch} kept moving; gave up after {PUSH_ATTEMPTS} pushes")
        self._catch_up(pushed or parent)

    def _commit(self, parent: str, text: str, written: dict[str, dict]) -> str:
        """A commit of ``text`` as the catalogue on top of ``parent``, made
        without touching the checkout's files or index."""
        scratch = self.pipeline.work_dir / "commit-hash"
        scratch.mkdir(parents=True, exist_ok=True)
        (scratch / "services.yml").write_text(text)
        blob = self._git("hash-object", "-w", str(scratch / "services.yml"))
        index_env = {**os.environ, "GIT_INDEX_FILE": str(scratch / "index")}
        self._git("read-tree", parent, env=index_env)
        self._git("update-index", "--add", "--cacheinfo", f"100644,{blob},{self.path}", env=index_env)
        tree = self._git("write-tree", env=index_env)
        message = f"Record published upstream commits {SKIP_CI}\n\n" + "\n".join(
            f"{name}: {record['commit']} (build inputs {record['inputs']})" for name, record in written.items())
        return self._git("commit-tree", tree, "-p", parent, "-m", message, env=self._identity())

    def _push(self, commit: str) -> bool:
        """True when pushed, False when the remote moved on; raises otherwise."""
        try:
            options = [f"--push-option={o.strip()}" for o in
                       self.environ.get("PRIVACY_OCI_GIT_PUSH_OPTIONS", "").split(",") if o.strip()]
            self._git("push", "--quiet", *options, self.remote, f"{commit}:refs/heads/{self.branch}",
                      env=self._push_env())
            return True
        except CommitBackError as error:
            if any(sign in str(error) for sign in REJECTED_BECAUSE_REMOTE_MOVED):
                return False
            raise CommitBackError(f"push to {self.remote} {self.branch} failed: {error}") from None

    def _catch_up(self, commit: str) -> None:
        """Bring the checkout to the pushed commit when that is a fast-forward;
        the remote is the record either way."""
        if self.repo.head.commit.hexsha == commit:
            return
        try:
            self._git("merge", "--quiet", "--ff-only", commit)
        except CommitBackError as error:
            print(f"commit-hash: the checkout was left as it was ({error}); pull to catch up")

    def _target_branch(self) -> str:
        branch = self.environ.get("PRIVACY_OCI_GIT_BRANCH") or self.environ.get("CI_COMMIT_BRANCH")
        if branch:
            return branch
        if self.repo.head.is_detached:
            raise CommitBackError("HEAD is detached: set PRIVACY_OCI_GIT_BRANCH to the branch to push to")
        return self.repo.active_branch.name

    def _identity(self) -> dict:
        reader = self.repo.config_reader()
        name = self.environ.get("GIT_AUTHOR_NAME") or reader.get_value("user", "name", "privacy-oci")
        email = self.environ.get("GIT_AUTHOR_EMAIL") or reader.get_value("user", "email", "privacy-oci@localhost")
        return {**os.environ, "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
                "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}

    def _push_env(self) -> dict:
        environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        if self.environ.get(TOKEN_ENV):
            helper = Path(self.pipeline.work_dir, "git-askpass")
            helper.parent.mkdir(parents=True, exist_ok=True)
            helper.write_text(ASKPASS)
            helper.chmod(stat.S_IRWXU)
            environment.update(GIT_ASKPASS=str(helper), **{TOKEN_ENV: self.environ[TOKEN_ENV]})
        return environment

    def _git(self, *args: str, env: dict | None = None) -> str:
        from git import GitCommandError
        try:
            return self.repo.git.execute(["git", *args], env=env)
        except GitCommandError as error:
            detail = (error.stderr or "").replace("stderr:", "").strip(" '\n")
            raise CommitBackError(" ".join(detail.split()) or f"git {args[0]} exited {error.status}") from None

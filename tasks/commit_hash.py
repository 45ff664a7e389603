"""commit-hash: records in services.yml the upstream commits whose index is
now published, and pushes that as one ``[skip ci]`` commit, so the next run
has nothing to do for them.

Only what the registry shows as fully published is recorded; a service that
failed keeps its previous record. Over https the push authenticates with a
token from the environment, handed to git through an askpass helper, never on
a command line, in a URL or in git config.
"""
from __future__ import annotations

import os
import stat
from operator import attrgetter
from pathlib import Path

from doit.exceptions import TaskFailed
from git import GitCommandError, Repo

from . import catalogue, push_manifest
from .pipeline import Pipeline, StageFailed

BASENAME = "commit-hash"
# GitLab skips pipelines for pushes whose commit message contains this.
SKIP_CI = "[skip ci]"
TOKEN_ENV = "PRIVACY_OCI_GIT_TOKEN"
ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "${PRIVACY_OCI_GIT_USER:-oauth2}" ;;
  *) printf '%s\\n' "$PRIVACY_OCI_GIT_TOKEN" ;;
esac
"""


class CommitBackError(Exception):
    pass


def tasks(pipeline: Pipeline):
    services = pipeline.catalogue.services
    yield {
        "basename": BASENAME,
        "doc": "record the published upstream commits in services.yml and push a [skip ci] commit",
        "actions": [(record, [pipeline])],
        # After every index push, whatever its outcome: a failed service must
        # not keep the others from being recorded.
        "task_dep": [push_manifest.task_name(s) for s in services],
        "uptodate": [pipeline.uptodate(attrgetter("needs_record"))],
        "verbosity": 2,
    }


def published_now(pipeline: Pipeline) -> dict[str, tuple[str, str]]:
    """Services not yet recorded whose index the registry now holds."""
    published = {}
    for service in pipeline.catalogue.services:
        try:
            plan = pipeline.plan(service)
        except StageFailed:
            continue
        if not plan.recorded and pipeline.index_published(service, plan.commit, plan.inputs):
            published[service.name] = (plan.commit, plan.inputs)
    return published


def record(pipeline: Pipeline):
    try:
        return _record(pipeline)
    except CommitBackError as error:
        return TaskFailed(f"commit-hash: {error}")


def _record(pipeline: Pipeline):
    published = published_now(pipeline)
    if not published:
        print("commit-hash: nothing newly published to record")
        return True
    path = pipeline.catalogue.path
    repo = Repo(pipeline.root)
    relative = str(path.relative_to(pipeline.root))
    if repo.is_dirty(path=relative):
        raise CommitBackError(f"{relative} has uncommitted changes; commit or discard them, then run again")
    catalogue.record_published(path, published)
    message = f"Record published upstream commits {SKIP_CI}\n\n" + "\n".join(
        f"{name}: {commit} (build inputs {inputs})" for name, (commit, inputs) in published.items())
    git = repo.git
    identity = ["-c", f"user.name={pipeline.environ.get('GIT_AUTHOR_NAME', 'privacy-oci')}",
                "-c", f"user.email={pipeline.environ.get('GIT_AUTHOR_EMAIL', 'privacy-oci@localhost')}"]
    git.execute(["git", *identity, "commit", "--quiet", "--message", message, "--", relative])
    remote = pipeline.environ.get("PRIVACY_OCI_GIT_REMOTE", "origin")
    branch = target_branch(repo, pipeline.environ)
    try:
        git.execute(["git", "push", "--quiet", remote, f"HEAD:refs/heads/{branch}"],
                    env=push_environment(pipeline))
    except GitCommandError as error:
        # Leave the checkout as it was, so the next run records these again.
        git.execute(["git", "reset", "--quiet", "--soft", "HEAD~1"])
        git.execute(["git", "checkout", "--quiet", "HEAD", "--", relative])
        detail = (error.stderr or "").replace("stderr:", "").strip(" '\n")
        raise CommitBackError(f"push of the recorded commits to {remote} ({branch}) was rejected: "
                              f"{detail.splitlines()[-1] if detail else error.status}") from None
    for name, (commit, _) in published.items():
        pipeline.outcomes[name].recorded = True
        print(f"commit-hash: recorded {name} at {commit}")
    print(f"commit-hash: pushed to {remote} {branch}")
    return True


def target_branch(repo: Repo, environ) -> str:
    branch = environ.get("PRIVACY_OCI_GIT_BRANCH") or environ.get("CI_COMMIT_BRANCH")
    if branch:
        return branch
    if repo.head.is_detached:
        raise CommitBackError("HEAD is detached: set PRIVACY_OCI_GIT_BRANCH to the branch to push to")
    return repo.active_branch.name


def push_environment(pipeline: Pipeline) -> dict:
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    if pipeline.environ.get(TOKEN_ENV):
        helper = Path(pipeline.work_dir, "git-askpass")
        helper.parent.mkdir(parents=True, exist_ok=True)
        helper.write_text(ASKPASS)
        helper.chmod(stat.S_IRWXU)
        environment.update(GIT_ASKPASS=str(helper), **{TOKEN_ENV: pipeline.environ[TOKEN_ENV]})
    return environment

"""The project's git remote over smart HTTP takes pushes from the project
token only, and a runner-configured checkout sends the job token whatever
GIT_ASKPASS would answer."""
from __future__ import annotations

import os
import subprocess

import pytest

from sandbox import runner
from sandbox.upstreams import IDENTITY


@pytest.fixture
def askpass(tmp_path):
    """A GIT_ASKPASS program answering the project token."""
    def make(token: str) -> dict[str, str]:
        program = tmp_path / "askpass"
        program.write_text(f"#!/bin/sh\necho '{token}'\n")
        program.chmod(0o700)
        return {"GIT_ASKPASS": str(program), "GIT_TERMINAL_PROMPT": "0"}
    return make


def git(*args, cwd, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=60)


def commit(checkout, message: str) -> None:
    (checkout / "change.txt").write_text(message)
    assert git("add", "--all", cwd=checkout).returncode == 0
    assert git(*IDENTITY, "commit", "--quiet", "--message", message, cwd=checkout).returncode == 0


def url_with(gitlab, user: str, password: str) -> str:
    return gitlab.remote_url.replace("://", f"://{user}:{password}@", 1)


def pushes(gitlab, since: int) -> list[tuple[str, str]]:
    return [(c.user, c.password) for c in gitlab.git_credentials[since:] if c.service == "git-receive-pack"]


def test_the_project_token_pushes_and_the_job_token_gets_403(gitlab, tmp_path):
    clone = tmp_path / "clone"
    cloned = git("clone", "--quiet", url_with(gitlab, "gitlab-ci-token", gitlab.job_token), str(clone), cwd=tmp_path)
    assert cloned.returncode == 0, cloned.stderr
    commit(clone, "by the bot")

    refused = git("push", url_with(gitlab, "gitlab-ci-token", gitlab.job_token), "HEAD:main", cwd=clone)
    assert refused.returncode != 0 and "403" in refused.stderr

    pushed = git("push", url_with(gitlab, "project-bot", gitlab.project_token), "HEAD:main", cwd=clone)
    assert pushed.returncode == 0, pushed.stderr
    bare_log = git("--git-dir", str(gitlab.bare), "log", "--format=%s", "-1", "main", cwd=tmp_path)
    assert bare_log.stdout.strip() == "by the bot"


def test_a_push_larger_than_the_post_buffer_arrives_chunked_and_whole(gitlab, tmp_path):
    clone = tmp_path / "clone"
    remote = url_with(gitlab, "bot", gitlab.project_token)
    assert git("clone", "--quiet", remote, str(clone), cwd=tmp_path).returncode == 0
    (clone / "blob.bin").write_bytes(os.urandom(256 * 1024))
    commit(clone, "a large file")
    pushed = git("-c", "http.postBuffer=4096", "push", remote, "HEAD:main", cwd=clone)
    assert pushed.returncode == 0, pushed.stderr
    shown = git("--git-dir", str(gitlab.bare), "cat-file", "-s", "main:blob.bin", cwd=tmp_path)
    assert shown.stdout.strip() == str(256 * 1024)


def test_no_or_unknown_credentials_get_401_and_are_recorded(gitlab, tmp_path):
    anonymous = git("ls-remote", gitlab.remote_url, cwd=tmp_path, env={"GIT_TERMINAL_PROMPT": "0"})
    assert anonymous.returncode != 0
    seen = len(gitlab.git_credentials)
    wrong = git("ls-remote", url_with(gitlab, "someone", "glpat-wrong"), cwd=tmp_path)
    assert wrong.returncode != 0 and "Authentication failed" in wrong.stderr
    assert [tuple(c) for c in gitlab.git_credentials[seen:]] == [("git-upload-pack", "someone", "glpat-wrong")]


def test_plain_askpass_push_sends_the_project_token(gitlab, tmp_path, askpass):
    """The control for the trap below: without the runner's configuration,
    GIT_ASKPASS is what git asks."""
    clone = tmp_path / "clone"
    assert git("clone", "--quiet", url_with(gitlab, "bot", gitlab.project_token), str(clone), cwd=tmp_path).returncode == 0
    commit(clone, "askpass push")
    seen = len(gitlab.git_credentials)
    pushed = git("push", gitlab.remote_url, "HEAD:main", cwd=clone, env=askpass(gitlab.project_token))
    assert pushed.returncode == 0, pushed.stderr
    assert gitlab.project_token in {password for _, password in pushes(gitlab, seen)}


@pytest.mark.parametrize("urls_without_tokens", [False, True], ids=["insteadOf", "credential-helper"])
def test_in_a_runner_checkout_askpass_is_never_asked_and_the_job_token_is_sent(
        gitlab, tmp_path, askpass, urls_without_tokens):
    job = runner.checkout(gitlab, tmp_path / "builds", urls_without_tokens=urls_without_tokens)
    assert job.git("symbolic-ref", "-q", "HEAD").returncode != 0          # a detached HEAD
    assert job.git("config", "remote.origin.url").stdout.strip() == gitlab.remote_url
    assert gitlab.job_token not in (job.path / ".git" / "config").read_text()
    commit(job.path, f"from a job ({urls_without_tokens=})")

    seen = len(gitlab.git_credentials)
    pushed = job.git("push", "origin", "HEAD:main", env=askpass(gitlab.project_token))
    assert pushed.returncode != 0 and "403" in pushed.stderr
    assert pushes(gitlab, seen) == [("gitlab-ci-token", gitlab.job_token)]

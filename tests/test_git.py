"""The one environment policy every git command runs under, with real git:
no prompts, no credential helper inherited, only plain transports."""
from __future__ import annotations

import subprocess

import pytest

from tasks import git
from tasks.git import GitError

QUESTION = "protocol=https\nhost=git.example.org\npath=group/project.git\n\n"


@pytest.fixture
def home_with_a_helper(tmp_path):
    """A HOME whose git config has a credential helper that hands out a
    token, globally and for one host, as a CI runner's set-up does."""
    log = tmp_path / "helper.log"
    helper = tmp_path / "helper"
    helper.write_text(f"#!/bin/sh\necho called >> {log}\necho username=gitlab-ci-token\necho password=job-token\n")
    helper.chmod(0o755)
    (tmp_path / ".gitconfig").write_text(f"[credential]\n\thelper = {helper}\n"
                                         f"[credential \"https://git.example.org\"]\n\thelper = {helper}\n")
    return {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, log


def credential_fill(env) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "credential", "fill"], input=QUESTION, env=env, capture_output=True, text=True)


def test_the_policy_consults_no_inherited_credential_helper(home_with_a_helper):
    env, log = home_with_a_helper
    assert "password=job-token" in credential_fill(env).stdout      # the helper is really set up
    log.unlink()

    answer = credential_fill(git.environment(env))

    assert "job-token" not in answer.stdout and "password=\n" in answer.stdout   # askpass answers nothing
    assert not log.exists()


def test_the_commit_back_may_keep_a_maintainers_own_helpers(home_with_a_helper):
    env, log = home_with_a_helper
    assert "password=job-token" in credential_fill(git.environment(env, own_helpers=True)).stdout


def test_credentials_given_on_purpose_come_from_the_askpass_helper(home_with_a_helper, tmp_path):
    env, log = home_with_a_helper
    helper = git.askpass_helper(tmp_path / "work")
    answer = credential_fill(git.environment(env, (helper, "bot", "project-token")))
    assert "username=bot" in answer.stdout and "password=project-token" in answer.stdout
    assert not log.exists()


def test_only_plain_transports(tmp_path):
    with pytest.raises(GitError, match="unsupported|not allowed|transport"):
        git.run(["ls-remote", f"ext::sh -c touch% {tmp_path}/pwned"], {"PATH": "/usr/bin:/bin"})
    assert not (tmp_path / "pwned").exists()

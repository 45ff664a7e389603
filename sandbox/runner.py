"""A job's checkout as gitlab-runner configures it, so that a test can see
which credentials a plain ``git`` command in the job ends up sending.

Modelled on gitlab-runner v19.3.0 (commit 9cbf0074, 2026-08-19, read in the
gitlabhq/gitlab-runner mirror):
``shells/abstract.go`` (setupTemplateDir, setupExternalGitConfig,
setupGlobalGitConfigSeed, writeRefspecFetchCmd, writeCheckoutCmd),
``shells/bash.go`` (SetupGitCredHelper) and ``helpers/url/gitauth.go``
(GetRemoteURL, GetInsteadOfs, repoBaseInsteadOf). The runner writes an
external config ``<project dir>.tmp/.gitlab-runner.ext.conf`` and makes the
checkout include it (``include.path`` in the git template's config); origin
is the URL without credentials. By default (FF_GIT_URLS_WITHOUT_TOKENS off,
still the default in v19.3.0) that file rewrites the project URL and the
instance's base URL to ones carrying ``gitlab-ci-token:<job token>``
(``url.<with token>.insteadOf <without>``); with the flag on it holds a
credential helper for the instance that answers with ``$CI_JOB_TOKEN``, and
``GIT_CONFIG_GLOBAL`` points at a seed file that includes it too. Either way
git finds the job token before it would ever ask ``GIT_ASKPASS``. The
template also sets ``credential.interactive=never``, a key git reads from
2.46 on (this machine's git 2.39 ignores it)."""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .gitlab import JOB_USER, GitLab

EXTERNAL_CONFIG = ".gitlab-runner.ext.conf"
GLOBAL_CONFIG_SEED = ".glr.gconf"
# The runner's credHelperCommand, verbatim: it reads the token at run time.
CREDENTIAL_HELPER = '!f(){ if [ "$1" = "get" ] ; then echo "password=${CI_JOB_TOKEN}" ; fi ; } ; f'
# gitlab.com's default GIT_DEPTH for new projects: the checkout is shallow.
DEFAULT_DEPTH = 20


@dataclass
class Checkout:
    """A job's checkout: ``path`` (CI_PROJECT_DIR, a detached HEAD at the
    branch's tip), ``env`` (the job's environment: the GitLab variables,
    CI_PROJECT_DIR, CI_COMMIT_*, and GIT_CONFIG_GLOBAL with the flag on) and
    the runner's ``external_config``."""
    path: Path
    env: dict[str, str]
    external_config: Path

    def git(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        """Run git in the checkout with the job's environment (plus ``env``)."""
        return subprocess.run(["git", *args], cwd=self.path, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=60)


def checkout(gitlab: GitLab, builds_dir: Path, urls_without_tokens: bool = False,
             branch: str = "main", depth: int = DEFAULT_DEPTH) -> Checkout:
    """Fetch ``branch`` of ``gitlab``'s project into ``builds_dir`` the way
    the runner does, with the job token variant chosen by
    ``urls_without_tokens`` (FF_GIT_URLS_WITHOUT_TOKENS)."""
    project_dir = Path(builds_dir) / gitlab.project_path
    scratch = Path(f"{project_dir}.tmp")
    template = scratch / "git-template"
    template.mkdir(parents=True, exist_ok=True)
    external = scratch / EXTERNAL_CONFIG
    env = {**os.environ, **gitlab.job_env(), "CI_PROJECT_DIR": str(project_dir),
           "GLR_EXT_GIT_CONFIG_PATH": str(external)}

    def config(file: Path, *args: str) -> None:
        subprocess.run(["git", "config", "--file", str(file), *args], check=True, env=env)

    for key, value in (("init.defaultBranch", "none"), ("fetch.recurseSubmodules", "false"),
                       ("credential.interactive", "never"), ("gc.autoDetach", "false")):
        config(template / "config", key, value)
    if urls_without_tokens:
        section = f"credential.{gitlab.url}"
        config(external, "--replace-all", f"{section}.helper", "")
        config(external, "--add", f"{section}.helper", CREDENTIAL_HELPER)
        config(external, f"{section}.username", JOB_USER)
        seed = scratch / GLOBAL_CONFIG_SEED
        user_config = Path.home() / ".gitconfig"
        if os.access(user_config, os.R_OK):
            config(seed, "--add", "include.path", str(user_config))
        config(seed, "--add", "include.path", str(external))
        env["GIT_CONFIG_GLOBAL"] = str(seed)
    else:
        with_token = f"://{JOB_USER}:{gitlab.job_token}@"
        for plain in (gitlab.remote_url, gitlab.url):
            config(external, f"url.{plain.replace('://', with_token, 1)}.insteadOf", plain)
    config(template / "config", "include.path", str(external))

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=project_dir, env=env, check=True,
                              capture_output=True, text=True, timeout=60).stdout.strip()

    project_dir.mkdir(parents=True)
    git("init", "--quiet", "--template", str(template), ".")
    git("remote", "add", "origin", gitlab.remote_url)
    git("fetch", "--quiet", "origin", "--no-recurse-submodules",
        f"+refs/heads/{branch}:refs/remotes/origin/{branch}", "--depth", str(depth))
    sha = git("rev-parse", f"refs/remotes/origin/{branch}")
    git("-c", "submodule.recurse=false", "checkout", "-f", "-q", sha)
    env.update(CI_COMMIT_SHA=sha, CI_COMMIT_REF_NAME=branch, CI_COMMIT_BRANCH=branch)
    return Checkout(project_dir, env, external)

"""A GitLab instance on loopback, for one project: one server (the
``CI_SERVER_URL``) that is both the container registry's token realm
(``/jwt/auth``, as on gitlab.com) and the project's git remote over smart
HTTP, plus the project's registry, which asks that realm for tokens.

Who may do what, as on gitlab.com: the project (or bot) token of a
Maintainer, with any user name, may fetch and push; a Developer's token may
fetch and push, but not to a protected branch (``main`` is, as a new
project's default branch is on gitlab.com): GitLab's pre-receive hook
refuses it with GitLab's own words; a reporter's token (a role that may read
only) may fetch, and a push with it gets 403; the CI job token (user
``gitlab-ci-token``) may fetch and pull/push the project's images, but a git
push with it gets 403; no or unknown credentials get 401.

A second repository, ``private_bare`` (at ``private_url``), stands for a
catalogue remote the job token may not even read (another project): only
the Maintainer's token may fetch or push there."""
from __future__ import annotations

import secrets
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from .git_http import GitCredential, heard, serve_backend
from .http import Closing, LoopbackServer, QuietHandler
from .registry import LocalRegistry
from .token_auth import Policy, TokenIssuer

JOB_USER = "gitlab-ci-token"
REALM_PATH = "/jwt/auth"
# GitLab's branch check (lib/gitlab/checks/branch_check.rb), run from its
# pre-receive hook: only Maintainers push to a protected branch over HTTP
# (a push on the machine itself, as the tests set projects up, is the
# instance's own).
PROTECTED_BRANCH_HOOK = """#!/bin/sh
while read old new ref; do
  if [ "$ref" = refs/heads/main ] && [ -n "${REMOTE_USER:-}" ] && [ "$REMOTE_USER" != maintainer ]; then
    echo "GitLab: You are not allowed to push code to protected branches on this project." >&2
    exit 1
  fi
done
"""


class GitLab(Closing):
    """``with GitLab(directory) as gitlab:`` the instance on ``gitlab.url``,
    the project's empty bare repository (``bare``, branch ``main``) at
    ``remote_url``, its registry (``registry``, a started LocalRegistry).
    ``git_credentials`` and ``tokens.credentials`` record what the git
    remote and the token realm were shown; ``job_env()`` is what a job sees."""

    def __init__(self, directory: Path, project_path: str = "privacy/privacy-oci"):
        self.directory = Path(directory)
        self.project_path = project_path
        # GitLab's token prefixes: a CI job token, a project access token.
        self.job_token = "glcbt-" + secrets.token_urlsafe(20)
        self.project_token = "glpat-" + secrets.token_urlsafe(20)
        self.reporter_token = "glpat-" + secrets.token_urlsafe(20)
        self.developer_token = "glpat-" + secrets.token_urlsafe(20)
        self.registry_user, self.registry_password = JOB_USER, self.job_token
        self.repositories = self.directory / "repositories"
        self.bare = self.repositories / f"{project_path}.git"
        self.private_bare = self.repositories / "elsewhere" / "catalogue.git"
        for bare in (self.bare, self.private_bare):
            subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(bare)], check=True)
            hook = bare / "hooks" / "pre-receive"
            hook.write_text(PROTECTED_BRANCH_HOOK)
            hook.chmod(0o755)
        push_pull = {"pull", "push"}
        self.tokens = TokenIssuer(self.directory, Policy(
            users={JOB_USER: self.job_token},
            grants={JOB_USER: {project_path: push_pull, f"{project_path}/*": push_pull}}),
            service="container_registry", issuer="gitlab-issuer")
        self.git_credentials: list[GitCredential] = []
        self.server = LoopbackServer(self._handler())
        self.url, self.host = self.server.url, self.server.host
        self.remote_url = f"{self.url}/{project_path}.git"
        self.private_url = f"{self.url}/elsewhere/catalogue.git"
        self.registry = LocalRegistry(self.directory / "registry",
                                      token_auth=self.tokens.registry_auth(self.url + REALM_PATH))
        try:
            self.registry.start()
        except Exception:
            self.server.close()
            raise

    def job_env(self) -> dict[str, str]:
        """The predefined variables of a job of this project that name the
        instance, the project, its registry and the job's credentials.
        CI_REPOSITORY_URL carries the job token, as GitLab's does."""
        address, port = self.host.rsplit(":", 1)
        namespace, _, name = self.project_path.rpartition("/")
        return {
            "CI": "true", "GITLAB_CI": "true",
            "CI_SERVER_URL": self.url, "CI_SERVER_HOST": address, "CI_SERVER_PORT": port,
            "CI_SERVER_PROTOCOL": "http", "CI_SERVER_FQDN": self.host,
            "CI_PROJECT_PATH": self.project_path, "CI_PROJECT_NAMESPACE": namespace,
            "CI_PROJECT_NAME": name, "CI_PROJECT_URL": f"{self.url}/{self.project_path}",
            "CI_DEFAULT_BRANCH": "main",
            "CI_REPOSITORY_URL": self.remote_url.replace("://", f"://{JOB_USER}:{self.job_token}@", 1),
            "CI_REGISTRY": self.registry.host,
            "CI_REGISTRY_IMAGE": f"{self.registry.host}/{self.project_path}",
            "CI_REGISTRY_USER": self.registry_user, "CI_REGISTRY_PASSWORD": self.registry_password,
            "CI_JOB_TOKEN": self.job_token,
        }

    def _handler(self) -> type[QuietHandler]:
        gitlab = self

        class Handler(QuietHandler):
            def do_GET(self):
                if urlsplit(self.path).path == REALM_PATH:
                    gitlab.tokens.answer(self)
                else:
                    gitlab._serve_git(self)

            def do_POST(self):
                gitlab._serve_git(self)

        return Handler

    def _serve_git(self, handler: QuietHandler) -> None:
        service, credential = heard(handler, self.git_credentials)
        user, password = credential or ("", "")
        role = self._role(user, password)
        private = urlsplit(handler.path).path.startswith("/elsewhere/")
        if role is None:
            handler.reply(401, b"HTTP Basic: Access denied\n", {"WWW-Authenticate": 'Basic realm="GitLab"'})
        elif private and role != "maintainer":
            handler.reply(404, b"The project you were looking for could not be found or you don't have "
                               b"permission to view it.\n")
        elif role in ("job", "reporter") and service == "git-receive-pack":
            handler.reply(403, b"You are not allowed to push code to this project.\n")
        else:
            # The role reaches the pre-receive hook as REMOTE_USER.
            serve_backend(handler, self.repositories, role)

    def _role(self, user: str, password: str) -> str | None:
        if user == JOB_USER and secrets.compare_digest(password, self.job_token):
            return "job"
        for role, token in (("maintainer", self.project_token), ("developer", self.developer_token),
                            ("reporter", self.reporter_token)):
            if secrets.compare_digest(password, token):
                return role
        return None

    def close(self) -> None:
        self.registry.stop()
        self.server.close()

"""GitHub on loopback, for one repository: the git remote over smart HTTP
(``server_url``, github.com's place) and a GHCR-shaped container registry
(``registry``, ghcr.io's place) whose token realm (``/token`` on the
registry's host, another port) is the only one that knows the job's token.

Who may do what, as on github.com and ghcr.io:

- the workflow's GITHUB_TOKEN (``job_token``, a ``ghs_`` token, given with
  any user name, as ghcr.io and git over HTTPS take it) may pull and push
  the images of its owner's namespace, ``<owner>/*`` (lower-cased, as image
  names are), and nothing else; over git it may fetch and push (a job with
  ``contents: write``), but with ``protected`` set, ``main`` refuses its
  push in GitHub's words (GH006, a branch protection rule);
- a user's token (``user_token``, a fine-grained ``github_pat_``, given as
  PRIVACY_OCI_GIT_TOKEN) of someone the rule lets push may push to ``main``
  all the same; ``read_only_token`` may fetch only (403 on push);
- no or unknown credentials get 401.

``git_credentials`` and ``tokens.credentials`` record what the git remote and
the token realm were shown."""
from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from .git_http import GitCredential, heard, serve_backend
from .http import Closing, LoopbackServer, QuietHandler
from .registry import LocalRegistry
from .token_auth import Policy, TokenService

# GitHub's pre-receive refusal for a protected branch, as its hook prints it
# (git shows each line as "remote: …").
PROTECTED_BRANCH_HOOK = """#!/bin/sh
while read old new ref; do
  if [ "$ref" = refs/heads/main ] && [ -f "$GIT_DIR/protected" ] && [ "${REMOTE_USER:-}" = job ]; then
    echo "error: GH006: Protected branch update failed for refs/heads/main." >&2
    echo "error: Changes must be made through a pull request." >&2
    exit 1
  fi
done
"""
GITHUB_ADDRESS = "127.0.0.6"    # github.com's place
GHCR_ADDRESS = "127.0.0.7"      # ghcr.io's place


@dataclass
class OwnNamespace(Policy):
    """ghcr.io's rule for a workflow's GITHUB_TOKEN: any user name with the
    token, for the repositories under its owner only."""
    token: str = ""
    namespace: str = ""

    def knows(self, user: str, password: str) -> bool:
        return bool(user) and secrets.compare_digest(password, self.token)

    def actions(self, user: str | None, repository: str) -> set[str]:
        return {"pull", "push"} if user and fnmatchcase(repository, f"{self.namespace}/*") else set()


class GitHub(Closing):
    """``with GitHub(directory) as github:`` the repository ``owner/name``
    (an empty bare repository, ``bare``, branch ``main``) at
    ``remote_url``, and its registry (``registry``, started)."""

    def __init__(self, directory: Path, owner: str = "Privacy-Fronts", name: str = "privacy-oci"):
        self.directory = Path(directory)
        self.owner, self.name = owner, name
        self.repository = f"{owner}/{name}"
        self.job_token = "ghs_" + secrets.token_urlsafe(27)
        self.user_token = "github_pat_" + secrets.token_urlsafe(40)
        self.read_only_token = "github_pat_" + secrets.token_urlsafe(40)
        self.repositories = self.directory / "repositories"
        # GitHub serves owner/name with or without ".git"; the checkout asks without.
        self.bare = self.repositories / owner / name
        subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(self.bare)], check=True)
        hook = self.bare / "hooks" / "pre-receive"
        hook.write_text(PROTECTED_BRANCH_HOOK)
        hook.chmod(0o755)
        self.git_credentials: list[GitCredential] = []
        self.server = LoopbackServer(self._handler(), GITHUB_ADDRESS)
        self.server_url = self.server.url
        self.remote_url = f"{self.server_url}/{self.repository}"
        self.token_service = TokenService(self.directory, OwnNamespace(token=self.job_token,
                                                                       namespace=owner.lower()),
                                          service="ghcr.io", issuer="ghcr-issuer", address=GHCR_ADDRESS)
        self.tokens = self.token_service.tokens
        self.registry = LocalRegistry(self.directory / "registry", address=GHCR_ADDRESS,
                                      token_auth=self.token_service.registry_auth)
        try:
            self.registry.start()
        except Exception:
            self.close()
            raise
        self.prefix = f"{self.registry.host}/{owner.lower()}"

    @property
    def protected(self) -> bool:
        return (self.bare / "protected").exists()

    @protected.setter
    def protected(self, value: bool) -> None:
        (self.bare / "protected").touch() if value else (self.bare / "protected").unlink(missing_ok=True)

    def _handler(self) -> type[QuietHandler]:
        github = self

        class Handler(QuietHandler):
            def do_GET(self):
                github._serve_git(self)

            do_POST = do_GET

        return Handler

    def _serve_git(self, handler: QuietHandler) -> None:
        service, credential = heard(handler, self.git_credentials)
        role = self._role(*(credential or ("", "")))
        route, _, query = handler.path.partition("?")
        if route.startswith(f"/{self.repository}.git/"):   # the same repository
            handler.path = route.replace(".git/", "/", 1) + (f"?{query}" if query else "")
        if role is None:
            handler.reply(401, b"", {"WWW-Authenticate": 'Basic realm="GitHub"'})
        elif role == "reader" and service == "git-receive-pack":
            handler.reply(403, b"Write access to repository not granted.\n")
        else:
            serve_backend(handler, self.repositories, role)   # REMOTE_USER: the role, for the hook

    def _role(self, user: str, password: str) -> str | None:
        for role, token in (("job", self.job_token), ("user", self.user_token), ("reader", self.read_only_token)):
            if user and secrets.compare_digest(password, token):
                return role
        return None

    def close(self) -> None:
        self.registry.stop()
        self.token_service.close()
        self.server.close()

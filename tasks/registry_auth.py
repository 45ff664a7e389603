"""Which credentials a registry request may carry: each belongs to one host,
as Docker and the containers tools keep them, and goes to no other.

Where they come from, first found first:

1. PRIVACY_OCI_REGISTRY_USER/PASSWORD for the host of the image prefix;
   else the job's own for the CI engine's registry, whatever the image
   prefix says (GitLab: CI_REGISTRY_USER/PASSWORD for CI_REGISTRY; GitHub
   Actions: GITHUB_TOKEN for ghcr.io); and any other registry's the engine
   gives the job, for that registry only (GitLab's Dependency Proxy,
   CI_DEPENDENCY_PROXY_USER/PASSWORD for CI_DEPENDENCY_PROXY_SERVER). Which
   variables those are is the engine's (``tasks.engines``);
2. DOCKER_AUTH_CONFIG, the JSON GitLab runners use for private images;
3. the containers tools' auth.json (REGISTRY_AUTH_FILE, else
   $XDG_RUNTIME_DIR/containers/auth.json, else
   ~/.config/containers/auth.json);
4. Docker's config.json ($DOCKER_CONFIG/config.json, else
   ~/.docker/config.json).

Credentials are chosen by the registry being spoken to, and go to a token
service only where it belongs to that registry (``Credentials.realm_of``):
its own host, a documented pairing, the engine's own (GitLab's registry
sends its clients to the instance, CI_SERVER_FQDN, else CI_SERVER_HOST, at
``/jwt/auth``), or a pairing PRIVACY_OCI_TOKEN_SERVICES names. A registry
that names another's token service gets an anonymous token at most.

Docker Hub answers to several names (its config key is
``https://index.docker.io/v1/``; images come from ``registry-1.docker.io``,
tokens from ``auth.docker.io``): an entry for one is an entry for all, as in
Docker. Keys may name a repository namespace (``host/group``), as auth.json
allows; the longest match wins. Credential helpers (``credsStore``,
``credHelpers``) are not consulted.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import Settings

DOCKER_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io", "auth.docker.io")
# Token services the registries that use them document, on other hosts.
TOKEN_SERVICES = {"registry.gitlab.com": {"gitlab.com"}, "registry-1.docker.io": {"auth.docker.io"},
                  "ghcr.io": {"ghcr.io"}}


@dataclass(frozen=True)
class Credential:
    user: str
    password: str = field(repr=False)
    source: str = ""      # where it was configured: named in messages, never the secret


def host_key(key: str) -> str:
    """A config key as a lookup key: 'https://index.docker.io/v1/' ->
    'index.docker.io', 'Registry.Example:5000/group' -> 'registry.example:5000/group'."""
    key = key.strip()
    if "://" in key:
        key = key.split("://", 1)[1]
    host, _, path = key.partition("/")
    path = path.strip("/")
    if host.lower() in DOCKER_HUB_HOSTS and path in ("", "v1", "v2"):
        path = ""
    return host.lower() + (f"/{path}" if path else "")


class Credentials:
    def __init__(self, entries: dict[str, Credential] | None = None, realms: dict[str, set[str]] | None = None):
        """``realms``: registry host -> the hosts of token services its
        credentials may go to, besides the documented ones."""
        self._entries = dict(entries or {})
        self._realms = {host_key(registry): {host_key(realm) for realm in hosts}
                        for registry, hosts in (realms or {}).items()}

    def realm_of(self, registry: str, realm: str) -> bool:
        """Whether the token service on ``realm`` belongs to ``registry``:
        its own host (any port), a documented pairing (gitlab.com's,
        Docker Hub's, GHCR's), or the CI engine's own (GitLab's CI_REGISTRY
        with CI_SERVER_FQDN). A registry names its token service itself, so any
        other is a stranger, and the registry's credentials do not go there."""
        registry, realm = host_key(registry), host_key(realm)
        if registry.rsplit(":", 1)[0] == realm.rsplit(":", 1)[0]:
            return True
        return realm in TOKEN_SERVICES.get(registry, set()) | self._realms.get(registry, set())

    def add(self, key: str, credential: Credential) -> None:
        """Keep ``credential`` for ``key`` unless an earlier source named it."""
        key = host_key(key)
        names = [key] if key.split("/", 1)[0] not in DOCKER_HUB_HOSTS else \
            [hub + key[len(key.split("/", 1)[0]):] for hub in DOCKER_HUB_HOSTS]
        for name in names:
            self._entries.setdefault(name, credential)

    def for_host(self, host: str, repository: str = "") -> Credential | None:
        """The credential configured for ``host`` (and the longest namespace
        of ``repository`` that has one), or None: then ask anonymously."""
        host = host.lower()
        parts = [p for p in repository.split("/") if p]
        for end in range(len(parts), -1, -1):
            credential = self._entries.get("/".join([host, *parts[:end]]))
            if credential:
                return credential
        return None


def load(settings: Settings, registry_host: str) -> Credentials:
    """Every credential the settings name, by host. ``registry_host`` is the
    image prefix's: PRIVACY_OCI_REGISTRY_USER's credentials belong to it; the
    job's own to the engine's registry only."""
    paired: dict[str, set[str]] = {}
    if settings.job_registry and settings.job_registry_realms:
        paired[settings.job_registry] = set(settings.job_registry_realms)
    for registry, realm in settings.token_services:
        paired.setdefault(registry, set()).add(realm)
    credentials = Credentials(realms=paired)
    if settings.registry_user:
        own = settings.registry_user_source == "PRIVACY_OCI_REGISTRY_USER"
        host = registry_host if own else settings.job_registry
        if host:
            credentials.add(host, Credential(settings.registry_user, settings.registry_password or "",
                                             settings.registry_user_source))
    for other in settings.other_registries:   # each for its own server only
        credentials.add(other.host, Credential(other.user, other.password, other.source))
    if settings.docker_auth_config:
        _add_docker_config(credentials, _json(settings.docker_auth_config), "DOCKER_AUTH_CONFIG")
    for path in _files(settings):
        if path.is_file():
            _add_docker_config(credentials, _json(path.read_text(errors="replace")), str(path))
    return credentials


def _files(settings: Settings) -> list[Path]:
    home = Path(settings.home) if settings.home else None
    containers: Path | None
    if settings.registry_auth_file:
        containers = Path(settings.registry_auth_file)
    elif settings.xdg_runtime_dir:
        containers = Path(settings.xdg_runtime_dir, "containers", "auth.json")
    else:
        containers = home / ".config" / "containers" / "auth.json" if home else None
    docker = Path(settings.docker_config, "config.json") if settings.docker_config else \
        home / ".docker" / "config.json" if home else None
    return [path for path in (containers, docker) if path]


def _json(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _add_docker_config(credentials: Credentials, document: dict[str, Any], source: str) -> None:
    """The ``auths`` of a Docker config.json or containers auth.json."""
    auths = document.get("auths")
    for key, entry in (auths.items() if isinstance(auths, dict) else ()):
        if not isinstance(entry, dict):
            continue
        user, password = entry.get("username"), entry.get("password")
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                continue
        if user:
            credentials.add(key, Credential(user, password or "", source))

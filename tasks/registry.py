"""A small client of the OCI distribution API: enough to learn what is
published (manifests by tag), read it back, and put an image index.

Registries on loopback are spoken to over plain HTTP, as Docker treats them;
all others over HTTPS. Credentials go only to the host they are configured
for (see ``tasks.registry_auth``): a registry's Basic challenge gets the
registry's, a token service gets its own host's, and only over HTTPS (or on
loopback). Everything else is asked anonymously. Credentials are never
logged.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, urlsplit

from .errors import StageFailed
from .registry_auth import Credentials

if TYPE_CHECKING:   # requests is imported when a client is made
    from requests import Response

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
TIMEOUT_SECONDS = 30


class RegistryError(StageFailed):
    """The registry could not be reached or refused a request."""


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    size: int
    body: bytes

    def json(self) -> dict[str, Any]:
        return cast(dict[str, Any], json.loads(self.body))   # a manifest or an index: a JSON object


def split_reference(repository: str) -> tuple[str, str]:
    """'host:port/a/b' -> ('host:port', 'a/b')."""
    host, _, path = repository.partition("/")
    return host, path


DOCKER_HUB = "registry-1.docker.io"


def normalize_image(image: str) -> tuple[str, str]:
    """An image reference as (repository with its registry host, tag or
    digest), completed as Docker does: 'node:18' is
    registry-1.docker.io/library/node, tag 18."""
    name, reference = (image.split("@", 1) if "@" in image else (image, None))
    if reference is None:
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            name, reference = name.rsplit(":", 1)
        else:
            reference = "latest"
    first, _, rest = name.partition("/")
    if rest and first in ("docker.io", "index.docker.io"):
        name, first = rest, ""      # Docker Hub by the name docker pulls it by
    if rest and ("." in first or ":" in first or first == "localhost"):
        return name, reference
    path = name if "/" in name else f"library/{name}"
    return f"{DOCKER_HUB}/{path}", reference


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:host.index("]")]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RegistryClient:
    """One client per run; connections are reused and it is safe to share
    between threads for the requests made here."""

    def __init__(self, credentials: Credentials | None = None) -> None:
        self.credentials = credentials or Credentials()
        self._tokens: dict[tuple[str, str], str] = {}
        self._asked: dict[tuple[str, str], str] = {}   # how each token was asked for, for messages
        self._lock = threading.Lock()
        # requests is imported when a client is made: `doit list` makes none.
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry
        self._requests = requests
        self._session = requests.Session()
        retry = Retry(total=5, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504),
                      allowed_methods=None, respect_retry_after_header=True, raise_on_status=False)
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=32)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    # -- reading -------------------------------------------------------------
    def manifest(self, repository: str, reference: str, *, head: bool = False) -> Manifest | None:
        """The manifest or index at ``reference`` (a tag or digest), or None
        when the registry does not have it."""
        response = self._request("HEAD" if head else "GET", repository,
                                 f"manifests/{_segment(reference)}", headers={"Accept": ACCEPT})
        if response.status_code == 404:
            return None
        self._check(response, f"read {repository}:{reference}", repository, "pull")
        if head and "Docker-Content-Digest" not in response.headers:
            return self.manifest(repository, reference)  # the digest is the body's: read it
        body = b"" if head else response.content
        digest = response.headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(body).hexdigest()
        size = int(response.headers.get("Content-Length") or len(body))
        media_type = response.headers.get("Content-Type", "").split(";")[0]
        return Manifest(digest, media_type, size, body)

    def blob(self, repository: str, digest: str) -> bytes:
        """A blob (an image config, say) by its digest, checked against it."""
        response = self._request("GET", repository, f"blobs/{_segment(digest)}")
        self._check(response, f"read {repository}@{digest}", repository, "pull")
        if "sha256:" + hashlib.sha256(response.content).hexdigest() != digest:
            raise RegistryError(f"{repository}@{digest}: the registry sent a blob of another digest")
        return response.content

    def image_config(self, repository: str, digest: str, platform: str) -> dict[str, Any]:
        """The config of the image at ``digest``; of its ``platform`` image
        when the digest is an index (an image and its attestations)."""
        manifest = self.manifest(repository, digest)
        if manifest is None:
            raise RegistryError(f"{repository}@{digest} is not in the registry")
        document = manifest.json()
        if manifest.media_type in INDEX_TYPES:
            entry = next((m for m in document.get("manifests", ())
                          if platform_of(m.get("platform") or {}) == platform), None)
            if entry is None:
                raise RegistryError(f"{repository}@{digest} has no image for {platform}")
            return self.image_config(repository, entry["digest"], platform)
        return cast(dict[str, Any], json.loads(self.blob(repository, document["config"]["digest"])))

    # -- writing -------------------------------------------------------------
    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        response = self._request("PUT", repository, f"manifests/{_segment(reference)}",
                                 headers={"Content-Type": media_type}, data=body)
        self._check(response, f"push {repository}:{reference}", repository, "pull,push")
        return response.headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(body).hexdigest()

    def tag(self, repository: str, digest: str, tag: str) -> None:
        """Put the manifest at ``digest`` under ``tag`` too, byte for byte."""
        manifest = self.manifest(repository, digest)
        if manifest is None:
            raise RegistryError(f"cannot tag {repository}@{digest}: the registry does not have it")
        self.put_manifest(repository, tag, manifest.body, manifest.media_type)

    def put_blob(self, repository: str, data: bytes) -> str:
        """Upload ``data`` as a blob in one request (unless it is there)."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if self._request("HEAD", repository, f"blobs/{_segment(digest)}").status_code == 200:
            return digest
        started = self._request("POST", repository, "blobs/uploads/")
        self._check(started, f"start an upload to {repository}", repository, "pull,push")
        host, _ = split_reference(repository)
        location = started.headers.get("Location", "")
        if location.startswith("/"):
            location = f"{_scheme(host)}://{host}{location}"
        if urlsplit(location).netloc != host:
            raise RegistryError(f"{host} sent the upload of a blob to another host")
        separator = "&" if "?" in location else "?"
        response = self._request("PUT", repository, url=f"{location}{separator}digest={digest}",
                                 headers={"Content-Type": "application/octet-stream"}, data=data)
        self._check(response, f"upload a blob to {repository}", repository, "pull,push")
        return digest

    # -- plumbing ------------------------------------------------------------
    def _request(self, method: str, repository: str, path: str = "", headers: Mapping[str, str] | None = None,
                 data: bytes | None = None, url: str | None = None) -> Response:
        host, name = split_reference(repository)
        # The name's segments quoted (the reference in ``path`` is, whole).
        quoted = "/".join(quote(segment, safe="") for segment in name.split("/"))
        url = url or f"{_scheme(host)}://{host}/v2/{quoted}/{path}"
        scope = _scope(name, "pull,push" if method in ("PUT", "POST") else "pull")
        headers = dict(headers or {})
        token = self._tokens.get((host, scope))
        if token:
            headers["Authorization"] = token
        response = self._send(method, url, headers, data)
        if response.status_code == 401 and "WWW-Authenticate" in response.headers:
            headers["Authorization"] = self._authorize(host, name, scope, response.headers["WWW-Authenticate"])
            response = self._send(method, url, headers, data)
        return response

    def _send(self, method: str, url: str, headers: Mapping[str, str], data: bytes | None) -> Response:
        try:
            return self._session.request(method, url, headers=headers, data=data, timeout=TIMEOUT_SECONDS)
        except self._requests.RequestException as error:
            raise RegistryError(f"registry unreachable: {type(error).__name__} for {method} {url}") from None

    def _authorize(self, host: str, name: str, scope: str, challenge: str) -> str:
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            credential = self.credentials.for_host(host, name)
            if credential is None:
                raise RegistryError(f"{host} asks for credentials and none are configured for it: set "
                                    "PRIVACY_OCI_REGISTRY_USER and PRIVACY_OCI_REGISTRY_PASSWORD (for the image "
                                    "prefix's registry) or give it an entry in DOCKER_AUTH_CONFIG")
            value = self._requests.auth._basic_auth_str(credential.user, credential.password)
        else:
            value = "Bearer " + self._token(host, name, scope, dict(re.findall(r'(\w+)="([^"]*)"', params)))
        with self._lock:
            self._tokens[(host, scope)] = value
        return value

    def _token(self, host: str, name: str, scope: str, challenge: Mapping[str, str]) -> str:
        """A token from the service the registry named: with the registry's
        own credentials when that service belongs to it and is spoken to
        over HTTPS or on loopback; anonymously otherwise."""
        realm = urlsplit(challenge.get("realm", ""))
        if realm.scheme not in ("http", "https") or not realm.netloc:
            raise RegistryError(f"{host}: its token challenge names no usable token service")
        credential = self.credentials.for_host(host, name)
        why = f"no credentials are configured for {host}"
        if credential and not self.credentials.realm_of(host, realm.netloc):
            credential, why = None, f"its token service {realm.netloc} is not one {host}'s credentials go to"
        if credential and realm.scheme != "https" and not is_loopback(realm.netloc):
            credential, why = None, f"its token service {realm.netloc} is not spoken to over HTTPS"
        with self._lock:
            self._asked[(host, scope)] = (f"with the credentials from {credential.source}" if credential else
                                          f"anonymously: {why}")
        try:
            response = self._session.get(realm.geturl(), timeout=TIMEOUT_SECONDS,
                                         auth=(credential.user, credential.password) if credential else None,
                                         params={"service": challenge.get("service", ""), "scope": scope})
        except self._requests.RequestException:
            raise RegistryError(f"{host}: its token service {realm.netloc} is unreachable") from None
        if response.status_code != 200:
            shown = f"the credentials from {credential.source}" if credential else \
                f"an anonymous request ({why})"
            raise RegistryError(f"{host}: its token service {realm.netloc} refused {shown} for {scope} "
                                f"(HTTP {response.status_code})")
        try:
            body = response.json()
        except ValueError:
            raise RegistryError(f"{host}: its token service {realm.netloc} answered no token") from None
        return str(body.get("token") or body.get("access_token") or "")

    def _check(self, response: Response, what: str, repository: str, actions: str) -> None:
        if response.status_code < 400:
            return
        host, name = split_reference(repository)
        if response.status_code == 429:
            # Docker Hub says how its pull limit stands in RateLimit-* headers.
            hub = host == DOCKER_HUB or "RateLimit-Limit" in response.headers
            raise RegistryError(f"cannot {what}: {host} answers 429, too many requests{_rate_limit(response)}. "
                                + (DOCKER_HUB_LIMIT if hub else "Try again later"))
        message = f"cannot {what}: HTTP {response.status_code}"
        asked = self._asked.get((host, _scope(name, actions)))
        if response.status_code in (401, 403) and asked:
            message += f" (its token was asked for {asked})"
        raise RegistryError(message)


DOCKER_HUB_LIMIT = ("Docker Hub limits anonymous pulls per address, and shared runners share addresses: give "
                    "Docker Hub credentials in DOCKER_AUTH_CONFIG, or pull through a Docker Hub mirror named in "
                    "PRIVACY_OCI_DOCKER_HUB, such as GitLab's Dependency Proxy (README, \"Docker Hub's limits\")")


def _rate_limit(response: Response) -> str:
    """Docker Hub's RateLimit-* headers ("100;w=21600"), said plainly."""
    limit = response.headers.get("RateLimit-Limit", "").split(";")
    remaining = response.headers.get("RateLimit-Remaining", "").split(";")[0]
    if not limit[0]:
        return ""
    window = next((part[2:] for part in limit[1:] if part.startswith("w=")), None)
    per = f" per {int(window) // 3600} h" if window and window.isdigit() else ""
    return f" (its pull limit: {limit[0]}{per}, {remaining or 0} left)"


def platform_of(description: Mapping[str, Any]) -> str:
    """'os/architecture[/variant]' of an index entry's platform or an image
    config; arm64's default variant v8 is left out, as in services.yml."""
    variant = description.get("variant") or ""
    if description.get("architecture") == "arm64" and variant == "v8":
        variant = ""
    return "/".join(part for part in (description.get("os"), description.get("architecture"), variant) if part)


def _segment(reference: str) -> str:
    """A tag or digest as one path segment: a "/" or ".." in an upstream's
    tag name cannot reach another repository or tag."""
    return quote(reference, safe=":")


def _scheme(host: str) -> str:
    return "http" if is_loopback(host) else "https"


def _scope(name: str, actions: str) -> str:
    return f"repository:{name}:{actions}"

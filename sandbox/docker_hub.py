"""Docker Hub's habits on loopback: the registry (registry-1.docker.io) is
one host, its token service (auth.docker.io) another; anyone may pull,
and credentials it does not know get 401 rather than an anonymous token."""
from __future__ import annotations

from pathlib import Path

from . import base_image
from .http import Closing
from .registry import LocalRegistry
from .token_auth import Policy, TokenService

SERVICE = "registry.docker.io"
ISSUER = "auth.docker.io"


class DockerHub(Closing):
    """``with DockerHub(directory) as hub:`` a token-auth registry on
    ``hub.host`` (``address``) whose realm is on ``auth_address``;
    ``hub.tokens`` records every credential shown to the token service."""

    def __init__(self, directory: Path, address: str = "127.0.0.2", auth_address: str = "127.0.0.3"):
        directory = Path(directory)
        self.token_service = TokenService(directory, Policy(anonymous_pull=True), SERVICE, ISSUER, address=auth_address)
        self.tokens = self.token_service.tokens
        self.registry = LocalRegistry(directory / "registry", address=address,
                                      token_auth=self.token_service.registry_auth)
        try:
            self.registry.start()
        except Exception:
            self.token_service.close()
            raise
        self.host = self.registry.host

    def publish_base(self, cache: Path, repository: str = "library/busybox", marker: str = "") -> str:
        """Push the busybox base image (amd64 + arm64) as its maintainers
        would, with a token signed here rather than asked of the service, so
        the service records nothing; return the image reference. A new
        ``marker`` is a new digest behind the same tag (see base_image)."""
        token = self.tokens.issue("library", [{"type": "repository", "name": repository,
                                               "actions": ["pull", "push"]}])
        base_image.publish(self.host, repository, cache, marker, authorization=f"Bearer {token}")
        return f"{self.host}/{repository}:latest"

    def close(self) -> None:
        self.registry.stop()
        self.token_service.close()

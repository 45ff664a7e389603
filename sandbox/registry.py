"""A real CNCF Distribution registry (Debian's docker-registry) on loopback,
open to all, or asking for Bearer tokens from a token service."""
from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {address}:{port}
"""

TOKEN_AUTH = """auth:
  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    rootcertbundle: {rootcertbundle}
"""


@dataclass(frozen=True)
class TokenAuth:
    """The registry's ``auth: token`` settings: where clients get tokens
    (``realm``), the audience a token must name (``service``), the issuer it
    must name, and the PEM bundle of the certificates that may sign it."""
    realm: str
    service: str
    issuer: str
    rootcertbundle: Path


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


class LocalRegistry:
    """``with LocalRegistry(directory) as registry:`` serves on
    ``registry.host`` until the block ends; with ``token_auth`` every request
    needs a token from that realm, as on gitlab.com and Docker Hub."""

    def __init__(self, directory: Path, port: int | None = None, address: str = "127.0.0.1",
                 token_auth: TokenAuth | None = None):
        self.directory = Path(directory)
        self.address = address
        self.port = port or free_port(address)
        self.host = f"{address}:{self.port}"
        self.storage = self.directory / "storage"
        self.token_auth = token_auth
        self.process = None

    def config(self) -> str:
        text = CONFIG.format(root=self.storage, address=self.address, port=self.port)
        if self.token_auth:
            text += TOKEN_AUTH.format(**vars(self.token_auth))
        return text

    def start(self) -> LocalRegistry:
        self.storage.mkdir(parents=True, exist_ok=True)
        config = self.directory / "config.yml"
        config.write_text(self.config())
        log = (self.directory / "registry.log").open("ab")
        self.process = subprocess.Popen(["docker-registry", "serve", str(config)],
                                        stdout=log, stderr=subprocess.STDOUT)
        ready = {200, 401} if self.token_auth else {200}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"docker-registry exited; see {self.directory / 'registry.log'}")
            try:
                if requests.get(f"http://{self.host}/v2/", timeout=1).status_code in ready:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"docker-registry did not answer on {self.host}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

"""A real CNCF Distribution registry (Debian's docker-registry) on loopback."""
from __future__ import annotations

import socket
import subprocess
import time
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
  addr: 127.0.0.1:{port}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalRegistry:
    """``with LocalRegistry(directory) as registry:`` serves on
    ``registry.host`` until the block ends."""

    def __init__(self, directory: Path, port: int | None = None):
        self.directory = Path(directory)
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.storage = self.directory / "storage"
        self.process = None

    def start(self) -> "LocalRegistry":
        self.storage.mkdir(parents=True, exist_ok=True)
        config = self.directory / "config.yml"
        config.write_text(CONFIG.format(root=self.storage, port=self.port))
        log = (self.directory / "registry.log").open("ab")
        self.process = subprocess.Popen(["docker-registry", "serve", str(config)],
                                        stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"docker-registry exited; see {self.directory / 'registry.log'}")
            try:
                if requests.get(f"http://{self.host}/v2/", timeout=1).status_code == 200:
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

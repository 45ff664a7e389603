"""A local HTTP server whose /aarch64 path fails the first N times: a RUN
step that fetches from it makes an arm64 build fail transiently, for real."""
from __future__ import annotations

from .demo import stand_in_dockerfile
from .http import LoopbackServer, QuietHandler


class FlakyPayloads:
    """Serves /x86_64 and /aarch64; /aarch64 fails the first ``failures`` times."""

    def __init__(self, failures: int):
        self.failures = failures
        self.requests: list[str] = []
        owner = self

        class Handler(QuietHandler):
            def do_GET(self):
                owner.requests.append(self.path)
                failing = self.path == "/aarch64" and owner.failures > 0
                if failing:
                    owner.failures -= 1
                    self.reply(503, b"unavailable\n")
                else:
                    self.reply(200, f"payload for {self.path}\n".encode())

        self.server = LoopbackServer(Handler)
        self.url = self.server.url

    def close(self):
        self.server.close()


# hello-web's RUN step fetches from FlakyPayloads, which can fail arm64's fetch.
FLAKY_DOCKERFILE = stand_in_dockerfile(
    'RUN wget -q -O /app/payload "${PAYLOAD_URL}/$(uname -m)" && uname -m > /app/built-on', args=["PAYLOAD_URL"])

"""A local HTTP server whose /aarch64 path fails the first N times: a RUN
step that fetches from it makes an arm64 build fail transiently, for real."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FlakyPayloads:
    """Serves /x86_64 and /aarch64; /aarch64 fails the first ``failures`` times."""

    def __init__(self, failures: int):
        self.failures = failures
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.requests.append(self.path)
                failing = self.path == "/aarch64" and owner.failures > 0
                if failing:
                    owner.failures -= 1
                body = b"unavailable\n" if failing else f"payload for {self.path}\n".encode()
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# hello-web's RUN step fetches from FlakyPayloads, which can fail arm64's fetch.
FLAKY_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG UPSTREAM_COMMIT=unknown
ARG PAYLOAD_URL
COPY message.txt /app/message.txt
RUN wget -q -O /app/payload "${PAYLOAD_URL}/$(uname -m)" && uname -m > /app/built-on
"""

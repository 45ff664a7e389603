"""The one way the sandbox serves HTTP on loopback: a threading server on a
free port of a loopback address (127.0.0.1 unless told), answered from a
daemon thread, for as long as a ``with`` block (or until ``close``)."""
from __future__ import annotations

import base64
import binascii
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the test output clean."""

    def log_message(self, *args):
        pass

    def reply(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def basic_credentials(self) -> tuple[str, str] | None:
        """(user, password) of a Basic ``Authorization`` header, else None."""
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user, password


class Closing:
    """Closed when its ``with`` block ends: a base for anything with ``close()``."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LoopbackServer(Closing):
    """``LoopbackServer(Handler)`` serves at once on ``host`` / ``url``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], address: str = "127.0.0.1"):
        self._server = ThreadingHTTPServer((address, 0), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.host = f"{address}:{self.port}"
        self.url = f"http://{self.host}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

"""An HTTP proxy in front of the real registry that can fail requests on
purpose (5xx, 429) or act when one has gone through: for testing how the
pipeline meets a flaky registry, or a kill at an exact moment."""
from __future__ import annotations

import http.client
import threading

from .http import LoopbackServer, QuietHandler

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate"}


class FaultProxy:
    """``fault(method, path)`` may return a status (or a status and headers)
    to answer instead of the registry; ``after(method, path, status)`` runs once the registry has
    answered, before the answer is passed on. Both see every request;
    ``seen`` lists them."""

    def __init__(self, registry_host: str, fault=None, after=None):
        self.registry_host = registry_host
        self.fault = fault or (lambda method, path: None)
        self.after = after or (lambda method, path, status: None)
        self.seen: list[tuple[str, str, int]] = []
        self.authorizations: list[str] = []
        self._lock = threading.Lock()
        self._server = None

    def __enter__(self):
        self._server = LoopbackServer(self._handler())
        self.host = self._server.host
        return self

    def __exit__(self, *exc):
        self._server.close()

    def _handler(self):
        proxy = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _forward(self):
                body = self._body()
                if self.headers.get("Authorization"):
                    with proxy._lock:
                        proxy.authorizations.append(self.headers["Authorization"])
                fault = proxy.fault(self.command, self.path)
                if fault:
                    status, headers = fault if isinstance(fault, tuple) else (fault, {})
                    self._record(status)
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "0")
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                connection = http.client.HTTPConnection(proxy.registry_host, timeout=60)
                # A header sent more than once (containers tools send an Accept
                # per media type) goes on as one, its values joined, as HTTP allows.
                headers: dict[str, str] = {}
                for name, value in self.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        headers[name] = f"{headers[name]}, {value}" if name in headers else value
                if body or self.command in ("PUT", "POST", "PATCH"):
                    headers["Content-Length"] = str(len(body))
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                connection.close()
                self._record(response.status)
                proxy.after(self.command, self.path, response.status)
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                length = response.getheader("Content-Length") if self.command == "HEAD" else len(payload)
                self.send_header("Content-Length", str(length or 0))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                self.wfile.flush()

            def _record(self, status):
                with proxy._lock:
                    proxy.seen.append((self.command, self.path, status))

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

        return Handler

"""Git remotes over HTTP on loopback: git's own smart-HTTP server
(``git http-backend``, run as a CGI program behind a handler that decides who
may do what) and a remote that refuses every credential."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, unquote

from .http import LoopbackServer, QuietHandler


class GitCredential(NamedTuple):
    """A credential a git remote was shown, and for which git service
    (``git-upload-pack`` fetches, ``git-receive-pack`` pushes)."""
    service: str
    user: str
    password: str


def passwords(credentials: list[GitCredential], service: str) -> list[str]:
    """The passwords ``service`` was shown, each once, in the order first shown."""
    return list(dict.fromkeys(c.password for c in credentials if c.service == service))


def git_service(path: str) -> str:
    """``git-upload-pack`` (fetch) or ``git-receive-pack`` (push) for a
    smart-HTTP request path: the ``service`` of ``info/refs`` or the last
    path segment of the POST."""
    route, _, query = path.partition("?")
    return parse_qs(query).get("service", [route.rsplit("/", 1)[-1]])[0]


def heard(handler: QuietHandler, into: list) -> tuple[str, tuple[str, str] | None]:
    """(the git service a request is for, its Basic credentials), the
    credentials, when there are any, also appended to ``into`` as
    ``GitCredential(service, user, password)``."""
    service = git_service(handler.path)
    credential = handler.basic_credentials()
    if credential:
        into.append(GitCredential(service, *credential))
    return service, credential


def serve_backend(handler: QuietHandler, project_root: Path, user: str) -> None:
    """Answer one request with ``git http-backend`` serving the repositories
    under ``project_root`` to ``user`` (REMOTE_USER, without which
    http-backend refuses receive-pack)."""
    handler.reply(*run_backend(handler, project_root, user))


def run_backend(handler: QuietHandler, project_root: Path, user: str, protocol_v2: bool = True
                ) -> tuple[int, bytes, dict[str, str]]:
    """``git http-backend``'s answer to one request: (status, body,
    headers); without ``protocol_v2``, in protocol v0 whatever the client
    asks (its ref advertisement lists every ref, one pkt-line each)."""
    route, _, query = handler.path.partition("?")
    body = _request_body(handler)
    environment = {
        "PATH": os.environ["PATH"],
        "GATEWAY_INTERFACE": "CGI/1.1",
        "GIT_PROJECT_ROOT": str(project_root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "REQUEST_METHOD": handler.command,
        "PATH_INFO": unquote(route),
        "QUERY_STRING": query,
        "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_USER": user,
        "REMOTE_ADDR": handler.client_address[0],
    }
    # Request headers a CGI program sees as HTTP_*: a gzipped request body,
    # and the protocol version (v2) the client asks for.
    for header in ("Content-Encoding", "Git-Protocol") if protocol_v2 else ("Content-Encoding",):
        if header in handler.headers:
            environment["HTTP_" + header.upper().replace("-", "_")] = handler.headers[header]
    result = subprocess.run(["git", "http-backend"], input=body, env=environment,
                            capture_output=True, timeout=60)
    head, _, payload = result.stdout.partition(b"\r\n\r\n")
    status, headers = 200, {}
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.split()[0])
        elif name:
            headers[name] = value.strip()
    return (status if result.stdout else 500), payload, headers


def _request_body(handler: QuietHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() != "chunked":
        return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
    body = b""
    while size := int(handler.rfile.readline().split(b";")[0], 16):
        body += handler.rfile.read(size)
        handler.rfile.readline()
    handler.rfile.readline()
    return body


class RefusingGitServer:
    """An http git remote that asks for credentials and refuses them all,
    remembering the ``user:password`` pairs it was sent."""

    def __init__(self):
        self.credentials: list[str] = []
        owner = self

        class Handler(QuietHandler):
            def do_GET(self):
                credential = self.basic_credentials()
                if credential:
                    owner.credentials.append(":".join(credential))
                self.reply(401, headers={"WWW-Authenticate": 'Basic realm="git"'})

            do_POST = do_GET

        self.server = LoopbackServer(Handler)
        self.url = f"{self.server.url}/catalogue.git"

    def close(self):
        self.server.close()


class HostileGitServer:
    """A real upstream (``git http-backend`` over the bare repositories under
    ``root``) whose ref advertisement also lists ``extra_tags``, names git
    itself would never make (a ``/../`` path, thousands of digits): what an
    upstream's server may send, as ``git ls-remote`` does not check them.
    The repository ``name`` is at ``url``."""

    def __init__(self, root: Path, name: str, extra_tags: list[str]):
        owner = self
        self.url = ""

        class Handler(QuietHandler):
            def do_GET(self):
                status, body, headers = run_backend(self, root, "", protocol_v2=False)
                if "info/refs" in self.path and status == 200:
                    body = owner.advertise(body)
                self.reply(status, body, headers)

            def do_POST(self):
                self.reply(*run_backend(self, root, "", protocol_v2=False))

        self.extra_tags = extra_tags
        self.server = LoopbackServer(Handler)
        self.url = f"{self.server.url}/{name}"

    def advertise(self, body: bytes) -> bytes:
        """The advertisement with a line per extra tag, after the first ref
        (the one carrying the capabilities), pointing at its commit."""
        head, first, rest = _first_ref(body)
        commit = first[4:44]
        extra = b"".join(_pkt_line(commit + b" refs/tags/" + tag.encode() + b"\n") for tag in self.extra_tags)
        return head + first + extra + rest

    def close(self):
        self.server.close()


def _pkt_line(data: bytes) -> bytes:
    return b"%04x" % (len(data) + 4) + data


def _first_ref(body: bytes) -> tuple[bytes, bytes, bytes]:
    """(what comes before the first ref line, that line, the rest)."""
    position = 0
    while position < len(body):
        length = int(body[position:position + 4], 16)
        if length > 4 and body[position + 4:position + 5] != b"#" and b"\0" in body[position:position + length]:
            return body[:position], body[position:position + length], body[position + length:]
        position += max(length, 4)
    raise ValueError("no ref in the advertisement")

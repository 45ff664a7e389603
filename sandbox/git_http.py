"""Git remotes over HTTP on loopback."""
from __future__ import annotations

import base64

from .http import LoopbackServer, QuietHandler


class RefusingGitServer:
    """An http git remote that asks for credentials and refuses them all,
    remembering the ``user:password`` pairs it was sent."""

    def __init__(self):
        self.credentials: list[str] = []
        owner = self

        class Handler(QuietHandler):
            def do_GET(self):
                if self.headers.get("Authorization"):
                    owner.credentials.append(base64.b64decode(self.headers["Authorization"].split()[1]).decode())
                self.reply(401, headers={"WWW-Authenticate": 'Basic realm="git"'})

            do_POST = do_GET

        self.server = LoopbackServer(Handler)
        self.url = f"{self.server.url}/catalogue.git"

    def close(self):
        self.server.close()

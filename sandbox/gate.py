"""Builds that wait where a test wants them to: a RUN step fetches
``/wait/<key>`` from this loopback server, which holds the answer until the
test opens that key. The key is the upstream commit, so two runs of the
same service can be held and released in any order, without sleeping."""
from __future__ import annotations

import threading

from .demo import stand_in_dockerfile
from .http import LoopbackServer, QuietHandler

HOLD_AT_MOST_SECONDS = 600

# A stand-in recipe whose RUN step waits at the gate for its upstream commit.
GATED_DOCKERFILE = stand_in_dockerfile('RUN wget -q -O /app/gate "${GATE_URL}/wait/${UPSTREAM_COMMIT}"',
                                       args=["GATE_URL"])


class Gate:
    def __init__(self):
        self._closed: set[str] = set()
        self._arrived: set[str] = set()
        self._changed = threading.Condition()
        gate = self

        class Handler(QuietHandler):
            def do_GET(self):
                key = self.path.rsplit("/", 1)[-1]
                with gate._changed:
                    gate._arrived.add(key)
                    gate._changed.notify_all()
                    gate._changed.wait_for(lambda: key not in gate._closed, HOLD_AT_MOST_SECONDS)
                self.reply(200, f"passed {key}\n".encode())

        self.server = LoopbackServer(Handler)
        self.url = self.server.url

    def close(self, key: str) -> None:
        """Builds that arrive for ``key`` wait until it is opened."""
        with self._changed:
            self._closed.add(key)

    def open(self, key: str) -> None:
        with self._changed:
            self._closed.discard(key)
            self._changed.notify_all()

    def wait_for_arrival(self, key: str, timeout: float = 300) -> None:
        """Until a build has reached the gate for ``key``."""
        with self._changed:
            if not self._changed.wait_for(lambda: key in self._arrived, timeout):
                raise TimeoutError(f"no build reached the gate for {key} within {timeout} s")

    def shutdown(self) -> None:
        with self._changed:
            self._closed.clear()
            self._changed.notify_all()
        self.server.close()

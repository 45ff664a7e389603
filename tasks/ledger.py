"""The run's ledger: what became of each service (platforms pushed, index,
record, failures), and the failure policy that keeps one service's failure
from stopping the others."""
from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .errors import StageFailed
from .start_check import CheckResult


def say(line: str) -> None:
    """One line to stderr in one write, so lines from threads do not mix."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


@dataclass
class Outcome:
    """What happened to one service in this run, for the summary."""
    built: dict[str, str] = field(default_factory=dict)       # platform -> digest
    checks: dict[str, CheckResult] = field(default_factory=dict)   # platform -> its start check
    failures: dict[str, str] = field(default_factory=dict)    # task name -> reason
    index_digest: str | None = None
    recorded: bool = False
    superseded: str | None = None   # why latest and the record were left to a newer run


class Ledger:
    """Outcomes of every service, safe to write from the tasks' threads."""

    def __init__(self, services: Iterable[str]) -> None:
        self._outcomes = {name: Outcome() for name in services}
        self._lock = threading.Lock()

    def outcome(self, service: str) -> Outcome:
        return self._outcomes[service]

    def built(self, service: str, platform: str, digest: str) -> None:
        with self._lock:
            self._outcomes[service].built[platform] = digest

    def checked(self, service: str, platform: str, result: CheckResult) -> None:
        with self._lock:
            self._outcomes[service].checks[platform] = result

    def indexed(self, service: str, digest: str) -> None:
        with self._lock:
            self._outcomes[service].index_digest = digest

    def recorded(self, service: str) -> None:
        with self._lock:
            self._outcomes[service].recorded = True

    def superseded(self, service: str, reason: str) -> None:
        """Not a failure: a newer state is published, and this run leaves it."""
        with self._lock:
            self._outcomes[service].superseded = reason
        say(f"{service}: superseded, latest and the record left as they are: {reason}")

    def failures(self, service: str) -> dict[str, str]:
        with self._lock:
            return dict(self._outcomes[service].failures)

    def attempt(self, service: str, task_name: str, action: Callable[[], None]) -> bool:
        """Run one service's stage so that its failure is the service's
        outcome, not the end of the run: it is reported at once and in the
        summary, the run exits non-zero (the reporter sees to it), and every
        other service still runs to the end and is recorded."""
        return self.attempt_all([service], task_name, action)

    def attempt_all(self, services: Iterable[str], task_name: str, action: Callable[[], None]) -> bool:
        """Run a stage of several services (commit-hash records them all at
        once): its failure is each one's."""
        try:
            action()
        except StageFailed as error:
            self.fail_all(services, task_name, str(error))
        except Exception as error:  # a bug must not stop the other services either
            self.fail_all(services, task_name, "".join(
                traceback.format_exception(type(error), error, error.__traceback__)).strip())
        return True

    def fail(self, service: str, task_name: str, message: str) -> None:
        self.fail_all([service], task_name, message)

    def fail_all(self, services: Iterable[str], task_name: str, message: str) -> None:
        """Record the failure for each of ``services``; say it once."""
        with self._lock:
            for service in services:
                self._outcomes[service].failures[task_name] = message
        say(f"FAILED {task_name}: {message}")

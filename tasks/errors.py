"""The kinds of failure privacy-oci expects and reports in words.

A ``StageFailed`` ends one service's stage, not the run: the message says
what went wrong and what to fix, and the ledger records it as the
service's outcome. Anything else that escapes a stage is a bug and is
reported with its traceback. A ``ConfigurationError`` stops everything
before any work.
"""


class StageFailed(Exception):
    """A stage of one service failed; the message says what to fix."""


class ConfigurationError(Exception):
    """The catalogue or the environment cannot be used; the message says
    where and why."""

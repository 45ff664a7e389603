"""A simulated clock for the runs: PRIVACY_OCI_NOW, moved on as from one
scheduled tick to a later one (remembered failures wait by this clock)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

VARIABLE = "PRIVACY_OCI_NOW"


def move_on(variables: dict, hours: float) -> None:
    """Set ``variables``' clock ``hours`` after where it was (or after now)."""
    now = variables.get(VARIABLE)
    start = datetime.fromisoformat(now) if now else datetime.now(timezone.utc)
    variables[VARIABLE] = (start + timedelta(hours=hours)).isoformat(timespec="seconds")

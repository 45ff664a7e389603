"""verify: reads a service's index back from the registry: the run fails
when it is not there for the current build key. It is skipped (shown as
such) when an earlier stage of the service failed in this run, which fails
the run already; a service this run found superseded by a newer state is
not a failure. ``doit build:<service>`` ends here; in a full run the other
services go on to be recorded all the same."""
from __future__ import annotations

from collections.abc import Iterator
from operator import attrgetter
from typing import Any

from . import graph, names
from .catalogue import Service
from .errors import StageFailed
from .run import Run


def tasks(run: Run) -> Iterator[dict[str, Any]]:
    yield from graph.service_tasks(
        run, names.VERIFY, "check that {service}'s index is published for its current commit",
        attrgetter("needs_index"), lambda service: verify(run, service),
        task_dep=lambda service: [names.push_manifest_task(service.name)],
        after=lambda service: [*names.index_prerequisites(service.name, service.platforms),
                               names.push_manifest_task(service.name)])


def verify(run: Run, service: Service) -> None:
    if run.ledger.outcome(service.name).superseded:
        return
    plan = run.facts.plan(service)
    if not run.facts.index_published(service, plan.commit, plan.inputs):
        raise StageFailed("the registry has no index for this commit")

"""How the stages become doit tasks: ``uptodate`` callables made from the
plans, and the one shape most stages share (a group task over every
service, and one task per service)."""
from __future__ import annotations

from .catalogue import Service


def uptodate(pipeline, check, service: Service | None = None):
    """An ``uptodate`` callable for doit: true when ``check(plan)`` finds
    nothing pending for ``service``, or for any service when None."""
    services = [service] if service else pipeline.catalogue.services
    return lambda: not any(pipeline.facts.pending(s, check) for s in services)


def service_tasks(pipeline, basename: str, doc: str, check, action, task_dep=lambda service: [],
                  after=lambda service: (), guarded: bool = True, verbosity: int | None = None):
    """``basename``, the group of every service's task, and
    ``basename:<service>`` for each, up to date when ``check(plan)`` finds
    nothing pending for it. ``doc`` reads "… {service}'s …".

    A ``guarded`` ``action(service)`` runs under the ledger's failure
    policy: its failure is the service's outcome, and it is skipped when a
    task named in ``after(service)`` failed for the service. Unguarded, it
    is doit's action as it is and may return ``TaskFailed``."""
    yield {"basename": basename, "name": None, "doc": doc.format(service="each service"),
           "uptodate": [uptodate(pipeline, check)]}
    for service in pipeline.catalogue.services:
        task_name = f"{basename}:{service.name}"
        task = {
            "basename": basename,
            "name": service.name,
            "doc": doc.format(service=service.name),
            "actions": [(pipeline.ledger.attempt, [service.name, task_name, lambda s=service: action(s),
                                                   list(after(service))]) if guarded else (action, [service])],
            "task_dep": list(task_dep(service)),
            "uptodate": [uptodate(pipeline, check, service)],
        }
        if verbosity is not None:
            task["verbosity"] = verbosity
        yield task

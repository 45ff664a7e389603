"""How the stages become doit tasks: ``uptodate`` callables made from the
plans, and the one shape most stages share (a group task over every
service, and one task per service)."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import names
from .catalogue import Catalogue, Service
from .decide_stale import ServicePlan
from .run import Run

if TYPE_CHECKING:
    from doit.task import Task

# What finds work pending in a service's plan (``attrgetter("needs_index")``, …).
PlanCheck = Callable[[ServicePlan], bool]


def uptodate(run: Run, check: PlanCheck, service: Service | None = None, after: Iterable[str] = ()
             ) -> Callable[[], bool]:
    """An ``uptodate`` callable for doit: true when ``check(plan)`` finds
    nothing pending for ``service``, or for any service when None; also
    when a task named in ``after`` failed for the service in this run (doit
    asks once a task's dependencies have run), so that doit shows it as
    skipped rather than run."""
    services = [service] if service else run.catalogue.services
    after = list(after)

    def nothing_to_do() -> bool:
        if service is not None and any(task in run.ledger.failures(service.name) for task in after):
            return True
        return not any(run.facts.pending(s, check) for s in services)
    return nothing_to_do


def service_tasks(run: Run, basename: str, doc: str, check: PlanCheck, action: Callable[[Service], None],
                  task_dep: Callable[[Service], Iterable[str]] = lambda service: [],
                  after: Callable[[Service], Iterable[str]] = lambda service: (), verbosity: int | None = None
                  ) -> Iterator[dict[str, Any]]:
    """``basename``, the group of every service's task, and
    ``basename:<service>`` for each, up to date when ``check(plan)`` finds
    nothing pending for it. ``doc`` reads "… {service}'s …".

    ``action(service)`` runs under the ledger's failure policy: a
    StageFailed it raises is the service's outcome (the one way a stage
    fails). It is skipped when a task named in ``after(service)`` failed for
    the service."""
    yield {"basename": basename, "name": None, "doc": doc.format(service="each service"),
           "uptodate": [uptodate(run, check)]}
    for service in run.catalogue.services:
        task_name = f"{basename}:{service.name}"
        task: dict[str, Any] = {
            "basename": basename,
            "name": service.name,
            "doc": doc.format(service=service.name),
            "actions": [(run.ledger.attempt, [service.name, task_name, lambda s=service: action(s)])],
            "task_dep": list(task_dep(service)),
            "uptodate": [uptodate(run, check, service, after(service))],
        }
        if verbosity is not None:
            task["verbosity"] = verbosity
        yield task


def services_selected(catalogue: Catalogue, tasks: Mapping[str, Task], selected: Sequence[str] | None
                      ) -> set[str]:
    """The services the selected doit tasks (and the tasks they depend on)
    concern: a stage's group task and commit-hash concern all of them."""
    own = {task: service.name for service in catalogue.services for task in (
        names.fetch_task(service.name), names.build_group(service.name), names.push_manifest_task(service.name),
        names.verify_task(service.name), *(names.build_task(service.name, p) for p in service.platforms))}
    seen: set[str] = set()
    todo = list(selected or ())
    while todo:
        name = todo.pop()
        if name in seen or name not in tasks:
            continue
        seen.add(name)
        todo.extend(tasks[name].task_dep)
    if any(name not in own for name in seen):
        return {service.name for service in catalogue.services}
    return {own[name] for name in seen}

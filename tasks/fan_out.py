"""fan-out: the pending part of the graph, written in the CI engine's form
(``tasks.engines``: GitLab a child pipeline, GitHub Actions job outputs
for a build matrix). The decision is the graph's own: the same plans
``doit list --status`` reports, made into ``Work`` here, the same for
every engine:

- each pending service × platform builds in a job of its own, on a runner
  of its platform (``runner_tags`` in services.yml, per engine);
- one light index job per service needs its platform jobs;
- one light record job runs when anything is to be recorded (also when a
  service was published but its record failed last time);
- a service whose facts could not be gathered gets no job, but a light one
  says why, and the next tick decides again;
- the status site is published by a light job last whenever anything else
  is done (something is built, published, recorded, or fails and is held
  back), or, with nothing else to do, when what the site is made from
  changed since it was last published (as remembered in the registry,
  ``tasks.site_memory``: the first site, a service added or removed, a new
  version of the site's code); facts that could not be gathered never
  bring the site out.

Nothing pending, or only what is held back after failing, is no work at
all: what that costs is the engine's (GitLab a no-op job; GitHub nothing
after the plan job).

``pending_work`` is a pure function of the plans; the task only gathers
them and hands the work to the engine.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import builders, names, site_memory
from .catalogue import Catalogue
from .decide_stale import ServicePlan
from .engines import Build, Work
from .errors import StageFailed
from .run import Run


def tasks(run: Run) -> Iterator[dict[str, Any]]:
    yield {
        "basename": names.FAN_OUT,
        "doc": "write the pending work in the CI engine's form (one build job per service and platform)",
        "actions": [(write, [run])],
        # It reports the state of the registry and upstreams now: always run.
        "uptodate": [False],
        "verbosity": 2,
    }


def pending_work(catalogue: Catalogue, plans: dict[str, ServicePlan | str], engine: str, builder: str,
                 site_changed: bool = False, retry: bool = False) -> Work:
    """The work ``plans`` leave (service name -> plan, or the reason why its
    facts could not be gathered), for ``engine``'s runners, built with
    ``builder``; ``site_changed``: what the status site is made from changed
    since it was last published."""
    builds: list[Build] = []
    indexes: list[tuple[str, tuple[str, ...]]] = []
    record = False
    unknown = tuple((name, plan) for name, plan in plans.items() if isinstance(plan, str))
    for service in catalogue.services:
        plan = plans[service.name]
        if isinstance(plan, str) or (not plan.needs_record and not plan.pending_platforms):
            continue   # unknown; recorded; or held back after failing
        record = record or plan.needs_record
        tasks = []
        for platform in plan.pending_platforms:
            task = names.build_task(service.name, platform)
            builds.append(Build(service.name, platform, task, tuple(catalogue.tags_for(platform, engine))))
            tasks.append(task)
        if plan.needs_index:
            indexes.append((service.name, tuple(tasks)))
    site = not unknown and (bool(builds or indexes or record) or site_changed)
    return Work(tuple(builds), tuple(indexes), record, site, unknown, builder, retry)


def write(run: Run) -> bool:
    plans: dict[str, ServicePlan | str] = {}
    for service in run.catalogue.services:
        try:
            plans[service.name] = run.facts.plan(service)
        except StageFailed as error:
            print(f"fan-out: {service.name}: not planned, left to the next tick: {error}")
            plans[service.name] = str(error)
    settings = run.settings
    known = {name: plan for name, plan in plans.items() if not isinstance(plan, str)}
    site_changed = len(known) == len(plans) and site_inputs_changed(run, known)
    work = pending_work(run.catalogue, plans, settings.engine.name, settings.builder or builders.NAMES[0],
                        site_changed, settings.retry)
    print(settings.engine.write_fan_out(work, run.root))
    return True


def site_inputs_changed(run: Run, plans: dict[str, ServicePlan]) -> bool:
    """Whether the status site is to be written again though nothing else
    is to be done: what it is made from is not what it was last made from.
    A memory that cannot be read brings no pages job (it would every tick)."""
    try:
        remembered = site_memory.remembered(run.registry, run.catalogue.image_prefix)
    except StageFailed as error:
        print(f"fan-out: what the status site was made from cannot be read ({error}); no pages job for it")
        return False
    changed = remembered != site_memory.inputs_digest(run.catalogue, plans)
    if changed:
        print("fan-out: the status site is not what its inputs make now: a pages job writes it again")
    return changed

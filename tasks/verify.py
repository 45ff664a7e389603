"""verify: reads a service's index back from the registry and fails the run
when it is not there for the current build key, with the reasons gathered
along the way. A service this run found superseded by a newer state is not
a failure. ``doit build:<service>`` ends here; in a full run the other
services go on to be recorded all the same."""
from __future__ import annotations

from operator import attrgetter

from doit.exceptions import TaskFailed

from . import graph, names
from .catalogue import Service
from .errors import StageFailed
from .pipeline import Pipeline


def tasks(pipeline: Pipeline):
    yield from graph.service_tasks(
        pipeline, names.VERIFY, "check that {service}'s index is published for its current commit",
        attrgetter("needs_index"), lambda service: verify(pipeline, service),
        task_dep=lambda service: [names.push_manifest_task(service.name)], guarded=False)


def verify(pipeline: Pipeline, service: Service):
    failures = pipeline.ledger.failures(service.name)
    if not failures and pipeline.ledger.outcome(service.name).superseded:
        return True
    if not failures:
        try:
            plan = pipeline.facts.plan(service)
            if pipeline.facts.index_published(service, plan.commit, plan.inputs):
                return True
            failures = {names.push_manifest_task(service.name): "the registry has no index for this commit"}
        except StageFailed as error:
            failures = {names.verify_task(service.name): str(error)}
    return TaskFailed(f"{service.name} is not published: {', '.join(failures)} failed (the summary says why)")

"""verify: reads a service's index back from the registry and fails the run
when it is not there for the current build key, with the reasons gathered
along the way. ``doit build:<service>`` ends here; in a full run the other
services go on to be recorded all the same."""
from __future__ import annotations

from operator import attrgetter

from doit.exceptions import TaskFailed

from . import push_manifest
from .catalogue import Service
from .pipeline import Pipeline, StageFailed
from .registry import RegistryError

BASENAME = "verify"


def task_name(service: Service) -> str:
    return f"{BASENAME}:{service.name}"


def tasks(pipeline: Pipeline):
    needs_record = attrgetter("needs_record")
    yield {"basename": BASENAME, "name": None,
           "doc": "check that each service's index is published for its current commit",
           "uptodate": [pipeline.uptodate(needs_record)]}
    for service in pipeline.catalogue.services:
        yield {
            "basename": BASENAME,
            "name": service.name,
            "doc": f"check that {service.name}'s index is published for the current commit",
            "actions": [(verify, [pipeline, service])],
            "task_dep": [push_manifest.task_name(service)],
            "uptodate": [pipeline.uptodate(needs_record, service)],
        }


def verify(pipeline: Pipeline, service: Service):
    failures = pipeline.failures(service)
    if not failures:
        try:
            plan = pipeline.plan(service)
            if pipeline.index_published(service, plan.commit, plan.inputs):
                return True
            failures = {push_manifest.task_name(service): "the registry has no index for this commit"}
        except (StageFailed, RegistryError) as error:
            failures = {task_name(service): str(error)}
    return TaskFailed(f"{service.name} is not published:\n"
                      + "\n".join(f"  {task}: {reason.splitlines()[0]}" for task, reason in failures.items()))

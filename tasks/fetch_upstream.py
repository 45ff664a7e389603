"""fetch-upstream: the source of each service that will build, at exactly
the upstream commit this run resolved (the one built, labelled and recorded)."""
from __future__ import annotations

from operator import attrgetter

from . import upstream
from .catalogue import Service
from .pipeline import Pipeline

BASENAME = "fetch-upstream"


def task_name(service: Service) -> str:
    return f"{BASENAME}:{service.name}"


def tasks(pipeline: Pipeline):
    needs_source = attrgetter("needs_source")
    yield {"basename": BASENAME, "name": None,
           "doc": "check out each service's upstream at the commit its ref points at",
           "uptodate": [pipeline.uptodate(needs_source)]}
    for service in pipeline.catalogue.services:
        yield {
            "basename": BASENAME,
            "name": service.name,
            "doc": f"check out {service.name}'s upstream at the commit its {service.ref_kind} points at",
            "actions": [(pipeline.attempt, [service, task_name(service), lambda s=service: fetch(pipeline, s)])],
            "uptodate": [pipeline.uptodate(needs_source, service)],
            "verbosity": 2,
        }


def fetch(pipeline: Pipeline, service: Service) -> None:
    commit = pipeline.plan(service).commit  # the registry must answer before any work
    upstream.checkout(service.upstream, commit, pipeline.source_dir(service))
    print(f"{service.name}: {service.upstream} {service.ref_kind} {service.ref} at {commit}")

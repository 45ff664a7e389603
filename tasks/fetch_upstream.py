"""fetch-upstream: the source of each service that will build, at exactly
the upstream commit this run resolved (the one built, labelled and recorded)."""
from __future__ import annotations

from operator import attrgetter

from . import graph, names, upstream
from .catalogue import Service
from .pipeline import Pipeline


def tasks(pipeline: Pipeline):
    yield from graph.service_tasks(
        pipeline, names.FETCH_UPSTREAM, "check out {service}'s upstream at the commit its ref points at",
        attrgetter("needs_source"), lambda service: fetch(pipeline, service), verbosity=2)


def fetch(pipeline: Pipeline, service: Service) -> None:
    commit = pipeline.facts.plan(service).commit  # the registry must answer before any work
    upstream.checkout(service.upstream, commit, pipeline.source_dir(service), pipeline.settings.environ)
    print(f"{service.name}: {service.upstream} {service.ref_kind} {service.ref} at {commit}")

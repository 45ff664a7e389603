"""fetch-upstream: the source of each service that will build, at exactly
the upstream commit this run resolved (the one built, labelled and recorded)."""
from __future__ import annotations

from collections.abc import Iterator
from operator import attrgetter
from typing import Any

from . import graph, names, upstream
from .catalogue import Service
from .run import Run


def tasks(run: Run) -> Iterator[dict[str, Any]]:
    yield from graph.service_tasks(
        run, names.FETCH_UPSTREAM, "check out {service}'s upstream at the commit its ref points at",
        attrgetter("needs_source"), lambda service: fetch(run, service), verbosity=2)


def fetch(run: Run, service: Service) -> None:
    commit = run.facts.plan(service).commit  # the registry must answer before any work
    upstream.checkout(service.upstream, commit, run.source_dir(service), run.settings.environ)
    print(f"{service.name}: {service.upstream} {service.ref_kind} {service.ref} at {commit}")

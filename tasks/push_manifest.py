"""push-manifest: once every platform of a service is in the registry, one
image index over them, annotated and tagged with the upstream commit and
``latest`` (pushed last, so that it marks the index as done)."""
from __future__ import annotations

from datetime import datetime, timezone
from operator import attrgetter

from . import graph, names
from .builders import IndexRequest
from .catalogue import Service
from .decide_stale import ServicePlan
from .errors import StageFailed
from .pipeline import Pipeline


def tasks(pipeline: Pipeline):
    yield from graph.service_tasks(
        pipeline, names.PUSH_MANIFEST, "push {service}'s multi-arch image index once all its platforms are built",
        attrgetter("needs_index"), lambda service: push(pipeline, service),
        task_dep=lambda service: [names.build_task(service.name, p) for p in service.platforms],
        after=prerequisites)


def prerequisites(service: Service) -> list[str]:
    return [names.fetch_task(service.name), *(names.build_task(service.name, p) for p in service.platforms)]


def annotations(service: Service, plan: ServicePlan, created: datetime):
    version = plan.version or plan.commit[:names.SHORT_COMMIT]
    return (("org.opencontainers.image.source", service.upstream),
            (names.REVISION_ANNOTATION, plan.commit),
            ("org.opencontainers.image.created", created.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("org.opencontainers.image.version", version),
            (names.INPUTS_ANNOTATION, plan.inputs))


def push(pipeline: Pipeline, service: Service) -> None:
    plan = pipeline.facts.plan(service)
    found = {p: pipeline.facts.platform_manifest(service, plan.commit, plan.inputs, p) for p in service.platforms}
    missing = [platform for platform, manifest in found.items() if manifest is None]
    if missing:
        raise StageFailed(f"index not pushed: no image yet for {', '.join(missing)}")
    request = IndexRequest(repository=pipeline.image(service),
                           tags=names.index_tags(plan.commit, plan.version),
                           manifests=tuple(found.values()),
                           annotations=annotations(service, plan, datetime.now(timezone.utc)))
    digest = pipeline.builder.push_index(request, pipeline.work_dir / "builder")
    pipeline.ledger.indexed(service.name, digest)
    print(f"{service.name}: pushed index {digest} as "
          + ", ".join(f"{request.repository}:{tag}" for tag in request.tags))

"""push-manifest: once every platform of a service is in the registry, one
image index over them, annotated and tagged with the upstream commit and
``latest`` (pushed last, so that it marks the index as done)."""
from __future__ import annotations

from datetime import datetime, timezone
from operator import attrgetter

from . import build, decide_stale, fetch_upstream
from .builders import IndexRequest
from .catalogue import Service
from .pipeline import Pipeline, StageFailed

BASENAME = "push-manifest"


def task_name(service: Service) -> str:
    return f"{BASENAME}:{service.name}"


def tasks(pipeline: Pipeline):
    needs_index = attrgetter("needs_index")
    yield {"basename": BASENAME, "name": None,
           "doc": "push each service's multi-arch image index once all its platforms are built",
           "uptodate": [pipeline.uptodate(needs_index)]}
    for service in pipeline.catalogue.services:
        yield {
            "basename": BASENAME,
            "name": service.name,
            "doc": f"push {service.name}'s multi-arch image index once all its platforms are built",
            "actions": [(pipeline.attempt, [service, task_name(service), lambda s=service: push(pipeline, s),
                                            prerequisites(service)])],
            "task_dep": [build.task_name(service, p) for p in service.platforms],
            "uptodate": [pipeline.uptodate(needs_index, service)],
        }


def prerequisites(service: Service) -> list[str]:
    return [fetch_upstream.task_name(service), *(build.task_name(service, p) for p in service.platforms)]


def annotations(service: Service, plan: decide_stale.ServicePlan, created: datetime):
    version = plan.version or plan.commit[:decide_stale.SHORT_COMMIT]
    return (("org.opencontainers.image.source", service.upstream),
            ("org.opencontainers.image.revision", plan.commit),
            ("org.opencontainers.image.created", created.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("org.opencontainers.image.version", version),
            (decide_stale.INPUTS_ANNOTATION, plan.inputs))


def push(pipeline: Pipeline, service: Service) -> None:
    plan = pipeline.plan(service)
    manifests, missing = [], []
    for platform in service.platforms:
        manifest = pipeline.platform_manifest(service, plan.commit, plan.inputs, platform)
        (manifests.append(manifest) if manifest else missing.append(platform))
    if missing:
        raise StageFailed(f"index not pushed: no image yet for {', '.join(missing)}")
    request = IndexRequest(repository=pipeline.image(service),
                           tags=decide_stale.index_tags(plan.commit, plan.version),
                           manifests=tuple(manifests),
                           annotations=annotations(service, plan, datetime.now(timezone.utc)))
    digest = pipeline.builder.push_index(request, pipeline.work_dir / "builder")
    pipeline.record_index(service, digest)
    print(f"{service.name}: pushed index {digest} as "
          + ", ".join(f"{request.repository}:{tag}" for tag in request.tags))

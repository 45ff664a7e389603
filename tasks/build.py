"""build: one task per service and platform. Each builds the checked-out
source with the service's Dockerfile, with registry build cache kept per
platform, and pushes the image under its platform tag, whose presence in the
registry marks the platform as done for this build key."""
from __future__ import annotations

from operator import attrgetter

from . import decide_stale, fetch_upstream
from .builders import BuildRequest
from .catalogue import Service
from .pipeline import Pipeline

BASENAME = "build"


def group_name(service: Service) -> str:
    return f"{BASENAME}:{service.name}"


def task_name(service: Service, platform: str) -> str:
    return f"{group_name(service)}:{decide_stale.platform_slug(platform)}"


def platform_task_names(pipeline: Pipeline) -> list[str]:
    return [task_name(s, p) for s in pipeline.catalogue.services for p in s.platforms]


def tasks(pipeline: Pipeline, after_builds):
    """``after_builds(service)`` names the tasks that ``doit build:<service>``
    runs after the platform builds (the index and its check)."""
    for service in pipeline.catalogue.services:
        yield {
            "basename": group_name(service),
            "name": None,
            "doc": f"build and publish {service.name} for {', '.join(service.platforms)} (no commit)",
            "task_dep": after_builds(service),
            "uptodate": [pipeline.uptodate(attrgetter("needs_record"), service)],
        }
        for platform in service.platforms:
            name = task_name(service, platform)
            yield {
                "basename": group_name(service),
                "name": decide_stale.platform_slug(platform),
                "doc": f"build {service.name} for {platform} and push it",
                "actions": [(pipeline.attempt, [service, name, lambda s=service, p=platform: build(pipeline, s, p),
                                                [fetch_upstream.task_name(service)]])],
                "task_dep": [fetch_upstream.task_name(service)],
                "uptodate": [pipeline.uptodate(lambda plan, p=platform: p in plan.pending_platforms, service)],
            }


def labels(service: Service, commit: str) -> tuple[tuple[str, str], ...]:
    return (("org.opencontainers.image.source", service.upstream),
            ("org.opencontainers.image.revision", commit),
            ("org.opencontainers.image.title", service.name))


def build(pipeline: Pipeline, service: Service, platform: str) -> None:
    plan = pipeline.plan(service)
    request = BuildRequest(
        context=pipeline.source_dir(service),
        dockerfile=service.dockerfile,
        platform=platform,
        build_args=(("UPSTREAM_COMMIT", plan.commit), *service.build_args),
        labels=labels(service, plan.commit),
        image=f"{pipeline.image(service)}:{decide_stale.platform_tag(plan.commit, plan.inputs, platform)}",
        cache_ref=f"{pipeline.image(service)}/cache-{decide_stale.platform_slug(platform)}",
        attestations=service.attestations,
    )
    digest = pipeline.builder.build(request, pipeline.work_dir / "builder")
    pipeline.record_built(service, platform, digest)
    print(f"{service.name} {platform}: pushed {request.image} ({digest})")

"""build: one task per service and platform. Each builds the checked-out
source with the service's Dockerfile, with registry build cache kept per
platform, and pushes the image under its platform tag, whose presence in the
registry marks the platform as done for this build key.

``doit build:<service>`` builds every platform of one service, then pushes
and checks its index, without recording it."""
from __future__ import annotations

from operator import attrgetter

from . import graph, names
from .builders import BuildRequest
from .catalogue import Service
from .pipeline import Pipeline


def tasks(pipeline: Pipeline):
    for service in pipeline.catalogue.services:
        yield {
            "basename": names.build_group(service.name),
            "name": None,
            "doc": f"build and publish {service.name} for {', '.join(service.platforms)} (no commit)",
            "task_dep": [names.push_manifest_task(service.name), names.verify_task(service.name)],
            "uptodate": [graph.uptodate(pipeline, attrgetter("needs_record"), service)],
        }
        fetch = names.fetch_task(service.name)
        for platform in service.platforms:
            yield {
                "basename": names.build_group(service.name),
                "name": names.platform_slug(platform),
                "doc": f"build {service.name} for {platform} and push it",
                "actions": [(pipeline.ledger.attempt, [
                    service.name, names.build_task(service.name, platform),
                    lambda s=service, p=platform: build(pipeline, s, p), [fetch]])],
                "task_dep": [fetch],
                "uptodate": [graph.uptodate(pipeline, lambda plan, p=platform: p in plan.pending_platforms, service)],
            }


def labels(service: Service, commit: str) -> tuple[tuple[str, str], ...]:
    return (("org.opencontainers.image.source", service.upstream),
            (names.REVISION_ANNOTATION, commit),
            ("org.opencontainers.image.title", service.name))


def build(pipeline: Pipeline, service: Service, platform: str) -> None:
    plan = pipeline.facts.plan(service)
    image = pipeline.image(service)
    request = BuildRequest(
        context=pipeline.source_dir(service),
        dockerfile=service.dockerfile,
        platform=platform,
        build_args=(("UPSTREAM_COMMIT", plan.commit), *service.build_args),
        labels=labels(service, plan.commit),
        image=f"{image}:{names.platform_tag(plan.commit, plan.inputs, platform)}",
        cache_ref=names.cache_repository(image, platform),
        attestations=service.attestations,
        ignore_file=service.ignore_file,
    )
    digest = pipeline.builder.build(request, pipeline.work_dir / "builder")
    pipeline.ledger.built(service.name, platform, digest)
    print(f"{service.name} {platform}: pushed {request.image} ({digest})")

"""build: one task per service and platform. Each builds the checked-out
source with the service's Dockerfile, with registry build cache kept per
platform, and pushes the image under a candidate tag; the image is then
started with a container runtime and checked (``tasks.start_check``), and
only then put under its platform tag, whose presence in the registry marks
the platform as done for this build key. A build or a check that fails is
remembered in the registry (``tasks.failure_memory``), so the same inputs
are not tried again on every tick.

``doit build:<service>`` builds every platform of one service, then pushes
and checks its index, without recording it."""
from __future__ import annotations

from collections.abc import Iterator
from operator import attrgetter
from typing import Any

from . import failure_memory, graph, names, start_check
from .builders import BuildRequest, RecipeFailed
from .catalogue import Service
from .decide_stale import ServicePlan
from .errors import StageFailed
from .ledger import say
from .run import Run


def tasks(run: Run) -> Iterator[dict[str, Any]]:
    for service in run.catalogue.services:
        yield {
            "basename": names.build_group(service.name),
            "name": None,
            "doc": f"build and publish {service.name} for {', '.join(service.platforms)} (no commit)",
            "task_dep": [names.push_manifest_task(service.name), names.verify_task(service.name)],
            # Nothing to do when the index is there: it records nothing.
            "uptodate": [graph.uptodate(run, attrgetter("needs_index"), service)],
        }
        fetch = names.fetch_task(service.name)
        for platform in service.platforms:
            yield {
                "basename": names.build_group(service.name),
                "name": names.platform_slug(platform),
                "doc": f"build {service.name} for {platform} and push it",
                "actions": [(run.ledger.attempt, [
                    service.name, names.build_task(service.name, platform),
                    lambda s=service, p=platform: build(run, s, p)])],
                "task_dep": [fetch],
                "uptodate": [graph.uptodate(run, _pending(platform), service, after=[fetch])],
            }


def _pending(platform: str) -> graph.PlanCheck:
    """Whether a plan has ``platform`` still to build."""
    return lambda plan: platform in plan.pending_platforms


def labels(service: Service, commit: str) -> tuple[tuple[str, str], ...]:
    return (("org.opencontainers.image.source", service.upstream),
            (names.REVISION_ANNOTATION, commit),
            ("org.opencontainers.image.title", service.name))


def build(run: Run, service: Service, platform: str) -> None:
    plan = run.facts.plan(service)
    image = run.image(service)
    request = BuildRequest(
        context=run.source_dir(service),
        dockerfile=service.dockerfile,
        platform=platform,
        build_args=(("UPSTREAM_COMMIT", plan.commit), *run.facts.build_args(service)),
        labels=labels(service, plan.commit),
        image=f"{image}:{names.candidate_tag(plan.commit, plan.inputs, platform)}",
        cache_ref=names.cache_repository(image, platform),
        attestations=service.attestations,
        ignore_file=service.ignore_file,
    )
    builder = run.builder
    try:
        digest = builder.build(request, run.work_dir / "builder")
    except RecipeFailed as error:
        remember(run, service, plan, platform, "build", str(error).splitlines()[0])
        raise
    print(f"{service.name} {platform}: pushed {request.image} ({digest})")
    check(run, service, plan, platform, image, digest)
    run.registry.tag(image, digest, names.platform_tag(plan.commit, plan.inputs, platform))
    run.ledger.built(service.name, platform, digest)
    print(f"{service.name} {platform}: {image}:{names.platform_tag(plan.commit, plan.inputs, platform)} "
          "may now enter the index")


def check(run: Run, service: Service, plan: ServicePlan, platform: str, image: str, digest: str) -> None:
    """Start the pushed image and check it; raise StageFailed (and remember
    the failure) when it does not work."""
    spec = service.start_check
    if spec.skip:
        run.ledger.checked(service.name, platform, start_check.CheckResult(True, f"off: {spec.skip}", 0.0))
        return
    config = run.registry.image_config(image, digest, platform)
    name = f"privacy-oci-check-{service.name}-{names.platform_slug(platform)}"
    result = start_check.check(run.runtime, name, f"{image}@{digest}", platform, config, spec)
    run.ledger.checked(service.name, platform, result)
    if result.passed:
        print(f"{service.name} {platform}: start check passed in {result.seconds:.1f} s ({result.what})")
        return
    remember(run, service, plan, platform, "start check", result.what)
    log = "\n".join(f"    {line}" for line in result.log) or "    (the container wrote nothing)"
    raise StageFailed(f"{platform} image did not pass its start check: {result.what}\n  its log:\n{log}")


def remember(run: Run, service: Service, plan: ServicePlan, platform: str, stage: str,
             reason: str) -> None:
    """Remember a failed attempt, so that the next runs hold it back; a
    registry that cannot take it leaves the failure as it is."""
    try:
        failure = failure_memory.remember(
            run.registry, run.image(service), names.failure_tag(plan.commit, plan.inputs, platform),
            platform, stage, reason, run.facts.now, service.start_check.digest())
    except StageFailed as error:
        say(f"{service.name} {platform}: the failure could not be remembered ({error}); the next run tries again")
        return
    say(f"{service.name} {platform}: {stage} failed {failure.attempts} time(s) in a row; "
        f"held back until {failure.next_try:%Y-%m-%d %H:%M} UTC unless its inputs change")

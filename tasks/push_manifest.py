"""push-manifest: once every platform of a service is in the registry, one
OCI image index over them, annotated, put over the distribution API (so no
builder is needed) under the short upstream commit, then, unless a newer
state is already published, under the release tag and ``latest``: pushed
last, as it marks the index as done."""
from __future__ import annotations as _annotations  # (the name is taken: annotations() below)

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from operator import attrgetter
from typing import Any

from . import decide_stale, graph, names
from .builders import PlatformManifest
from .catalogue import Service
from .decide_stale import ServicePlan
from .errors import StageFailed
from .registry import OCI_INDEX, platform_of
from .run import Run


def tasks(run: Run) -> Iterator[dict[str, Any]]:
    yield from graph.service_tasks(
        run, names.PUSH_MANIFEST, "push {service}'s multi-arch image index once all its platforms are built",
        attrgetter("needs_index"), lambda service: push(run, service),
        task_dep=lambda service: [names.build_task(service.name, p) for p in service.platforms],
        after=lambda service: names.index_prerequisites(service.name, service.platforms))


def annotations(service: Service, plan: ServicePlan, created: datetime) -> dict[str, str]:
    version = plan.version or plan.commit[:names.SHORT_COMMIT]
    return {"org.opencontainers.image.source": service.upstream,
            names.REVISION_ANNOTATION: plan.commit,
            "org.opencontainers.image.created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "org.opencontainers.image.version": version,
            names.INPUTS_ANNOTATION: plan.inputs}


def image_index(manifests: list[PlatformManifest], annotations: dict[str, str]) -> bytes:
    """An OCI image index over platform manifests already in the repository;
    a platform pushed as an index of its own (the image and its attestation
    manifests) brings its entries as they are."""
    entries: list[dict[str, Any]] = []
    for manifest in manifests:
        if manifest.entries:
            entries.extend(manifest.entries)
            continue
        os_name, arch, *variant = manifest.platform.split("/")
        platform = {"architecture": arch, "os": os_name, **({"variant": variant[0]} if variant else {})}
        entries.append({"mediaType": manifest.media_type, "digest": manifest.digest,
                        "size": manifest.size, "platform": platform})
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries,
             "annotations": dict(sorted(annotations.items()))}
    return json.dumps(index, indent=2).encode()


def push(run: Run, service: Service) -> None:
    plan = run.facts.plan(service)
    found = {p: run.facts.platform_manifest(service, plan.commit, plan.inputs, p) for p in service.platforms}
    missing = [platform for platform, manifest in found.items() if manifest is None]
    if missing:
        raise StageFailed(f"index not pushed: no image yet for {', '.join(missing)}")
    repository = run.image(service)
    body = image_index([manifest for manifest in found.values() if manifest is not None],   # (none is missing)
                       annotations(service, plan, datetime.now(timezone.utc)))
    commit_tag, *moving_tags = names.index_tags(plan.commit, plan.version)
    digest = run.registry.put_manifest(repository, commit_tag, body, OCI_INDEX)
    print(f"{service.name}: pushed index {digest} as {repository}:{commit_tag}")
    check_as_consumers_read_it(run, service, repository, commit_tag)

    reason = superseded(run, service, plan)
    if reason:
        run.ledger.superseded(service.name, reason)
        return
    # The distribution API has no conditional write (no compare-and-swap on
    # a tag), and the upstream, the catalogue's remote and the registry share
    # no transaction: the window between the checks above and these writes
    # cannot be closed, only kept to the requests themselves.
    for tag in moving_tags:
        run.registry.put_manifest(repository, tag, body, OCI_INDEX)
    run.ledger.indexed(service.name, digest)
    print(f"{service.name}: {', '.join(f'{repository}:{tag}' for tag in moving_tags)} now {digest}")


def check_as_consumers_read_it(run: Run, service: Service, repository: str, reference: str) -> None:
    """Read the index back as a consumer would: every platform of the
    service is listed, and each listed image's config states the platform
    its entry claims. Raise StageFailed (``latest`` is not moved) when not."""
    registry = run.registry
    index = registry.manifest(repository, reference)
    if index is None:
        raise StageFailed(f"index {repository}:{reference} cannot be read back")
    entries = {platform_of(m.get("platform") or {}): m for m in index.json().get("manifests", ())}
    for platform in service.platforms:
        entry = entries.get(platform)
        if entry is None:
            raise StageFailed(f"index {reference} lists no image for {platform}; latest not moved")
        stated = platform_of(registry.image_config(repository, entry["digest"], platform))
        if stated != platform:
            raise StageFailed(f"index {reference} lists {entry['digest'][:19]} as {platform}, but its config "
                              f"says {stated}; latest not moved")


def superseded(run: Run, service: Service, plan: ServicePlan) -> str | None:
    """Why ``latest`` must stay as it is, asked of the catalogue's remote and
    then, last, of upstream: the checks closest to the write come last."""
    try:
        remote = run.remote
        recorded_now = remote.records(remote.head()).get(service.name)
    except StageFailed as error:
        raise StageFailed(f"latest not moved: what other runs recorded cannot be read: {error}") from None
    return decide_stale.superseded_by(plan.commit, run.facts.upstream_now(service), service.published,
                                      recorded_now, plan.record)

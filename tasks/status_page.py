"""status-page: writes the status site (``tasks.site``) from the catalogue,
the registry and the last run's report, to PRIVACY_OCI_SITE (default
``.work/site``; the GitLab pages job writes ``public/``).

Per service: its platforms; the published upstream commit (and release
tag), with a link where the forge's address of a commit is known; how far
behind upstream's head it is, as far as known (upstream's head is looked
up, never its history: "behind", not a count); when it was published; each
platform image's digest and size; the pull command; the start check's
result; what is held back, why, and when it is tried next.

Where each fact comes from: the registry is the truth (the ``latest``
index, its annotations and platform images; the remembered failures), and
upstream's head is asked as a run asks it (``tasks.facts``, with a view of
its own, so that the run's report is left as it was). Every published
image passed its start check (no other image may enter an index); the
details of a check (what answered, in how many seconds, the log of one
that failed) come from the run reports in the report's folder, those of
the same upstream commit.

Never part of a plain ``doit`` run: it reads the registry and upstream and
publishes nothing, and a publish run must not fail for it. It always runs
when asked. ``--remember`` (the pages job) also remembers in the registry
what the site was made from (``tasks.site_memory``), so that a tick with
nothing to do adds no pages job.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import names, site, site_memory
from .catalogue import Service
from .decide_stale import ServicePlan
from .errors import StageFailed
from .facts import Facts
from .registry import INDEX_TYPES, RegistryClient, platform_of
from .run import Run

TITLE = "privacy-oci images"
VERSION_ANNOTATION = "org.opencontainers.image.version"
CREATED_ANNOTATION = "org.opencontainers.image.created"
# What the run reports say: (service, commit, platform) -> the newest start
# check reported, and (service, commit) -> task -> why it failed (a report
# may lack a service's name, and a service with nothing published has no commit).
ReportedChecks = dict[tuple[str | None, str | None, str], dict[str, Any]]
ReportedErrors = dict[tuple[str | None, str], dict[str, str]]


def tasks(run: Run) -> Iterator[dict[str, Any]]:
    yield {
        "basename": names.STATUS_PAGE,
        "doc": "write the status site (an index, a page and a badge per service) from the registry and the last report",
        "actions": [(write, [run])],
        "params": [{"name": "remember", "long": "remember", "type": bool, "default": False,
                    "help": "remember in the registry what the site was made from (the job that publishes it)"}],
        # It reports the state of the registry and upstreams now: always run.
        "uptodate": [False],
        "verbosity": 2,
    }


@dataclasses.dataclass(frozen=True)
class Published:
    """A service's ``latest`` index as the registry has it."""
    digest: str
    annotations: dict[str, Any]
    images: dict[str, tuple[str, int | None]]    # platform -> (digest, size or None)


def write(run: Run, remember: bool = False) -> bool:
    reports = read_reports(run.path(run.settings.report_file).parent)
    # The site shows the steady state: a retry asked for this run is not it.
    facts = Facts(run.catalogue, dataclasses.replace(run.settings, retry=False), lambda: run.registry)
    plans: dict[str, ServicePlan | str] = {}
    for service in run.catalogue.services:
        try:
            plans[service.name] = facts.plan(service)
        except StageFailed as error:
            plans[service.name] = str(error)
    model = site.Site(TITLE, run.catalogue.image_prefix, facts.now, tuple(
        service_status(run.registry, facts, service, plans[service.name], reports)
        for service in run.catalogue.services))
    directory = run.path(run.settings.site_dir)
    put_in_place(site.files(model), directory)
    states = ", ".join(f"{s.name} {s.state}" for s in model.services)
    print(f"status-page: {len(model.services)} service(s) ({states}); the site is in {directory}, "
          f"its index {directory / 'index.html'}")
    if remember:
        remember_inputs(run, plans)
    return True


def remember_inputs(run: Run, plans: Mapping[str, ServicePlan | str]) -> None:
    unknown = [name for name, plan in plans.items() if isinstance(plan, str)]
    if unknown:
        print(f"status-page: not remembered as up to date ({', '.join(unknown)} could not be asked): "
              "the next tick writes the site again")
        return
    known = {name: plan for name, plan in plans.items() if not isinstance(plan, str)}   # (all of them, by now)
    try:
        site_memory.remember(run.registry, run.catalogue.image_prefix,
                             site_memory.inputs_digest(run.catalogue, known))
    except StageFailed as error:
        print(f"status-page: what the site was made from could not be remembered ({error}): "
              "the next tick writes it again")


def service_status(registry: RegistryClient, facts: Facts, service: Service, plan_or_reason: ServicePlan | str,
                   reports: list[dict[str, Any]]) -> site.Service:
    image = facts.catalogue.image(service)
    unknown = plan_or_reason if isinstance(plan_or_reason, str) else None
    plan = None if isinstance(plan_or_reason, str) else plan_or_reason
    try:
        published = published_index(registry, image, service.platforms)
    except StageFailed as error:
        published, unknown = None, unknown or f"the registry cannot say what is published: {error}"
    annotations = published.annotations if published else {}
    published_commit: str | None = annotations.get(names.REVISION_ANNOTATION)
    checks, run_errors = from_reports(reports)
    held = dict(plan.held_back) if plan else {}
    platforms = []
    for platform in service.platforms:
        digest, size = (published.images.get(platform) if published else None) or (None, None)
        check = None
        if digest:
            detail = checks.get((service.name, published_commit, platform))
            check = site.Check(True, detail["result"] + _seconds(detail)) if detail and detail["passed"] else \
                site.Check(True, "before it was published (only an image that passes is published)")
        head_check = checks.get((service.name, plan.commit, platform)) if plan else None
        failed_check = head_check if head_check and not head_check["passed"] else None
        pending = plan is not None and platform in plan.pending_platforms
        failed = None
        if pending and plan is not None:
            failed = _failed(facts, service, plan, platform, failed_check,
                             run_errors.get((service.name, plan.commit), {}))
        failure = held.get(platform)
        platforms.append(site.Platform(
            platform, digest, size, check,
            site.HeldBack(failure.stage, failure.attempts, failure.attempted_at, failure.next_try, failure.reason)
            if failure else None,
            failed, pending and not failed, tuple(failed_check["log"]) if failed_check else ()))
    return site.Service(
        name=service.name, image=image, upstream=service.upstream, ref=f"{service.ref_kind} {service.ref}",
        platforms=tuple(platforms), head=plan.commit if plan else None, head_version=plan.version if plan else None,
        published_commit=published_commit, published_version=annotations.get(VERSION_ANNOTATION),
        published_at=_moment(annotations.get(CREATED_ANNOTATION)),
        index_digest=published.digest if published else None,
        rebuild_pending=bool(plan and published_commit == plan.commit
                             and annotations.get(names.INPUTS_ANNOTATION) != plan.inputs),
        unknown=unknown)


def _failed(facts: Facts, service: Service, plan: ServicePlan, platform: str,
            failed_check: Mapping[str, Any] | None, errors: Mapping[str, str]) -> str | None:
    """What failed in the last try at a platform still pending (its backoff
    has run out), or None when it has not been tried."""
    try:
        failure = facts.failure(service, plan.commit, plan.inputs, platform)
    except StageFailed:
        failure = None
    if failed_check:
        return f"its start check: {failed_check['result']}"
    if failure:
        return f"its {failure.stage}, {failure.attempts} time(s) in a row: {failure.reason}"
    reason = errors.get(names.build_task(service.name, platform))
    if reason is None and errors:
        task, reason = next(iter(errors.items()))
        reason = f"{task}: {reason}"
    return reason.splitlines()[0] if reason else None


def published_index(registry: RegistryClient, image: str, platforms: Collection[str]) -> Published | None:
    """The ``latest`` index of ``image`` and, for each of ``platforms`` it
    lists, its image's digest and size; None when nothing is published."""
    index = registry.manifest(image, names.LATEST)
    if index is None:
        return None
    document = index.json()
    images: dict[str, tuple[str, int | None]] = {}
    entries = document.get("manifests", ()) if index.media_type in INDEX_TYPES else ()
    for entry in entries:
        platform = platform_of(entry.get("platform") or {})
        if platform in platforms and platform not in images:   # (attestations are "unknown/unknown")
            images[platform] = (entry["digest"], image_size(registry, image, entry["digest"]))
    return Published(index.digest, document.get("annotations") or {}, images)


def image_size(registry: RegistryClient, image: str, digest: str) -> int | None:
    """What pulling the image downloads: its config and its (compressed) layers."""
    manifest = registry.manifest(image, digest)
    if manifest is None or manifest.media_type in INDEX_TYPES:
        return None
    document = manifest.json()
    return int(document["config"]["size"] + sum(layer["size"] for layer in document.get("layers", ())))


def read_reports(folder: Path) -> list[dict[str, Any]]:
    """The run reports (``{"services": [...]}``) in ``folder``, oldest first:
    the last run's, and, in a CI pages job, each build job's."""
    found = []
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else ():
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and isinstance(document.get("services"), list):
            found.append(document)
    return found


def from_reports(reports: list[dict[str, Any]]) -> tuple[ReportedChecks, ReportedErrors]:
    """(service, commit, platform) -> the newest start check reported, and
    (service, commit) -> what failed in the newest run that failed, when
    no later run went through."""
    checks: ReportedChecks = {}
    failed: ReportedErrors = {}
    for report in reports:
        for entry in report["services"]:
            if not isinstance(entry, dict) or not entry.get("commit"):
                continue
            key = (entry.get("service"), entry["commit"])
            for platform, check in (entry.get("start_checks") or {}).items():
                checks[(*key, platform)] = check
            if entry.get("status") == "failed":
                failed[key] = {task: str(reason) for task, reason in (entry.get("errors") or {}).items()}
            else:
                failed.pop(key, None)
    return checks, failed


def put_in_place(files: dict[str, bytes], directory: Path) -> None:
    """Write the site into ``directory``, made afresh beside it and then
    swapped in: no page of a service that is gone stays behind."""
    directory = Path(directory)
    fresh = directory.with_name(directory.name + ".new")
    old = directory.with_name(directory.name + ".old")
    for leftover in (fresh, old):
        shutil.rmtree(leftover, ignore_errors=True)
    for path, content in files.items():
        target = fresh / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    if directory.exists():
        directory.rename(old)
    fresh.rename(directory)
    shutil.rmtree(old, ignore_errors=True)


def _seconds(check: Mapping[str, Any]) -> str:
    return f" in {check['seconds']} s" if check.get("seconds") else ""


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        return None

"""The memory of failed attempts, kept in the registry beside the images,
so that a fresh CI job without doit's state knows it too.

A failed build or start check of one platform for one build key is an OCI
artifact (an empty config and layer, as the image spec recommends for
artifacts with no content) under the tag ``failed-<key>-<platform>`` of
the service's repository; its annotations say which stage failed, how many
attempts in a row, when the last one was made, why, and with which start
check. Nothing else reads or moves these tags: ``latest`` and the record
are never touched by a failure. Whether a remembered failure holds a
platform back is decided in ``decide_stale``.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from . import names
from .decide_stale import Failure
from .registry import OCI_MANIFEST, RegistryClient

ARTIFACT_TYPE = "application/vnd.privacy-oci.failure.v1"
EMPTY = b"{}"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
PREFIX = "org.privacy-oci.failure."
REASON_CHARACTERS = 500


def read(registry: RegistryClient, repository: str, tag: str) -> Failure | None:
    """The failure remembered under ``tag``, if any (and readable)."""
    manifest = registry.manifest(repository, tag)
    if manifest is None:
        return None
    annotations = manifest.json().get("annotations") or {}
    try:
        return Failure(stage=annotations[PREFIX + "stage"], attempts=int(annotations[PREFIX + "attempts"]),
                       attempted_at=datetime.fromisoformat(annotations[PREFIX + "attempted"]),
                       reason=annotations.get(PREFIX + "reason", ""), check=annotations.get(PREFIX + "check", ""))
    except (KeyError, ValueError):
        return None   # not one of ours: as if nothing had failed


def remember(registry: RegistryClient, repository: str, tag: str, platform: str, stage: str, reason: str,
             attempted_at: datetime, check: str) -> Failure:
    """Count one more failed attempt under ``tag``; returns what is now
    remembered."""
    before = read(registry, repository, tag)
    failure = Failure(stage=stage, attempts=(before.attempts if before else 0) + 1,
                      attempted_at=attempted_at.astimezone(timezone.utc), check=check,
                      reason=" ".join(reason.split())[:REASON_CHARACTERS])
    digest = registry.put_blob(repository, EMPTY)
    empty = {"mediaType": EMPTY_TYPE, "digest": digest, "size": len(EMPTY)}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": ARTIFACT_TYPE,
                "config": empty, "layers": [empty],
                "annotations": {PREFIX + "stage": failure.stage, PREFIX + "attempts": str(failure.attempts),
                                PREFIX + "attempted": failure.attempted_at.isoformat(timespec="seconds"),
                                PREFIX + "next-try": failure.next_try.isoformat(timespec="seconds"),
                                PREFIX + "reason": failure.reason, PREFIX + "check": failure.check,
                                names.PLATFORM_ANNOTATION: platform}}
    registry.put_manifest(repository, tag, json.dumps(manifest, indent=2).encode(), OCI_MANIFEST)
    return failure

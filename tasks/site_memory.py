"""What the published status site was made from, remembered in the
registry, so that a scheduled tick with nothing to do can tell whether the
site is still as it should be without reading the site itself.

The site's inputs, as a digest: each service of the catalogue (name,
image, upstream, tracked ref, platforms), what its plan says now (upstream's
commit, the build inputs, the release tag, whether the index is published,
the platforms pending or held back, and why), and the code that gathers and
renders the site. Whether a service is recorded in services.yml is left
out: the pages job runs in a checkout from before the record, and the
site shows the registry, not the record.

The digest is kept as a small OCI artifact (an empty config and layer, as
the image spec recommends for artifacts without content, like
``tasks.failure_memory``) under ``<image prefix>/status-page:site-inputs``,
written by the job that publishes the site (``doit status-page --remember``).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from . import names
from .catalogue import Catalogue
from .decide_stale import ServicePlan
from .registry import OCI_MANIFEST, RegistryClient

TAG = "site-inputs"
ARTIFACT_TYPE = "application/vnd.privacy-oci.site-inputs.v1"
ANNOTATION = "org.privacy-oci.site-inputs"
EMPTY = b"{}"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
# The code the site is made by: a new version of it is a new site.
CODE = ("site.py", "badge.py", "status_page.py", "site_memory.py")


def repository(image_prefix: str) -> str:
    return f"{image_prefix}/{names.STATUS_PAGE}"


def inputs_digest(catalogue: Catalogue, plans: Mapping[str, ServicePlan]) -> str:
    """The digest of what the site is made from, for these plans (one per
    service of the catalogue)."""
    here = Path(__file__).parent
    services = []
    for service in catalogue.services:
        plan = plans[service.name]
        services.append({
            "service": [service.name, catalogue.image(service), service.upstream, service.ref_kind, service.ref,
                        list(service.platforms)],
            "plan": [plan.commit, plan.inputs, plan.version, plan.index_published, list(plan.pending_platforms)],
            "held_back": [[platform, f.stage, f.attempts, f.attempted_at.isoformat(), f.reason]
                          for platform, f in plan.held_back],
        })
    code = {name: hashlib.sha256((here / name).read_bytes()).hexdigest() for name in CODE}
    canonical = json.dumps({"services": services, "code": code}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def remembered(registry: RegistryClient, image_prefix: str) -> str | None:
    """The digest the published site was made from, if one is remembered."""
    manifest = registry.manifest(repository(image_prefix), TAG)
    if manifest is None:
        return None
    return (manifest.json().get("annotations") or {}).get(ANNOTATION)


def remember(registry: RegistryClient, image_prefix: str, digest: str) -> None:
    """Remember that the published site was made from ``digest``."""
    target = repository(image_prefix)
    empty_digest = registry.put_blob(target, EMPTY)
    empty = {"mediaType": EMPTY_TYPE, "digest": empty_digest, "size": len(EMPTY)}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": ARTIFACT_TYPE,
                "config": empty, "layers": [empty], "annotations": {ANNOTATION: digest}}
    registry.put_manifest(target, TAG, json.dumps(manifest, indent=2).encode(), OCI_MANIFEST)

"""push-manifest's index: platform images read back from a real registry,
including a platform pushed as an index with an attestation (as buildx does
with --sbom/--provenance), assembled into one OCI index, whatever the
builder."""
from __future__ import annotations

import json
from pathlib import Path

from sandbox import base_image
from sandbox.demo import DEB_CACHE
from tasks import names
from tasks.builders import PlatformManifest
from tasks.catalogue import Catalogue, Service
from tasks.push_manifest import image_index
from tasks.registry import OCI_INDEX, OCI_MANIFEST
from tasks.run import Run
from tasks.settings import Settings

COMMIT, INPUTS = "c" * 40, "d" * 16


def test_index_keeps_attestation_entries_of_a_platform_pushed_as_an_index(gitlab, registry, client, tmp_path):
    name = f"{gitlab.project_path}/{tmp_path.name.lower().replace('_', '-')}/svc"
    token = gitlab.tokens.issue("maintainer", [{"type": "repository", "name": name, "actions": ["pull", "push"]}])
    push = {"Authorization": f"Bearer {token}"}
    base_image.publish(registry.host, name, DEB_CACHE, authorization=push["Authorization"])
    repository = f"{registry.host}/{name}"
    base_url = f"http://{registry.host}/v2/{name}"
    amd64 = client.manifest(repository, "latest-amd64")
    arm64 = client.manifest(repository, "latest-arm64")

    # amd64 as buildx pushes it with attestations: an index of the image and
    # an in-toto attestation manifest that refers to it.
    statement = base_image.push_blob(base_url, json.dumps({"_type": "https://in-toto.io/Statement/v0.1"}).encode(), push)
    empty_config = base_image.push_blob(base_url, b"{}", push)
    attestation = base_image.put_manifest(base_url, "attestation-amd64", {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **empty_config},
        "layers": [{"mediaType": "application/vnd.in-toto+json", **statement,
                    "annotations": {"in-toto.io/predicate-type": "https://spdx.dev/Document"}}]}, push)
    image_entry = {"mediaType": OCI_MANIFEST, "digest": amd64.digest, "size": amd64.size,
                   "platform": {"architecture": "amd64", "os": "linux"}}
    attestation_entry = {**attestation, "platform": {"architecture": "unknown", "os": "unknown"},
                         "annotations": {"vnd.docker.reference.digest": amd64.digest,
                                         "vnd.docker.reference.type": "attestation-manifest"}}
    base_image.put_manifest(base_url, names.platform_tag(COMMIT, INPUTS, "linux/amd64"), {
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [image_entry, attestation_entry]}, push)
    base_image.put_manifest(base_url, names.platform_tag(COMMIT, INPUTS, "linux/arm64"), arm64.json(), push)

    service = Service(name="svc", upstream="file:///x", ref_kind="branch", ref="main",
                      platforms=("linux/amd64", "linux/arm64"), dockerfile=Path("/dev/null"),
                      build_args=())
    run = Run(tmp_path, Catalogue(tmp_path / "services.yml", registry.host + "/" + name.rsplit("/", 1)[0],
                                            (service,)), Settings.from_environ(gitlab.job_env()))
    platforms = [run.facts.platform_manifest(service, COMMIT, INPUTS, p) for p in service.platforms]
    assert platforms[0].entries == (image_entry, attestation_entry)
    assert platforms[1].entries == ()

    digest = client.put_manifest(repository, "latest", image_index(platforms, {"k": "v"}), OCI_INDEX)

    index = client.manifest(repository, "latest")
    assert index.digest == digest
    assert index.json()["manifests"] == [
        image_entry, attestation_entry,
        {"mediaType": arm64.media_type, "digest": arm64.digest, "size": arm64.size,
         "platform": {"architecture": "arm64", "os": "linux"}}]
    assert index.json()["annotations"] == {"k": "v"}
    # Every entry the index names is in the registry.
    for entry in index.json()["manifests"]:
        assert client.manifest(repository, entry["digest"], head=True) is not None


def test_image_index_for_plain_platform_manifests_names_each_platform():
    body = image_index([PlatformManifest("linux/arm/v7", "sha256:1", OCI_MANIFEST, 10)], {"a": "b"})
    assert json.loads(body)["mediaType"] == OCI_INDEX
    assert json.loads(body)["manifests"] == [{"mediaType": OCI_MANIFEST, "digest": "sha256:1", "size": 10,
                                              "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}}]

"""Reading back what a run left behind, as a user would: the records in a
catalogue's text, and the images in a registry, down to a file in a layer."""
from __future__ import annotations

import gzip
import io
import json
import tarfile

import requests
from ruamel.yaml import YAML


def records(services_yml: str) -> dict[str, str]:
    """service -> recorded upstream commit."""
    services = YAML(typ="safe").load(services_yml)["services"]
    return {name: s["published"]["commit"] for name, s in services.items() if "published" in s}


def recorded(services_yml: str, name: str) -> dict:
    """The whole ``published`` record of one service."""
    return YAML(typ="safe").load(services_yml)["services"][name]["published"]


def blob(repository: str, digest: str, authorization: str | None = None) -> bytes:
    """A blob of a repository on a loopback registry."""
    host, _, name = repository.partition("/")
    response = requests.get(f"http://{host}/v2/{name}/blobs/{digest}", timeout=30,
                            headers={"Authorization": authorization} if authorization else {})
    response.raise_for_status()
    return response.content


def tags(repository: str, authorization: str | None = None) -> list[str]:
    """The tags of a repository on a loopback registry."""
    host, _, name = repository.partition("/")
    response = requests.get(f"http://{host}/v2/{name}/tags/list", timeout=30,
                            headers={"Authorization": authorization} if authorization else {})
    response.raise_for_status()
    return sorted(response.json().get("tags") or [])


def index_platforms(client, repository: str) -> set[str]:
    """The architectures ``latest`` lists; empty when there is no ``latest``."""
    index = client.manifest(repository, "latest")
    return set() if index is None else {m["platform"]["architecture"] for m in index.json()["manifests"]}


def image_config(client, repository: str, manifest_digest: str, authorization: str | None = None) -> dict:
    manifest = client.manifest(repository, manifest_digest).json()
    return json.loads(blob(repository, manifest["config"]["digest"], authorization))


def paths_in_image(client, repository: str, manifest_digest: str, authorization: str | None = None) -> set[str]:
    """Every path the image's layers hold."""
    paths = set()
    for layer in client.manifest(repository, manifest_digest).json()["layers"]:
        layer_blob = blob(repository, layer["digest"], authorization)
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer_blob))) as tar:
            paths.update(name.lstrip("./") for name in tar.getnames())
    return paths


def file_in_image(client, repository: str, manifest_digest: str, path: str,
                  authorization: str | None = None) -> str:
    """A file's text as the image's layers leave it."""
    manifest = client.manifest(repository, manifest_digest).json()
    for layer in reversed(manifest["layers"]):
        layer_blob = blob(repository, layer["digest"], authorization)
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer_blob))) as tar:
            try:
                return tar.extractfile(path).read().decode()
            except KeyError:
                continue
    raise AssertionError(f"{path} not in {repository}@{manifest_digest}")

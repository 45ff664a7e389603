"""A tiny real multi-arch base image: Debian's busybox-static for each
architecture, pushed over the distribution API as one OCI image per platform
and an index over them. No public registry is needed."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

import requests

from . import locked

ARCHITECTURES = ("amd64", "arm64")
CREATED = "2026-01-01T00:00:00Z"
APPLETS = ("sh", "cat", "echo", "uname", "mkdir", "cp", "ls", "sleep", "test", "true",
           "false", "env", "grep", "sed", "tr", "wget", "rm", "mv", "touch", "head",
           "tail", "printf", "date", "id", "chmod", "httpd")


def busybox_deb(architecture: str, cache: Path) -> Path:
    """Debian's busybox-static package for ``architecture`` (downloaded once,
    by one test worker while the others wait)."""
    cache.mkdir(parents=True, exist_ok=True)
    with locked(cache / f"busybox-static-{architecture}.lock"):
        found = sorted(cache.glob(f"busybox-static_*_{architecture}.deb"))
        if not found:
            subprocess.run(["apt-get", "download", f"busybox-static:{architecture}"],
                           cwd=cache, check=True, capture_output=True)
            found = sorted(cache.glob(f"busybox-static_*_{architecture}.deb"))
    return found[-1]


def rootfs_layer(deb: Path) -> bytes:
    """An uncompressed tar of a root filesystem with busybox as /bin/sh & co."""
    with tempfile.TemporaryDirectory() as unpacked:
        subprocess.run(["dpkg", "-x", str(deb), unpacked], check=True)
        busybox = Path(unpacked, "bin", "busybox").read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("bin", "tmp", "etc"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(busybox), 0o755
        tar.addfile(info, io.BytesIO(busybox))
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return buffer.getvalue()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(base_url: str, data: bytes, headers: dict | None = None) -> dict:
    digest = _digest(data)
    started = requests.post(f"{base_url}/blobs/uploads/", headers=headers, timeout=30)
    started.raise_for_status()
    location = started.headers["Location"]
    if location.startswith("/"):
        location = base_url.split("/v2/")[0] + location
    separator = "&" if "?" in location else "?"
    requests.put(f"{location}{separator}digest={digest}", data=data, timeout=60,
                 headers={**(headers or {}), "Content-Type": "application/octet-stream"}).raise_for_status()
    return {"digest": digest, "size": len(data)}


def put_manifest(base_url: str, reference: str, manifest: dict, headers: dict | None = None) -> dict:
    body = json.dumps(manifest).encode()
    requests.put(f"{base_url}/manifests/{reference}", data=body, timeout=30,
                 headers={**(headers or {}), "Content-Type": manifest["mediaType"]}).raise_for_status()
    return {"mediaType": manifest["mediaType"], "digest": _digest(body), "size": len(body)}


def publish(registry_host: str, repository: str, cache: Path, marker: str = "",
            authorization: str | None = None) -> str:
    """Push ``registry_host/repository:latest`` for every architecture; return
    the index digest. A different ``marker`` (a file /etc/base-marker) gives
    a base image with the same tag and a new digest. ``authorization`` is
    sent with every request (e.g. ``Bearer <token>`` for a token-auth registry)."""
    base_url = f"http://{registry_host}/v2/{repository}"
    headers = {"Authorization": authorization} if authorization else {}
    entries = []
    for architecture in ARCHITECTURES:
        layer = rootfs_layer(busybox_deb(architecture, cache))
        if marker:
            layer = _append_file(layer, "etc/base-marker", marker.encode())
        compressed = gzip.compress(layer, mtime=0)
        layer_descriptor = push_blob(base_url, compressed, headers)
        # Dated, as published images are: buildah compares history entries,
        # dates included, to reuse registry build cache, and a Docker-format
        # cache image gives an undated entry the zero date.
        config = json.dumps({
            "architecture": architecture, "os": "linux", "created": CREATED,
            "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [_digest(layer)]},
            "history": [{"created": CREATED, "created_by": "privacy-oci sandbox: busybox-static rootfs"}],
        }).encode()
        config_descriptor = push_blob(base_url, config, headers)
        manifest = {
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_descriptor},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer_descriptor}],
        }
        descriptor = put_manifest(base_url, f"latest-{architecture}", manifest, headers)
        entries.append({**descriptor, "platform": {"architecture": architecture, "os": "linux"}})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": entries}
    return put_manifest(base_url, "latest", index, headers)["digest"]


def _append_file(layer: bytes, name: str, content: bytes) -> bytes:
    buffer = io.BytesIO(layer)
    with tarfile.open(fileobj=buffer, mode="a") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()

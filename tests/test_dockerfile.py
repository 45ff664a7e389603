"""Which base images a Dockerfile names."""
from tasks.dockerfile import base_images
from tasks.registry import normalize_image


def test_base_images_skip_stages_and_scratch_and_substitute_args():
    text = """\
# comment
ARG NODE=node:18-alpine
ARG BASE
FROM ${NODE} AS assets
RUN echo \\
    continued
FROM --platform=$BUILDPLATFORM golang:1.23 AS build
FROM assets AS again
FROM ${BASE:-alpine:3.20}
FROM scratch
COPY --from=build /x /x
"""
    assert base_images(text, {}) == ["node:18-alpine", "golang:1.23", "alpine:3.20"]
    assert base_images(text, {"NODE": "node:20", "BASE": "reg.example:5000/b:1"}) == [
        "node:20", "golang:1.23", "reg.example:5000/b:1"]


def test_normalize_image_completes_docker_hub_names():
    assert normalize_image("node:18") == ("registry-1.docker.io/library/node", "18")
    assert normalize_image("docker.io/library/node:18") == ("registry-1.docker.io/library/node", "18")
    assert normalize_image("index.docker.io/84codes/crystal:1.8.1") == ("registry-1.docker.io/84codes/crystal", "1.8.1")
    assert normalize_image("nimlang/nim:2.0") == ("registry-1.docker.io/nimlang/nim", "2.0")
    assert normalize_image("alpine") == ("registry-1.docker.io/library/alpine", "latest")
    assert normalize_image("127.0.0.1:5000/a/b") == ("127.0.0.1:5000/a/b", "latest")
    assert normalize_image("quay.io/x/y@sha256:ab") == ("quay.io/x/y", "sha256:ab")
    assert normalize_image("localhost/y:1") == ("localhost/y", "1")

"""The buildx builder's command lines, argument by argument. No Docker engine
runs here, so a stand-in ``docker`` records its arguments; they are checked
against the flags the Docker documentation gives for ``docker buildx build``."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from tasks.builders import BuildRequest, select
from tasks.builders.buildx import BuildxBuilder
from tasks.registry import RegistryClient
from tasks.settings import Settings

# docs.docker.com/reference/cli/docker/buildx/build/
BUILD_FLAGS_WITH_VALUE = {"--platform", "--file", "--build-arg", "--label", "--cache-from",
                          "--cache-to", "--output", "--metadata-file", "--tag", "--target"}
BUILD_FLAGS_INLINE = {"--provenance", "--sbom", "--push", "--pull", "--load"}
# docs.docker.com/build/exporters/image-registry/
IMAGE_EXPORTER_KEYS = {"type", "name", "push", "push-by-digest", "registry.insecure",
                       "name-canonical", "compression", "oci-mediatypes", "oci-artifact"}
# docs.docker.com/reference/cli/docker/buildx/create/
CREATE_FLAGS_WITH_VALUE = {"--name", "--driver", "--driver-opt", "--platform", "--buildkitd-flags", "--config"}
CREATE_FLAGS_INLINE = {"--bootstrap", "--use", "--append"}
# docs.docker.com/reference/cli/docker/login/
LOGIN_FLAGS_WITH_VALUE = {"--username", "--password"}
LOGIN_FLAGS_INLINE = {"--password-stdin"}
# docs.docker.com/build/cache/backends/registry/
REGISTRY_CACHE_KEYS = {"type", "ref", "mode", "oci-mediatypes", "image-manifest", "compression"}

FAKE_DOCKER = """#!/usr/bin/env python3
import json, sys
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps({{"args": args, "stdin": sys.stdin.read() if "--password-stdin" in args else ""}}) + "\\n")
if args[:2] == ["buildx", "version"]:
    print("github.com/docker/buildx v0.17.1")
elif args[:2] == ["buildx", "build"]:
    path = args[args.index("--metadata-file") + 1]
    json.dump({{"containerimage.digest": "sha256:" + "ab" * 32}}, open(path, "w"))
"""


def request(image="registry.example.org/group/project/scribe:build-0123-4567-arm64") -> BuildRequest:
    return BuildRequest(context=Path("/work/src/scribe"),
                        dockerfile=Path("/repo/Dockerfiles/scribe/Dockerfile"),
                        platform="linux/arm64",
                        build_args=(("UPSTREAM_COMMIT", "c" * 40), ("NODE_VERSION", "18")),
                        labels=(("org.opencontainers.image.revision", "c" * 40),),
                        image=image,
                        cache_ref="registry.example.org/group/project/scribe/cache-arm64")


def key_values(value: str) -> dict:
    return dict(part.split("=", 1) for part in value.split(","))


def check_documented(args, with_value, inline):
    """Every option is a documented flag, with its value where it takes one;
    returns {flag: [values]} and the positional arguments."""
    options, positional, i = {}, [], 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            name = arg.split("=", 1)[0]
            if name in with_value and "=" not in arg:
                options.setdefault(name, []).append(args[i + 1])
                i += 2
                continue
            assert name in inline, f"{arg} is not a documented flag"
            options.setdefault(name, []).append(arg.split("=", 1)[1] if "=" in arg else True)
        else:
            positional.append(arg)
        i += 1
    return options, positional


def test_build_command_uses_documented_flags_with_per_platform_cache():
    builder = BuildxBuilder(RegistryClient(), Settings.from_environ({}))
    args = builder.build_command(request(), Path("/tmp/meta.json"))

    assert args[:3] == ["docker", "buildx", "build"]
    options, positional = check_documented(args[3:], BUILD_FLAGS_WITH_VALUE, BUILD_FLAGS_INLINE)
    assert positional == ["/work/src/scribe"]
    assert options["--platform"] == ["linux/arm64"]
    assert options["--file"] == ["/repo/Dockerfiles/scribe/Dockerfile"]
    assert options["--build-arg"] == ["UPSTREAM_COMMIT=" + "c" * 40, "NODE_VERSION=18"]
    assert options["--label"] == ["org.opencontainers.image.revision=" + "c" * 40]
    assert options["--metadata-file"] == ["/tmp/meta.json"]
    assert options["--provenance"] == ["mode=max"] and options["--sbom"] == ["true"]
    cache_from, = options["--cache-from"]
    cache_to, = options["--cache-to"]
    assert set(key_values(cache_from)) <= REGISTRY_CACHE_KEYS
    assert key_values(cache_from) == {"type": "registry",
                                      "ref": "registry.example.org/group/project/scribe/cache-arm64"}
    assert key_values(cache_to) == {**key_values(cache_from), "mode": "max"}
    output, = options["--output"]
    assert set(key_values(output)) <= IMAGE_EXPORTER_KEYS
    assert key_values(output) == {"type": "image", "push": "true", "oci-artifact": "false",
                                  "name": "registry.example.org/group/project/scribe:build-0123-4567-arm64"}


def test_attestations_can_be_turned_off_for_a_plain_manifest():
    builder = BuildxBuilder(RegistryClient(), Settings.from_environ({}))
    plain = dataclasses.replace(request(), attestations=False)
    options, _ = check_documented(builder.build_command(plain, Path("/m.json"))[3:],
                                  BUILD_FLAGS_WITH_VALUE, BUILD_FLAGS_INLINE)
    assert options["--provenance"] == ["false"] and options["--sbom"] == ["false"]


def test_build_command_marks_loopback_registry_insecure():
    builder = BuildxBuilder(RegistryClient(), Settings.from_environ({}))
    args = builder.build_command(request("127.0.0.1:5000/p/scribe:t"), Path("/tmp/m.json"))
    output = key_values(args[args.index("--output") + 1])
    assert output["registry.insecure"] == "true"


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    log = tmp_path / "docker-calls.log"
    docker = tmp_path / "bin" / "docker"
    docker.parent.mkdir()
    docker.write_text(FAKE_DOCKER.format(log=str(log)))
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{docker.parent}{os.pathsep}{os.environ['PATH']}")
    return log


def test_buildx_is_chosen_when_docker_buildx_works_and_reads_the_metadata_digest(fake_docker, tmp_path):
    builder = select(Settings.from_environ({}), RegistryClient())
    assert isinstance(builder, BuildxBuilder)

    digest = builder.build(request(), tmp_path / "work")

    assert digest == "sha256:" + "ab" * 32
    calls = [json.loads(line)["args"] for line in fake_docker.read_text().splitlines()]
    assert calls[0] == ["buildx", "version"]
    assert calls[1][:2] == ["buildx", "build"] and calls[1][-1] == "/work/src/scribe"


def test_a_ci_job_is_set_up_with_pinned_images_and_a_login_whose_password_goes_through_stdin(fake_docker, tmp_path):
    from tasks.builders.buildx import BINFMT_IMAGE, BUILDKIT_IMAGE
    from tasks.registry_auth import Credential
    builder = BuildxBuilder(RegistryClient(), Settings.from_environ({}))

    builder.prepare([("registry.example.org", Credential("gitlab-ci-token", "job-secret", "CI_REGISTRY_USER")),
                     ("docker.io", Credential("hub-user", "hub-secret", "DOCKER_AUTH_CONFIG"))])

    calls = [json.loads(line) for line in fake_docker.read_text().splitlines()]
    binfmt, create, login, hub_login = (call["args"] for call in calls)
    assert hub_login == ["login", "--username", "hub-user", "--password-stdin", "docker.io"]
    assert calls[3]["stdin"] == "hub-secret" and "hub-secret" not in json.dumps([c["args"] for c in calls])
    assert binfmt == ["run", "--privileged", "--rm", BINFMT_IMAGE, "--install", "arm64,arm"]
    assert ":" in BINFMT_IMAGE and not BINFMT_IMAGE.endswith(":latest")
    options, positional = check_documented(create[2:], CREATE_FLAGS_WITH_VALUE, CREATE_FLAGS_INLINE)
    assert create[:2] == ["buildx", "create"] and positional == []
    assert options["--driver"] == ["docker-container"] and options["--driver-opt"] == [f"image={BUILDKIT_IMAGE}"]
    assert BUILDKIT_IMAGE.startswith("moby/buildkit:v0.") and "--use" in options and "--bootstrap" in options
    options, positional = check_documented(login[1:], LOGIN_FLAGS_WITH_VALUE, LOGIN_FLAGS_INLINE)
    assert login[0] == "login" and positional == ["registry.example.org"]
    assert options == {"--username": ["gitlab-ci-token"], "--password-stdin": [True]}
    assert calls[2]["stdin"] == "job-secret" and "job-secret" not in json.dumps([c["args"] for c in calls])

"""The main job, end to end and offline, on an embedded default:

a local registry, a busybox base image for amd64 and arm64, two stand-in
upstreams (one built for amd64 + arm64 with a RUN step that runs under
emulation, one for amd64), a catalogue repository with a bare remote; then
``doit`` publishes, reads the index back, and a second ``doit`` does nothing;
``doit status-page`` writes the status site, and the demo says where.
It ends by saying how to go on in that world (its registry, catalogue,
upstreams and an ``env.sh``), to try the README's "Using it" offline.

    .venv/bin/python -m sandbox.demo [--workdir DIR]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tasks import names
from tasks.registry import RegistryClient
from tasks.settings import Settings

from . import base_image, containers_conf, scripts_of_this_python_first_on_path
from .config_repo import ConfigRepo
from .registry import LocalRegistry
from .upstreams import Upstream

BASE_REPOSITORY = "sandbox/busybox"
DEB_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "privacy-oci" / "debs"



def stand_in_dockerfile(*steps: str, args=()) -> str:
    """A recipe for a stand-in upstream: the base image (a build arg), the
    upstream's message.txt, and ``steps``."""
    return "".join(line + "\n" for line in (
        "ARG BASE_IMAGE", "FROM ${BASE_IMAGE}", "ARG UPSTREAM_COMMIT=unknown", *(f"ARG {a}" for a in args),
        "COPY message.txt /app/message.txt", *steps))


# A RUN step, so that the arm64 build really executes arm64 code.
STAND_IN_DOCKERFILE = stand_in_dockerfile('RUN uname -m > /app/built-on && echo "$UPSTREAM_COMMIT" > /app/commit',
                                          'CMD ["cat", "/app/message.txt"]')


def stand_in_services(upstreams: dict[str, Upstream], base: str) -> dict[str, dict]:
    """hello-web is built for amd64 and arm64, every other stand-in for amd64."""
    return {name: {"upstream": upstream.url, "branch": upstream.branch,
                   "platforms": ["linux/amd64", "linux/arm64"] if name == "hello-web" else ["linux/amd64"],
                   "build_args": {"BASE_IMAGE": base}}
            for name, upstream in upstreams.items()}


def two_stand_ins(directory: Path, base: str, build_args: dict | None = None
                  ) -> tuple[dict[str, Upstream], dict[str, dict]]:
    """hello-web and hello-cli, each an upstream with one commit under
    ``directory``/upstreams, and their services.yml settings."""
    upstreams = {}
    for name in ("hello-web", "hello-cli"):
        upstreams[name] = Upstream(directory / "upstreams" / name)
        upstreams[name].commit({"message.txt": f"hello from {name}\n"}, "first")
    services = stand_in_services(upstreams, base)
    for settings in services.values():
        settings["build_args"].update(build_args or {})
    return upstreams, services


def doit(checkout: Path, environment: dict, *args: str) -> int:
    print(f"\n$ doit {' '.join(args)}", flush=True)
    return subprocess.run(["doit", *args], cwd=checkout, env=environment).returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, help="where to put everything (default: a new temporary folder)")
    options = parser.parse_args(argv)
    scripts_of_this_python_first_on_path()
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="privacy-oci-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"demo folder: {workdir}")

    with LocalRegistry(workdir / "registry") as registry:
        base_image.publish(registry.host, BASE_REPOSITORY, DEB_CACHE)
        base = f"{registry.host}/{BASE_REPOSITORY}:latest"
        print(f"registry on {registry.host}; base image {base}")
        upstreams = {}
        for name in ("hello-web", "hello-cli"):
            upstreams[name] = Upstream(workdir / "upstreams" / name)
            upstreams[name].commit({"message.txt": f"hello from {name}\n"}, "first")
        prefix = f"{registry.host}/privacy-oci"
        checkout = ConfigRepo(workdir / "catalogue").create(
            prefix, stand_in_services(upstreams, base),
            {name: STAND_IN_DOCKERFILE for name in upstreams})
        settings = {"PRIVACY_OCI_BUILDER": "buildah", "STORAGE_DRIVER": "vfs", "PRIVACY_OCI_LOCAL_UPSTREAMS": "true",
                    "PRIVACY_OCI_BUILDAH_ROOT": str(workdir / "buildah"), **containers_conf.write(workdir)}
        environment = {**os.environ, **settings}

        doit(checkout, environment, "list", "--status")
        if doit(checkout, environment) != 0:
            print("demo: the pipeline failed", file=sys.stderr)
            return 1
        client = RegistryClient()
        for name in upstreams:
            index = client.manifest(f"{prefix}/{name}", "latest").json()
            platforms = [f"{m['platform']['os']}/{m['platform']['architecture']}" for m in index["manifests"]]
            print(f"{prefix}/{name}:latest -> {index['mediaType']} for {', '.join(platforms)}; "
                  f"revision {index['annotations']['org.opencontainers.image.revision'][:12]}")
        print("\nA second run has nothing to do:")
        if doit(checkout, environment) != 0:
            return 1
        print("\nThe status site, from the catalogue, the registry and the last report:")
        if doit(checkout, environment, names.STATUS_PAGE) != 0:
            return 1
        print(f"status page: {site_index(checkout, settings)}")
    print(keep_trying(workdir, registry, checkout, upstreams, settings))
    return 0


def site_index(checkout: Path, settings: dict[str, str]) -> Path:
    """The index page of the status site ``doit status-page`` wrote."""
    return checkout / Settings.from_environ(settings).site_dir / "index.html"


def keep_trying(workdir: Path, registry: LocalRegistry, checkout: Path, upstreams: dict[str, Upstream],
                settings: dict[str, str]) -> str:
    """How to go on in the demo's world (README, "Using it", offline): the
    environment in ``env.sh``, and the commands."""
    env_file = workdir / "env.sh"
    exports = {"PATH": f"{Path(sys.executable).parent}:$PATH", **settings}
    env_file.write_text("# The demo's world: source this, then run doit in the catalogue checkout.\n"
                        + "".join(f'export {name}="{value}"\n' for name, value in exports.items()))
    web = upstreams["hello-web"].work
    return f"""
The demo's world is kept in {workdir}:
  the registry      docker-registry serve {registry.directory / "config.yml"} &   (serves {registry.host} again)
  the catalogue     {checkout}   (a clone; its remote is {checkout.parent / "remote.git"})
  an upstream       {web}   (commit there, then `git push {upstreams["hello-web"].url} HEAD:main`)
  the environment   . {env_file}
To try "Using it" offline:
  docker-registry serve {registry.directory / "config.yml"} >/dev/null 2>&1 &
  . {env_file}; cd {checkout}
  doit list --status           # what would run, and why
  doit build:hello-web         # build, check and publish one service, no commit"""


if __name__ == "__main__":
    sys.exit(main())

"""Fixtures on real parts, with the habits of the real target (gitlab.com):
the project's registry behind GitLab's Bearer token auth (a Distribution
registry and a token realm on a GitLab stand-in), the busybox base image on
a Docker Hub stand-in that is asked anonymously and refuses credentials it
does not know, each job logged in with the job's own credentials only, and
buildah with an empty store per test; upstream git repositories and a
catalogue repository with a bare remote."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from sandbox import ci_images, containers_conf, counting_builder, scripts_of_this_python_first_on_path
from sandbox.config_repo import ConfigRepo
from sandbox.demo import DEB_CACHE, STAND_IN_DOCKERFILE, stand_in_services
from sandbox.docker_hub import DockerHub
from sandbox.gitlab import GitLab
from sandbox.upstreams import Upstream
from sandbox.world import World
from tasks.registry import RegistryClient
from tasks.registry_auth import load as load_credentials
from tasks.settings import Settings

REQUIRED_TOOLS = ("buildah", "docker-registry", "git", "doit")


# Fixtures that bring up real parts: a test that uses one is of the real tier.
REAL_PARTS = {"gitlab", "registry", "hub", "base", "client", "make_sandbox", "sandbox", "hub_base", "buildah",
              "published", "started", "hostile", "nitter_workdir", "registry_with_a_realm_elsewhere"}


def pytest_collection_modifyitems(items):
    """The tiers: a test is real (``-m real``) when it uses a fixture of
    REAL_PARTS or says so itself (``pytest.mark.real``); every other test is
    in the fast tier (``-m 'not real'``), in-process and quick.

    The order: the long tests first, then the rest of the real tier, the
    fast tier last, so that pytest-xdist's workers start on the long ones
    together and the short ones fill the gaps at the end."""
    for item in items:
        if REAL_PARTS & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("long"):
            item.add_marker(pytest.mark.real)
    items.sort(key=lambda item: (not item.get_closest_marker("long"), not item.get_closest_marker("real")))


# The tests' scratch space (tmp_path, and TMPDIR for the programs they
# start) in memory where the machine has room for it: a run makes and
# deletes hundreds of thousands of files (build stores, CI jobs' copies,
# Debian roots), and on a disk without a journal, as these machines' ext4
# is, each new file then skips past every inode freed in the last seconds
# (ext4's find_inode_bit and recently_deleted): a third of a run's CPU.
# A whole run holds about 2.5 GB at its peak.
MEMORY = Path("/dev/shm")
MEMORY_NEEDED = 6 * 2**30


def pytest_configure(config):
    """TMPDIR in ``MEMORY`` for this run and its workers, unless whoever
    runs the tests chose a place (TMPDIR, --basetemp) or it is not a tmpfs
    with room; pytest keeps the last run's folders there."""
    if "TMPDIR" in os.environ or config.option.basetemp or not _is_tmpfs(MEMORY) \
            or shutil.disk_usage(MEMORY).free < MEMORY_NEEDED:
        return
    scratch = MEMORY / f"privacy-oci-tests-{os.getuid()}"
    try:
        scratch.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return
    # A world-writable parent: only a folder of this user's is used.
    if scratch.is_symlink() or scratch.stat().st_uid != os.getuid():
        return
    os.environ["TMPDIR"] = str(scratch)
    tempfile.tempdir = None    # gettempdir() reads TMPDIR again


def _is_tmpfs(folder: Path) -> bool:
    mounts = Path("/proc/mounts")
    return mounts.exists() and any(line.split()[1:3] == [str(folder), "tmpfs"]
                                   for line in mounts.read_text().splitlines())


def pytest_report_header(config):
    return f"scratch: {tempfile.gettempdir()}"


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker more than this process may run on (a CI
    job's container may see more of the host's cores than it gets); the
    real tier's tests spend much of their time waiting (on servers, child
    processes, a retry's backoff)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores + 1


def pytest_sessionstart(session):
    # The tests run the real doit, check-jsonschema and hadolint: those
    # beside this Python (.venv/bin), activated or not.
    scripts_of_this_python_first_on_path()
    missing = [tool for tool in REQUIRED_TOOLS if not shutil.which(tool)]
    if missing:
        pytest.exit(f"missing {', '.join(missing)}: run scripts/bootstrap first", returncode=3)


@pytest.fixture(scope="session", autouse=True)
def previews_read_once(tmp_path_factory):
    """gitlab-ci-local's previews of a pipeline, kept for the run in a
    folder its workers share (sandbox/ci_images.pipeline_jobs)."""
    base = tmp_path_factory.getbasetemp()
    os.environ[ci_images.PREVIEWS] = str((base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "previews")


@pytest.fixture(scope="session")
def gitlab(tmp_path_factory):
    """The GitLab instance whose project the images are published to."""
    with GitLab(tmp_path_factory.mktemp("gitlab")) as instance:
        yield instance


@pytest.fixture(scope="session")
def registry(gitlab):
    """The project's registry: every request needs a token from GitLab."""
    return gitlab.registry


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    with DockerHub(tmp_path_factory.mktemp("hub")) as stand_in:
        yield stand_in


@pytest.fixture(scope="session")
def base(hub):
    """The stand-ins' base image, on the Docker Hub stand-in."""
    return hub.publish_base(DEB_CACHE)


@pytest.fixture
def make_sandbox(tmp_path, gitlab, registry, base):
    """``make_sandbox(registry_host=…, dockerfile=…, build_args=…)``: two
    stand-in services, hello-web (amd64 + arm64) and hello-cli (amd64),
    published through ``registry_host`` (the project's registry by default;
    a proxy in front of it, say) by jobs with the GitLab job's variables.
    ``dockerfile`` is every service's recipe, or a recipe per service name."""
    made = []

    def make(registry_host=None, dockerfile=STAND_IN_DOCKERFILE, build_args=None,
             names=("hello-web", "hello-cli"), whole_project=False, extra_yaml="",
             overrides=None) -> World:
        upstreams = {}
        for name in names:
            upstreams[name] = Upstream(tmp_path / "upstreams" / name)
            upstreams[name].commit({"message.txt": f"hello from {name}\n"}, "first")
        registry_host = registry_host or registry.host
        prefix = f"{registry_host}/{gitlab.project_path}/{tmp_path.name.lower().replace('_', '-')}"
        services = stand_in_services(upstreams, base)
        for name, settings in services.items():
            settings["build_args"].update(build_args or {})
            settings.update((overrides or {}).get(name, {}))
        repo = ConfigRepo(tmp_path / "catalogue")
        recipes = dockerfile if isinstance(dockerfile, dict) else {name: dockerfile for name in upstreams}
        checkout = repo.create(prefix, services, recipes,
                               whole_project=whole_project, extra_yaml=extra_yaml)
        wrapper, _ = counting_builder.install(tmp_path)
        runtime, _ = counting_builder.install(tmp_path, "podman")
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        env = {**os.environ, **gitlab.job_env(),
               "CI_REGISTRY": registry_host, "CI_REGISTRY_IMAGE": prefix,
               # The job's own: no maintainer's credentials, a builder
               # store and a registry login (made by doit) of its own.
               "HOME": str(home),
               "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"),
               "PRIVACY_OCI_PREPARE_BUILDER": "true",
               "PRIVACY_OCI_BUILDER": "buildah",
               "PRIVACY_OCI_BUILDAH": str(wrapper),
               "PRIVACY_OCI_PODMAN": str(runtime),
               "PRIVACY_OCI_BUILDAH_ROOT": str(tmp_path / "buildah"),
               "STORAGE_DRIVER": "vfs",
               # The stand-in upstreams are bare repositories on this machine.
               "PRIVACY_OCI_LOCAL_UPSTREAMS": "true",
               **containers_conf.write(tmp_path)}
        box = World(tmp_path, registry, prefix, upstreams, repo, checkout, env, base,
                    {name: settings["platforms"] for name, settings in services.items()}, gitlab)
        box.fresh_job()
        made.append(box)
        return box

    yield make
    for box in made:
        box.fresh_job()  # releases the builder store


@pytest.fixture
def sandbox(make_sandbox):
    return make_sandbox()


@pytest.fixture(scope="session")
def client(gitlab):
    """A registry client with the job's credentials, as doit makes it."""
    return RegistryClient(load_credentials(Settings.from_environ(gitlab.job_env()), gitlab.registry.host))

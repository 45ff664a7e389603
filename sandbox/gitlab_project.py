"""A project on a GitLab stand-in whose schedule runs under gitlab-ci-local
as gitlab.com would run it: in job checkouts configured as gitlab-runner
configures them, each job with only its image's tools (see ci_images), the
project's CI/CD variables and GitLab's predefined ones in every job, child
pipelines included, the schedule's variables only where GitLab gives them.
For the CI rehearsal tests and the pipeline benchmarks."""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tasks.registry import RegistryClient
from tasks.registry_auth import load as load_credentials
from tasks.settings import Settings

from . import clock, containers_conf, counting_builder, runner
from .ci_images import CiImages
from .config_repo import ConfigRepo
from .demo import STAND_IN_DOCKERFILE, two_stand_ins
from .gitlab import GitLab
from .readback import records
from .upstreams import Upstream

# GitLab's predefined variables that gitlab-ci-local would set otherwise.
# (A runner's checkout is a detached HEAD, from which gitlab-ci-local would
# make the branch up as "HEAD"; and gitlab-ci-local says GITLAB_CI=false.)
GITLAB_PREDEFINED = ("CI_REGISTRY", "CI_REGISTRY_IMAGE", "CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD", "CI_JOB_TOKEN",
                     "CI_COMMIT_BRANCH", "CI_COMMIT_REF_NAME", "GITLAB_CI")
# The environment scope README, "GitLab CI" step 2 gives PRIVACY_OCI_GIT_TOKEN.
RECORD_ENVIRONMENT = "privacy-oci-record"


@dataclass
class Project:
    """A project on a GitLab stand-in, its schedule run by gitlab-ci-local
    in a job checkout made as gitlab-runner makes it."""
    directory: Path
    gitlab: GitLab
    repo: ConfigRepo
    upstreams: dict[str, Upstream]
    prefix: str
    images: CiImages
    machine_env: dict            # the runner machine's
    project_variables: dict      # the project's CI/CD variables
    urls_without_tokens: bool
    # Each variable's environment scope where it is not "*" (every job).
    variable_scopes: dict = field(default_factory=dict)
    pipeline_variables: bool = False     # "Minimum role to use pipeline variables": no_one_allowed
    job: runner.Checkout | None = None
    jobs: int = 0

    def new_job(self) -> Path:
        """A new job's checkout, credentials pointed at the job token."""
        self.jobs += 1
        self.job = runner.checkout(self.gitlab, self.directory / f"builds-{self.jobs}", self.urls_without_tokens)
        # The runner's cache outlives a pipeline, as GitLab's does:
        # gitlab-ci-local keeps it in its state folder, one per checkout.
        cache = self.directory / "runner-cache"
        cache.mkdir(exist_ok=True)
        (self.job.path / ".gitlab-ci-local").mkdir()
        (self.job.path / ".gitlab-ci-local" / "cache").symlink_to(cache)
        return self.job.path

    def schedule(self, *args: str, variables: dict | None = None, check: bool = True,
                 source: str = "schedule") -> subprocess.CompletedProcess:
        """A scheduled pipeline (or one of another ``source``: "web" is one
        run by hand) in a new job checkout. ``variables`` are pipeline
        variables (a schedule's), which the project refuses unless
        ``pipeline_variables`` allows them, as new gitlab.com projects do
        (gitlab#502382): settings are project variables."""
        if variables and not self.pipeline_variables:
            raise AssertionError("this project refuses pipeline variables, as gitlab.com's new projects do "
                                 f"(Minimum role to use pipeline variables: no_one_allowed): {sorted(variables)}")
        checkout = self.new_job()
        variables = {"CI_PIPELINE_SOURCE": source, **(variables or {})}
        predefined = {name: self.job.env[name] for name in GITLAB_PREDEFINED}
        result = self.images.run(checkout, variables, {**predefined, **self.project_variables},
                                 {**self.job.env, **self.machine_env}, *args, scopes=self.variable_scopes)
        result.failed = CiImages.failed_jobs(result) or (["gitlab-ci-local"] if result.returncode else [])
        if check:
            assert not result.failed, "\n".join(
                [f"failed: {result.failed}"] + [line for line in result.stdout.splitlines()
                                                if any(job in line for job in result.failed)][-150:])
        return result

    def hours_later(self, hours: float) -> None:
        """Move every job's clock on (PRIVACY_OCI_NOW, a project variable),
        as to a later scheduled tick."""
        clock.move_on(self.project_variables, hours)

    def started_since(self, before: int) -> list[tuple[str, str]]:
        return self.images.jobs_started()[before:]

    def records(self) -> dict[str, str]:
        return records(self.repo.remote_file("services.yml"))

    def client(self) -> RegistryClient:
        return RegistryClient(load_credentials(Settings.from_environ(self.gitlab.job_env()), self.gitlab.registry.host))


def make_project(directory: Path, base: str, urls_without_tokens=False, dockerfile=STAND_IN_DOCKERFILE,
                 build_args=None, extra_yaml="") -> Project:
    """Two stand-in services in a project on a GitLab stand-in of its own
    (close ``project.gitlab`` when done), built FROM ``base``."""
    gitlab = GitLab(directory / "gitlab")
    upstreams, services = two_stand_ins(directory, base, build_args)
    prefix = "${CI_REGISTRY_IMAGE}"
    repo = ConfigRepo(directory / "catalogue", remote=gitlab.bare)
    repo.create(prefix, services, {name: dockerfile for name in upstreams}, whole_project=True, extra_yaml=extra_yaml)
    wrapper, _ = counting_builder.install(directory)
    home = directory / "home"
    home.mkdir()
    (directory / "auth.json").write_text('{"auths": {}}')
    machine_env = {
        "PATH": os.environ["PATH"], "HOME": str(home),
        "PIP_CACHE_DIR": str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "privacy-oci" / "pip"),
        # the runner's buildah store, and where a login is kept
        "PRIVACY_OCI_BUILDAH": str(wrapper), "PRIVACY_OCI_BUILDAH_ROOT": str(directory / "buildah"),
        "REGISTRY_AUTH_FILE": str(directory / "auth.json"),
        "PRIVACY_OCI_LOCAL_UPSTREAMS": "true",    # the stand-in upstreams are on this machine
        # what podman needs on this kind of machine (sandbox/containers_conf.py)
        **containers_conf.write(directory),
    }
    # README, "GitLab CI": the token as a masked CI/CD variable scoped to the
    # record job's environment (step 2), the builder as a project variable
    # (step 3; this runner has no Docker engine).
    project_variables = {"PRIVACY_OCI_GIT_TOKEN": gitlab.project_token, "PRIVACY_OCI_BUILDER": "buildah"}
    return Project(directory, gitlab, repo, upstreams, f"{gitlab.registry.host}/{gitlab.project_path}",
                   CiImages(directory / "images"), machine_env, project_variables, urls_without_tokens,
                   {"PRIVACY_OCI_GIT_TOKEN": RECORD_ENVIRONMENT})

"""A repository on a GitHub stand-in whose workflow runs under act as
GitHub would run it: every job on this machine (``-P <label>=-self-hosted``
for each runner label the workflow and services.yml name), each in a
workspace of its own that the checkout stand-in (sandbox/actions/checkout)
fills from the stand-in's git remote with the job's token, each with a
builder store and a registry login of its own (a fresh runner: see
RUNNER_ENV); the job's GITHUB_TOKEN as act's secret, the repository's
variables and secrets as act's ``--var`` and ``-s``. For the rehearsal
tests and the pipeline benchmarks."""
from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML

from tasks.registry import RegistryClient
from tasks.registry_auth import load as load_credentials
from tasks.settings import Settings

from . import clock, containers_conf, counting_builder
from .config_repo import PROJECT_ROOT, ConfigRepo
from .demo import STAND_IN_DOCKERFILE, two_stand_ins
from .github import GitHub
from .readback import records
from .upstreams import Upstream

WORKFLOW = ".github/workflows/privacy-oci.yml"
# The actions the workflow uses, each run from its stand-in here.
STAND_INS = {"actions/checkout": PROJECT_ROOT / "sandbox" / "actions" / "checkout",
             "actions/upload-artifact": PROJECT_ROOT / "sandbox" / "actions" / "upload-artifact",
             "actions/download-artifact": PROJECT_ROOT / "sandbox" / "actions" / "download-artifact",
             "actions/upload-pages-artifact": PROJECT_ROOT / "sandbox" / "actions" / "upload-pages-artifact",
             "actions/deploy-pages": PROJECT_ROOT / "sandbox" / "actions" / "deploy-pages",
             "actions/cache": PROJECT_ROOT / "sandbox" / "actions" / "cache"}
ARM64_RUNNER = "ubuntu-24.04-arm"
RUNNER_TAGS = f"runner_tags:\n  github:\n    linux/arm64: [{ARM64_RUNNER}]\n"
# Each job on a runner of its own: bash reads BASH_ENV before every step's
# script, and RUNNER_TEMP is the job's own.
RUNNER_ENV = """\
if [ -n "${RUNNER_TEMP:-}" ]; then
  export PRIVACY_OCI_BUILDAH_ROOT="$RUNNER_TEMP/buildah" REGISTRY_AUTH_FILE="$RUNNER_TEMP/auth.json"
fi
"""


@dataclass
class Tick:
    """What one workflow run did: the jobs started, in order, each as
    (job id, what it did: a build's task, an index's service), those that
    failed, and act's output."""
    returncode: int
    started: list[tuple[str, str]]
    failed: list[str]
    runners: dict[str, str]      # build task -> the runner label its job asked for
    stdout: str
    stderr: str

    @property
    def log(self) -> str:
        """What the jobs printed, one line each, after its job's name."""
        return "\n".join(tick_log(self.stdout))

    @property
    def jobs(self) -> list[str]:
        """The jobs started, by name: a build by its task
        (build:<service>:<platform>), an index as index:<service>."""
        return [name(job, what) for job, what in self.started]


def name(job: str, what: str) -> str:
    return what if job == "build" else f"{job}:{what}" if what else job


def uses(workflow: Path) -> list[str]:
    """Every ``owner/repository@ref`` whose actions the workflow uses (of
    ``actions/cache/restore@ref``, act fetches ``actions/cache@ref``)."""
    jobs = YAML(typ="safe").load(workflow.read_text())["jobs"]
    return sorted({re.sub(r"^([^/]+/[^/@]+)[^@]*@", r"\1@", step["uses"])
                   for job in jobs.values() for step in job["steps"] if "uses" in step})


def runner_labels(workflow: Path, services_yml: str) -> set[str]:
    """The runner labels the workflow names, and those services.yml gives platforms on GitHub."""
    jobs = YAML(typ="safe").load(workflow.read_text())["jobs"]
    labels = {job["runs-on"] for job in jobs.values() if "${{" not in job["runs-on"]}
    tags = (YAML(typ="safe").load(services_yml).get("runner_tags") or {}).get("github") or {}
    return labels | {"ubuntu-latest"} | {label for names in tags.values() for label in names}


@dataclass
class Project:
    directory: Path
    github: GitHub
    repo: ConfigRepo
    upstreams: dict[str, Upstream]
    machine_env: dict            # the runner machine's
    variables: dict              # the repository's variables (vars)
    secrets: dict = field(default_factory=dict)   # the repository's secrets, besides GITHUB_TOKEN
    ticks: int = 0

    @property
    def prefix(self) -> str:
        return self.github.prefix

    def tick(self, event: str = "schedule", check: bool = True) -> Tick:
        """One run of the workflow on ``event`` (``schedule``, or
        ``workflow_dispatch``: run by hand), from main's tip."""
        self.ticks += 1
        here = self.repo.clone(self.directory / f"tick-{self.ticks}")
        # act takes the repository's name from origin; jobs fetch from the stand-in.
        subprocess.run(["git", "remote", "set-url", "origin", f"https://github.com/{self.github.repository}.git"],
                       cwd=here, check=True)
        services = (here / "services.yml").read_text()
        command = ["act", event, "--json", "-C", str(here), "-W", str(here / WORKFLOW), "--no-skip-checkout",
                   "--no-cache-server", "--action-offline-mode", "--defaultbranch", "main",
                   "--actor", "maintainer", "--env", f"GITHUB_SERVER_URL={self.github.server_url}",
                   # each tick a run of its own (act numbers every run 1), for its artifacts
                   "--env", f"GITHUB_RUN_ID={self.ticks}",
                   # the secrets (GITHUB_TOKEN among them, as act takes it) from a file, not the command line
                   "--secret-file", str(self.secrets_file())]
        for label in sorted(runner_labels(here / WORKFLOW, services)):
            command += ["-P", f"{label}=-self-hosted"]
        for action in uses(here / WORKFLOW):
            command += ["--local-repository", f"{action}={STAND_INS[action.split('@')[0]]}"]
        for name, value in self.variables.items():
            command += ["--var", f"{name}={value}"]
        result = subprocess.run(command, cwd=here, env=self.machine_env, capture_output=True, text=True,
                                timeout=1800)
        tick = read_tick(result)
        if check:
            assert not tick.failed and result.returncode == 0, "\n".join(
                [f"failed: {tick.failed or result.returncode}", *tick_log(result.stdout)[-150:], result.stderr[-3000:]])
        return tick

    def secrets_file(self) -> Path:
        path = self.directory / "secrets.env"
        secrets = {"GITHUB_TOKEN": self.github.job_token, **self.secrets}
        path.write_text("".join(f"{name}={value}\n" for name, value in secrets.items()))
        path.chmod(0o600)
        return path

    def hours_later(self, hours: float) -> None:
        """Move every job's clock on (PRIVACY_OCI_NOW), as to a later tick."""
        clock.move_on(self.machine_env, hours)

    def calls(self) -> list[list[str]]:
        """The arguments of every buildah call the runners made, in order."""
        return counting_builder.calls(self.directory / counting_builder.LOGS["buildah"])

    def builds(self) -> list[tuple[str, str]]:
        """(service, platform) of every build the runners made, in order."""
        return counting_builder.builds(self.directory / counting_builder.LOGS["buildah"])

    def records(self) -> dict[str, str]:
        return records(self.repo.remote_file("services.yml"))

    def client(self) -> RegistryClient:
        environ = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY_OWNER": self.github.owner, "GITHUB_ACTOR": "reader",
                   "GITHUB_TOKEN": self.github.job_token,
                   "PRIVACY_OCI_GITHUB_REGISTRY": self.github.registry.host}
        return RegistryClient(load_credentials(Settings.from_environ(environ), self.github.registry.host))


def read_tick(result: subprocess.CompletedProcess) -> Tick:
    """The jobs act started and those with a failed step, from its JSON log."""
    started: list[tuple[str, str]] = []
    failed: list[str] = []
    runners: dict[str, str] = {}
    for line in result.stdout.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        job = entry.get("jobID")
        if not job:
            continue
        matrix = entry.get("matrix") or {}
        what = (job, matrix.get("task") or matrix.get("service") or "")
        if entry.get("msg", "").strip() == "⭐ Run Set up job" and what not in started:
            started.append(what)
            if job == "build":
                runners[matrix["task"]] = matrix["runner"]
        if entry.get("stepResult") == "failure" and entry.get("stage") == "Main":
            if name(*what) not in failed:
                failed.append(name(*what))
    return Tick(result.returncode, started, failed, runners, result.stdout, result.stderr)


def tick_log(stdout: str) -> list[str]:
    """act's JSON log as the lines the jobs printed, each after its job."""
    lines = []
    for line in stdout.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            lines.append(line)
            continue
        if entry.get("msg"):
            lines.append(f"[{entry.get('job', '').strip()}] {entry['msg'].rstrip()}")
    return lines


def make_project(directory: Path, base: str, dockerfile: str = STAND_IN_DOCKERFILE, build_args=None,
                 extra_yaml: str = "") -> Project:
    """Two stand-in services in a repository on a GitHub stand-in of its own
    (close ``project.github`` when done), built FROM ``base``."""
    directory = Path(directory)
    github = GitHub(directory / "github")
    upstreams, services = two_stand_ins(directory, base, build_args)
    repo = ConfigRepo(directory / "catalogue", remote=github.bare)
    # services.yml as a fork keeps it: images under the owner's namespace on ghcr.io
    repo.create("${CI_REGISTRY_IMAGE}", services, {name: dockerfile for name in upstreams}, whole_project=True,
                extra_yaml=extra_yaml)
    wrapper, _ = counting_builder.install(directory)
    home = directory / "home"
    home.mkdir(parents=True, exist_ok=True)
    runner_env = directory / "runner-env.sh"
    runner_env.write_text(RUNNER_ENV)
    machine_env = {
        "PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8",
        "PIP_CACHE_DIR": str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "privacy-oci" / "pip"),
        "BASH_ENV": str(runner_env),
        # GitHub's artifact service and Pages, for the artifact and Pages actions' stand-ins
        "PAGES_ARTIFACTS": str(directory / "artifacts"), "PAGES_SITE": str(directory / "pages"),
        # GitHub's cache service, for the cache actions' stand-ins: it outlives a run
        "ACTIONS_CACHE_STORE": str(directory / "actions-cache"),
        # the runner's buildah, daemonless, vfs as on a machine without overlay
        "PRIVACY_OCI_BUILDAH": str(wrapper), "STORAGE_DRIVER": "vfs",
        "PRIVACY_OCI_LOCAL_UPSTREAMS": "true",    # the stand-in upstreams are on this machine
        **containers_conf.write(directory),
    }
    for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONFIG_FILE", "PIP_CERT"):
        if name in os.environ:
            machine_env[name] = os.environ[name]
    # README, "GitHub Actions", step 4: buildah as a repository variable (this runner has no Docker
    # engine), and the registry's place, as on GitHub Enterprise Server (ghcr.io's place here).
    variables = {"PRIVACY_OCI_BUILDER": "buildah", "PRIVACY_OCI_GITHUB_REGISTRY": github.registry.host}
    return Project(directory, github, repo, upstreams, machine_env, variables)

"""CI jobs with only their image's tools, on a machine that runs no images.

gitlab-ci-local's shell executor runs every job's script with this
machine's PATH, where every tool is. Here each job's script gets a PATH of
its own instead, holding links to what its image really has (and to what
the job installs with the image's package manager): a job that needs a tool
its image lacks fails here as it would on a runner. The job's image comes
from gitlab-ci-local's own merged view of the pipeline (``--preview``); a
child pipeline's jobs are looked up in the child pipeline it runs.

bash sources ``BASH_ENV`` when it starts without a terminal; gitlab-ci-local
starts a job's script as ``bash`` reading the script from stdin (no ``-c``
string), its own steps (artifacts, cache) with ``-c``, so only the job's
script gets the image's PATH.

``docker`` is a recorder (no engine runs here) and ``buildah`` the real one;
both log every call, so a run can be asked which jobs touched a builder.
Which jobs were given a secret (``WATCHED``) is logged too, by name only.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from sandbox import locked

# Programs every image here has (Debian's coreutils, Alpine's busybox and
# Fedora's coreutils alike), besides the shell gitlab-ci-local runs.
COMMON = ("sh", "bash", "cat", "echo", "env", "ls", "mkdir", "rm", "cp", "mv", "dirname", "basename", "id",
          "printf", "test", "true", "false", "sed", "grep", "tr", "head", "tail", "uname", "chmod", "ln",
          "touch", "mktemp", "sleep", "date", "tee", "wc", "sort", "find", "xargs", "tar", "gzip", "readlink",
          "cut")
IMAGES = {
    # Debian bookworm's buildpack-deps with CPython: git, curl, apt; no
    # docker, buildah or Node.
    "python:3.11-bookworm": COMMON + ("python3", "pip", "pip3", "git", "curl", "wget", "apt-get", "dpkg"),
    # docker-library/docker 27/cli/Dockerfile: Alpine with ca-certificates,
    # openssh-client, git, the docker CLI and buildx; no Python.
    "docker:27": COMMON + ("docker", "apk", "git", "ssh", "wget"),
    # containers/image_build buildah/Containerfile: Fedora with buildah,
    # fuse-overlayfs and ucpp; no Python, no git.
    "quay.io/buildah/stable:v1.37": COMMON + ("buildah", "dnf"),
    # Alpine: busybox and apk.
    "alpine:3.20": COMMON + ("apk", "wget"),
}
# What a package the jobs install brings, by the names apk and dnf give it.
PACKAGES = {"python3": ("python3",), "py3-pip": ("pip", "pip3"), "python3-pip": ("pip", "pip3"), "git": ("git",),
            "podman": ("podman",)}
BUILDERS = ("docker", "buildah", "podman")
# The folder of the previews read so far (pipeline_jobs).
PREVIEWS = "CI_IMAGES_PREVIEWS"
# Variables whose presence in each job is logged (the name, never the value).
WATCHED = ("PRIVACY_OCI_GIT_TOKEN",)

BASH_ENV = """\
# The image's tools for a job's script (see sandbox/ci_images.py).
if [ -z "${BASH_EXECUTION_STRING:-}" ] && [ -z "${JOB_IMAGE_BIN:-}" ] && [ -n "${CI_JOB_NAME:-}" ]; then
  __image=$("$CI_IMAGES_PYTHON" "$CI_IMAGES_HELPER" "$CI_IMAGES_DIR" "$CI_JOB_NAME") || exit 97
  # What the job installs, in a folder of its own, before the image's own
  # tools, which stay where every job of the image finds them (as
  # /usr/local/bin/python3 in python:3.11-bookworm, which a venv links to).
  JOB_IMAGE_BIN=$(mktemp -d "$CI_IMAGES_DIR/job.XXXXXX")
  printf '%s\\t%s\\n' "$CI_JOB_NAME" "$__image" >> "$CI_IMAGES_DIR/jobs.log"
  for __name in $CI_IMAGES_WATCHED; do
    if [ -n "${!__name:-}" ]; then printf '%s\\t%s\\n' "$CI_JOB_NAME" "$__name" >> "$CI_IMAGES_DIR/given.log"; fi
  done
  export JOB_IMAGE_BIN PATH="$JOB_IMAGE_BIN:$CI_IMAGES_DIR/images/$__image"
  # Each job on a runner of its own: a builder store no other job shares.
  if [ -n "${PRIVACY_OCI_BUILDAH_ROOT:-}" ]; then export PRIVACY_OCI_BUILDAH_ROOT="$JOB_IMAGE_BIN.store"; fi
fi
"""
LOGGED = """#!/bin/sh
printf '%s\\t%s\\n' "{name}" "$*" >> "{log}"
{then}
"""
PACKAGE_MANAGER = """#!/bin/sh
# {name}: installs by linking the host's program for each package it knows.
for package in "$@"; do
  case "$package" in
{cases}
  esac
done
"""


def image_dir_name(image: str) -> str:
    return image.replace("/", "_").replace(":", "_")


class CiImages:
    """The images' tool folders under ``directory``, and the environment
    that makes gitlab-ci-local run each job with its image's."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.builder_log = self.directory / "builder-calls.log"
        self.jobs_log = self.directory / "jobs.log"
        self.given_log = self.directory / "given.log"
        self.bash_env = self.directory / "bash-env.sh"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.bash_env.write_text(BASH_ENV)
        for image, tools in IMAGES.items():
            folder = self.directory / "images" / image_dir_name(image)
            folder.mkdir(parents=True, exist_ok=True)
            for tool in tools:
                self._provide(folder / tool, tool)

    def env(self) -> dict[str, str]:
        return {"BASH_ENV": str(self.bash_env), "CI_IMAGES_DIR": str(self.directory),
                "CI_IMAGES_PYTHON": sys.executable, "CI_IMAGES_HELPER": str(Path(__file__).resolve()),
                "CI_IMAGES_WATCHED": " ".join(WATCHED),
                **({PREVIEWS: os.environ[PREVIEWS]} if PREVIEWS in os.environ else {})}

    def record_pipeline(self, jobs: dict[str, str]) -> None:
        """Remember each job's image folder (``pipeline_jobs``), written
        whole, then renamed: parallel jobs read it."""
        known = self._known()
        known.update(jobs)
        partial = self.directory / "jobs.json.partial"
        partial.write_text(json.dumps(known))
        partial.replace(self.directory / "jobs.json")

    def run(self, checkout: Path, variables: dict[str, str], project_variables: dict[str, str],
            env: dict[str, str], *args: str, scopes: dict[str, str] | None = None,
            timeout: int = 1800) -> subprocess.CompletedProcess:
        """gitlab-ci-local, in the shell, on the pipeline of ``checkout``
        (or ``--file`` in ``args``), each job with its image's tools.

        ``variables`` are the pipeline's own (a schedule's): gitlab-ci-local
        does not pass them to a child pipeline, as GitLab does not unless
        told. ``project_variables`` reach every job, child pipelines' too, as
        a project's CI/CD variables and GitLab's predefined ones do (some of
        which gitlab-ci-local would make up otherwise: CI_REGISTRY), only
        to jobs of the environment ``scopes`` gives a variable, as GitLab's
        environment scope does (default ``*``: every job). ``env`` is the
        runner machine's."""
        scopes = scopes or {}
        # gitlab-ci-local's variables file; typed, or a value starting with
        # "/" would become a file variable.
        (checkout / ".gitlab-ci-local-variables.yml").write_text(json.dumps(
            {name: {"type": "variable", "values": {scopes.get(name, "*"): value}}
             for name, value in project_variables.items()}))
        options = [option for name, value in variables.items() for option in ("--variable", f"{name}={value}")]
        self.record_pipeline(pipeline_jobs(checkout, *options, *args, env=env))
        # Each job in a copy of its own, as each runner job has its clone.
        return subprocess.run(["gitlab-ci-local", "--force-shell-executor", "--shell-isolation", "--no-color",
                               *options, *args], cwd=checkout,
                              env={**env, **self.env(), "CI_IMAGES_PIPELINE_DIR": str(checkout)},
                              capture_output=True, text=True, timeout=timeout)

    @staticmethod
    def failed_jobs(result: subprocess.CompletedProcess) -> list[str]:
        """The jobs gitlab-ci-local reports as failed. Its exit status does
        not count a child pipeline's jobs (its downstream pipelines are
        experimental and ignore ``strategy: depend``); its summary does."""
        return sorted({line.split("FAIL", 1)[1].split("->")[-1].strip() for line in result.stdout.splitlines()
                       if line.lstrip().startswith("FAIL ")})

    def jobs_started(self) -> list[tuple[str, ...]]:
        """(job, image folder) of every job script started, in order."""
        return _pairs(self.jobs_log)

    def jobs_given(self, variable: str) -> list[str]:
        """The jobs, in order, that had ``variable`` (one of ``WATCHED``) set."""
        return [job for job, name in _pairs(self.given_log) if name == variable]

    def builder_calls(self) -> list[tuple[str, ...]]:
        """(program, arguments) of every docker or buildah call a job made."""
        return _pairs(self.builder_log)

    def _known(self) -> dict:
        path = self.directory / "jobs.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _provide(self, target: Path, tool: str) -> None:
        if tool in BUILDERS:
            real = shutil.which(tool) if tool in ("buildah", "podman") else None
            then = f'exec {real} "$@"' if real else 'echo "docker: no Docker engine on this machine" >&2; exit 1'
            _script(target, LOGGED.format(name=tool, log=self.builder_log, then=then))
        elif tool in ("apk", "dnf"):
            cases = "\n".join(f'    {package}) ln -sf {host} "$JOB_IMAGE_BIN/{program}" ;;'
                              for package, programs in PACKAGES.items() for program in programs
                              for host in [_host(program)])
            _script(target, PACKAGE_MANAGER.format(name=tool, cases=cases))
        else:
            target.unlink(missing_ok=True)
            target.symlink_to(_host(tool))


def _pairs(log: Path) -> list[tuple[str, ...]]:
    """The lines of one of the logs above, each split at its first tab."""
    if not log.exists():
        return []
    return [tuple(line.split("\t", 1)) for line in log.read_text().splitlines()]


def _host(tool: str) -> str:
    """This machine's program for ``tool`` (pip as the real Python's)."""
    if tool == "python3":
        return sys.executable
    if tool in ("pip", "pip3"):
        return str(Path(sys.executable).with_name("pip3"))
    found = shutil.which(tool)
    if not found:
        raise RuntimeError(f"{tool} is not installed on this machine")
    return found


def _script(target: Path, text: str) -> None:
    target.write_text(text)
    target.chmod(0o755)


def jobs_and_images(preview: str) -> dict[str, str]:
    """{job: image folder name} of the jobs that run a script."""
    document = YAML(typ="safe").load(preview[preview.index("---"):]) or {}
    jobs = {}
    for name, job in document.items():
        if isinstance(job, dict) and "script" in job and not name.startswith("."):
            image = job.get("image")
            image = image.get("name") if isinstance(image, dict) else image
            if image not in IMAGES:
                raise RuntimeError(f"job {name}: image {image!r} is not modelled in sandbox/ci_images.py")
            jobs[name] = image_dir_name(image)
    return jobs


def pipeline_jobs(cwd: Path, *args: str, env: dict | None = None) -> dict[str, str]:
    """``jobs_and_images`` of the pipeline gitlab-ci-local runs in ``cwd``
    with ``args``. A preview costs a second or more of CPU and most tests
    run the same pipeline files, so where ``$CI_IMAGES_PREVIEWS`` names a
    folder (the test run's, shared by its workers) each is read once for
    each text of the pipeline's files and options."""
    folder = os.environ.get(PREVIEWS)
    key = pipeline_key(cwd, args) if folder else None
    memo = Path(folder, f"{key}.json") if folder and key else None
    if memo and memo.exists():
        return json.loads(memo.read_text())
    jobs = jobs_and_images(preview(cwd, *args, env=env))
    if memo:
        memo.parent.mkdir(parents=True, exist_ok=True)
        partial = memo.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(jobs))
        partial.replace(memo)
    return jobs


def pipeline_key(cwd: Path, args: tuple[str, ...]) -> str | None:
    """A digest of the options and of the text of the pipeline's file and
    of each local file it includes; None where it includes anything else
    (a remote or project include, whose text is not here to read)."""
    digest = hashlib.sha256(json.dumps(args).encode())
    pending = [args[args.index("--file") + 1] if "--file" in args else ".gitlab-ci.yml"]
    read: set[str] = set()
    while pending:
        name = pending.pop().lstrip("/")
        if name in read:
            continue
        read.add(name)
        text = (cwd / name).read_bytes()
        digest.update(name.encode() + b"\0" + hashlib.sha256(text).digest())
        try:
            document = YAML(typ="safe").load(text)
        except YAMLError:   # GitLab's own tags (!reference): not memoized
            return None
        includes = document.get("include", []) if isinstance(document, dict) else []
        for entry in includes if isinstance(includes, list) else [includes]:
            local = entry if isinstance(entry, str) else entry.get("local") if isinstance(entry, dict) else None
            if not isinstance(local, str) or "://" in local:
                return None
            pending.append(local)
    return digest.hexdigest()


def preview(cwd: Path, *args: str, env: dict | None = None) -> str:
    # gitlab-ci-local takes GCL_* variables for options of its own.
    env = {name: value for name, value in (env or os.environ).items() if not name.startswith("GCL_")}
    result = subprocess.run(["gitlab-ci-local", "--preview", *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"gitlab-ci-local --preview failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _image_of(directory: Path, job: str, environ) -> str:
    """The image folder for ``job``; a child pipeline's jobs are looked up
    in the child pipeline gitlab-ci-local is running (GCL_TRIGGERER)."""
    images = CiImages.__new__(CiImages)
    images.directory = directory
    # A child pipeline's jobs start together: one of them reads its pipeline.
    with locked(directory / "jobs.lock"):
        known = images._known()
        if job not in known and environ.get("GCL_TRIGGERER"):
            trigger = environ["GCL_TRIGGERER"].split(" -> ")[-1]
            child = Path(".gitlab-ci-local", "includes", "triggers", f"{trigger}.yml")
            images.record_pipeline(pipeline_jobs(Path(environ["CI_IMAGES_PIPELINE_DIR"]), "--file", str(child),
                                                 env=dict(environ)))
            known = images._known()
    if job not in known:
        raise RuntimeError(f"no image known for job {job}")
    return known[job]


if __name__ == "__main__":
    try:
        print(_image_of(Path(sys.argv[1]), sys.argv[2], os.environ))
    except RuntimeError as error:
        sys.exit(f"ci_images: {error}")

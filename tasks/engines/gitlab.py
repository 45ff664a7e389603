"""GitLab CI: a job of a GitLab project (GITLAB_CI=true).

- The image prefix may name the project's predefined variables
  (CI_REGISTRY_IMAGE, CI_REGISTRY, CI_PROJECT_PATH, CI_PROJECT_NAMESPACE).
- The job's registry is CI_REGISTRY, and its credentials there are
  CI_REGISTRY_USER/PASSWORD; its tokens come from the instance
  (CI_SERVER_FQDN, else CI_SERVER_HOST, at ``/jwt/auth``). A project in a
  group has the Dependency Proxy (CI_DEPENDENCY_PROXY_SERVER/USER/PASSWORD),
  whose credentials belong to its server only.
- The branch is CI_COMMIT_BRANCH; a pipeline run by hand ("Run pipeline",
  CI_PIPELINE_SOURCE=web) tries again what is held back.
- The record is pushed with PRIVACY_OCI_GIT_TOKEN (user ``oauth2``): the
  job token cannot push. A refusal says which role the token lacks, and
  GitLab's own words when its pre-receive hook refused (a protected branch).
- fan-out writes a child pipeline (``child_pipeline``) that includes the
  job templates of ``.gitlab/ci/jobs.yml``: one build job per pending
  service and platform, on a runner with the platform's tags, one light
  index job per service, one light record job, and the ``pages`` job for
  GitLab Pages; nothing pending is a single no-op job, as GitLab rejects
  an empty pipeline. It goes to PRIVACY_OCI_CHILD_PIPELINE (default
  ``.work/child-pipeline.yml``); the PRIVACY_OCI_* settings the plan was
  made with (secrets excepted) are written into it, so its jobs run with
  them whether or not GitLab forwards them.
"""
from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from ruamel.yaml import YAML

from .. import names
from . import FORBIDDEN, PUBLISHED, REFUSED, Engine, JobRegistry, OtherRegistry, Work

# The same job templates as .gitlab-ci.yml includes.
TEMPLATES = ".gitlab/ci/jobs.yml"
LIGHT = ".privacy-oci"
STAGES = ["build", "manifest", "record"]
CANNOT_PLAN = "cannot-plan"
# GitLab Pages deploys what a job of this name leaves in public/.
PAGES = "pages"
NOTHING_TO_DO: dict[str, Any] = {
    "stages": ["record"],
    "nothing-to-do": {"stage": "record", "image": "alpine:3.20",
                      "variables": {"GIT_STRATEGY": "none"},   # not even a clone
                      "script": ["echo 'privacy-oci: every service is up to date'"]}}
CHILD_PIPELINE = ".work/child-pipeline.yml"
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|SECRET|AUTH")
# Set per job, not passed on to the jobs a plan makes.
PER_JOB = ("PRIVACY_OCI_CHILD_PIPELINE", "PRIVACY_OCI_PREPARE_BUILDER")

# GitLab refuses in its pre-receive hook (a protected branch, a push rule),
# not with an HTTP status; what it says comes back as "remote: GitLab: …".
PRE_RECEIVE = "pre-receive hook declined"
GITLAB_SAYS = re.compile(r"remote: (GitLab: .+?)(?= To | ! |remote: |$)")
MAINTAINER = ("the Maintainer role: gitlab.com protects a project's default branch, and only Maintainers push to "
              "it (or allow Developers to push in Settings > Repository > Protected branches)")


class GitLab(Engine):
    name: ClassVar[str] = "gitlab"

    @classmethod
    def detected(cls, environ: Mapping[str, str]) -> bool:
        return environ.get("GITLAB_CI") == "true"

    def job_registry(self) -> JobRegistry | None:
        # host[:port]; CI_SERVER_HOST has no port
        server = self.get("CI_SERVER_FQDN") or self.get("CI_SERVER_HOST")
        return JobRegistry(self.get("CI_REGISTRY"), self.get("CI_REGISTRY_USER"), self.get("CI_REGISTRY_PASSWORD"),
                           "CI_REGISTRY_USER", (server,) if server else ())

    def other_registries(self) -> tuple[OtherRegistry, ...]:
        server, user, password = (self.get(f"CI_DEPENDENCY_PROXY_{part}") for part in ("SERVER", "USER", "PASSWORD"))
        if server and user and password:   # for its own server only
            return (OtherRegistry(server, user, password, "CI_DEPENDENCY_PROXY_USER"),)
        return ()

    def branch(self) -> tuple[str, str] | None:
        branch = self.environ.get("CI_COMMIT_BRANCH")
        return ("CI_COMMIT_BRANCH", branch) if branch else None

    def run_by_hand(self) -> bool:
        # A pipeline run by hand ("Run pipeline") means: try now.
        return self.environ.get("CI_PIPELINE_SOURCE") == "web"

    def push_refused(self, error: str, who: str, branch: str) -> str:
        if any(sign in error for sign in FORBIDDEN):
            return (f" -- the push was made with {who}, which may not push to {branch}: it needs the "
                    f"write_repository scope and {MAINTAINER}. {PUBLISHED}")
        if PRE_RECEIVE in error and not any(sign in error for sign in REFUSED):
            said = "; ".join(GITLAB_SAYS.findall(error)) or "no reason given"
            if "protected branch" in said:
                return (f" -- GitLab refused it: \"{said}\" The push was made with {who}; {branch} is a "
                        f"protected branch, where only Maintainers may push: the token needs {MAINTAINER}. "
                        f"{PUBLISHED}")
            return f" -- GitLab's pre-receive hook refused it: \"{said}\" The push was made with {who}. {PUBLISHED}"
        return super().push_refused(error, who, branch)

    def settings_for_jobs(self) -> dict[str, str]:
        """The PRIVACY_OCI_* settings of this job that the jobs it plans must
        share: the schedule's choices. Secrets stay out: they would be
        written into a pipeline file."""
        return {name: value for name, value in sorted(self.environ.items())
                if name.startswith("PRIVACY_OCI_") and name not in PER_JOB and not SECRET_NAME.search(name)}

    def write_fan_out(self, work: Work, root: Path) -> str:
        settings = self.settings_for_jobs()
        if work.retry:   # (also when asked by a pipeline run by hand, which the child is not)
            settings["PRIVACY_OCI_RETRY"] = "true"
        document = child_pipeline(work, settings)
        path = root / (self.get("PRIVACY_OCI_CHILD_PIPELINE") or CHILD_PIPELINE)
        path.parent.mkdir(parents=True, exist_ok=True)
        yaml = YAML(typ="safe", pure=True)
        yaml.default_flow_style = False
        stream = io.StringIO()
        yaml.dump(document, stream)
        path.write_text("# Generated by `doit fan-out`; do not edit.\n" + stream.getvalue())
        jobs = [name for name in document if name not in ("include", "stages", "variables")]
        return f"fan-out: {len(jobs)} job(s) written to {path}: {', '.join(jobs)}"


def child_pipeline(work: Work, settings: dict[str, str]) -> dict[str, Any]:
    """The child pipeline for ``work``, its jobs run with ``settings``.

    No heavy job is planned from unknown facts: a service whose facts could
    not be gathered (a registry or an upstream out of reach for a moment)
    has no build job; one light job says why and fails, and the next tick
    decides again."""
    build_template = f".privacy-oci-build-{work.builder}"
    jobs: dict[str, Any] = {}
    for build in work.builds:
        # Its task_dep fetches the source first.
        job = _job(build_template, "build", [f"doit {build.task}"])
        # A report of its own, beside the others in the pages job.
        job["variables"] = {"PRIVACY_OCI_REPORT": f"report/{build.report}.json"}
        if build.runners:
            job["tags"] = list(build.runners)
        jobs[build.task] = job
    index_jobs = []
    for service, needs in work.indexes:
        name = names.push_manifest_task(service)
        # --single: the needed jobs did the builds; a platform that failed
        # is not built here (no builder), the job says it is missing.
        job = _job(LIGHT, "manifest", [f"doit --single {name} {names.verify_task(service)}"])
        job["needs"] = list(needs)
        # It runs even when a build failed, so that it always finishes
        # and the record job that needs it runs: GitLab runs a `when:
        # always` job after a skipped one it needs, gitlab-ci-local not.
        job["when"] = "always"
        jobs[name] = job
        index_jobs.append(name)
    if work.not_planned:
        jobs[CANNOT_PLAN] = cannot_plan(work.why_not_planned())
    if not jobs and not work.record and not work.site:
        return NOTHING_TO_DO
    if work.record:
        # --single: record what is published, without building what failed.
        record = _job([LIGHT, ".privacy-oci-record"], "record", [f"doit --single {names.COMMIT_HASH}"])
        # Record whatever did get published, even when another service failed.
        record["needs"] = index_jobs
        record["when"] = "always"
        jobs[names.COMMIT_HASH] = record
    stages = STAGES if jobs.keys() - {CANNOT_PLAN} else ["record"] if jobs else []
    if work.site:
        jobs[PAGES] = _job([LIGHT, ".privacy-oci-pages"], PAGES, [f"doit {names.STATUS_PAGE} --remember"])
        stages = [*stages, PAGES]
    return {"include": [{"local": TEMPLATES}], "variables": {**settings, "PRIVACY_OCI_BUILDER": work.builder},
            "stages": stages, **jobs}


def cannot_plan(text: str) -> dict[str, Any]:
    """A light job that fails, saying ``text``: why each service could not
    be planned. It reaches the script as a variable, never as script text."""
    # GitLab expands $NAME in a variable's value; $$ is a dollar sign.
    return {"stage": "record", "image": "alpine:3.20",
            "variables": {"GIT_STRATEGY": "none", "PRIVACY_OCI_NOT_PLANNED": text.replace("$", "$$")},
            "script": ['printf \'%s\\n\' "$PRIVACY_OCI_NOT_PLANNED" >&2', "exit 1"]}


def _job(extends: str | list[str], stage: str, script: list[str]) -> dict[str, Any]:
    return {"extends": extends, "stage": stage, "script": script}

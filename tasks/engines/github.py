"""GitHub Actions: a job of a GitHub repository's workflow
(GITHUB_ACTIONS=true), ``.github/workflows/privacy-oci.yml``.

- Images go to GitHub's container registry, under the repository's owner:
  ``${CI_REGISTRY_IMAGE}`` in image_prefix is ``ghcr.io/<owner>``, and
  ``${CI_REGISTRY}``, ``${GITHUB_REPOSITORY_OWNER}`` and
  ``${GITHUB_REPOSITORY}`` may be named too, the owner lower-cased (an
  image name is; GITHUB_REPOSITORY_OWNER keeps the account's case). The
  registry is PRIVACY_OCI_GITHUB_REGISTRY where that is set (GitHub
  Enterprise Server's ``containers.<host>``; the rehearsal's stand-in).
- The job's credentials there are the workflow's GITHUB_TOKEN (the
  workflow puts it in the environment of the jobs that need it, with
  ``packages: write`` where they push), given with the actor's name
  (ghcr.io takes any user name with it). ghcr.io's token service is
  ``https://ghcr.io/token``, on its own host: nothing else is paired with
  it, and the token goes to that registry only, never to Docker Hub.
- The branch is GITHUB_REF_NAME when GITHUB_REF_TYPE is ``branch``; a
  workflow run by hand (``workflow_dispatch``) tries again what is held
  back.
- The record is pushed with PRIVACY_OCI_GIT_TOKEN where the workflow gives
  one (a secret: a token that may push past a branch protection), else with
  GITHUB_TOKEN (``contents: write``), as user ``x-access-token``. A refusal
  says which permission the token lacks, and GitHub's own words when a
  branch protection or a ruleset refused it (GH006, GH013).
- fan-out writes the pending work as the plan job's outputs
  ($GITHUB_OUTPUT): ``builds``, the build matrix (one entry per service
  and platform: service, platform, its doit task, the runner label
  services.yml gives the platform, default ``ubuntu-latest``, and the name
  of its report); ``indexes`` (one entry per service: its doit tasks);
  ``record`` and ``site`` (``true`` or ``false``); ``not-planned`` (why
  the facts of a service could not be gathered, one line each); and a
  summary of the tick ($GITHUB_STEP_SUMMARY). With nothing pending every
  job after the plan is skipped: the tick costs the plan job alone.
"""
from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from .. import names
from . import FAN_OUT_FILE, FORBIDDEN, PUBLISHED, Engine, JobRegistry, Work

REGISTRY = "ghcr.io"
DEFAULT_RUNNER = "ubuntu-latest"
# What GitHub says when a branch protection rule (GH006) or a ruleset (GH013)
# refuses a push, as git shows it once its lines are joined.
PROTECTED = re.compile(r"remote: error: (GH0(?:06|13): .+?)(?= To | ! |$)")
REMOTE_SAYS = re.compile(r"\s*remote:(?: error:)?\s*")


class GitHub(Engine):
    name: ClassVar[str] = "github"
    git_user: ClassVar[str] = "x-access-token"

    @classmethod
    def detected(cls, environ: Mapping[str, str]) -> bool:
        return environ.get("GITHUB_ACTIONS") == "true"

    @property
    def registry(self) -> str:
        return (self.get("PRIVACY_OCI_GITHUB_REGISTRY") or REGISTRY).rstrip("/").lower()

    def prefix_variables(self) -> dict[str, str]:
        owner = (self.get("GITHUB_REPOSITORY_OWNER") or "").lower()
        return {"CI_REGISTRY_IMAGE": f"{self.registry}/{owner}" if owner else "", "CI_REGISTRY": self.registry,
                "GITHUB_REPOSITORY_OWNER": owner, "GITHUB_REPOSITORY": (self.get("GITHUB_REPOSITORY") or "").lower()}

    def job_registry(self) -> JobRegistry | None:
        token = self.get("GITHUB_TOKEN")
        if not token:
            return JobRegistry(self.registry)
        user = self.get("GITHUB_ACTOR") or self.get("GITHUB_REPOSITORY_OWNER") or self.git_user
        return JobRegistry(self.registry, user, token, "GITHUB_TOKEN")

    def branch(self) -> tuple[str, str] | None:
        name = self.get("GITHUB_REF_NAME")
        return ("GITHUB_REF_NAME", name) if name and self.get("GITHUB_REF_TYPE") == "branch" else None

    def run_by_hand(self) -> bool:
        return self.get("GITHUB_EVENT_NAME") == "workflow_dispatch"

    def record_token(self) -> tuple[str, str] | None:
        token = self.get("GITHUB_TOKEN")
        return ("GITHUB_TOKEN", token) if token else None

    def push_refused(self, error: str, who: str, branch: str) -> str:
        said = "; ".join(REMOTE_SAYS.sub(" ", found).strip() for found in PROTECTED.findall(error))
        if said:
            return (f" -- GitHub refused it: \"{said}\" {branch} is protected (a branch protection rule or a "
                    f"ruleset), and {who} may not push past it: give the workflow the secret "
                    "PRIVACY_OCI_GIT_TOKEN, a token of a user the rule lets push to it (a fine-grained token with "
                    f"Contents: read and write on this repository). {PUBLISHED}")
        if any(sign in error for sign in FORBIDDEN):
            if "GITHUB_TOKEN" in who:
                lacks = ("the job's GITHUB_TOKEN needs `contents: write` (the record job asks for it; where the "
                         "repository or its organisation caps what workflows may ask for, Settings > Actions > "
                         "General > Workflow permissions, allow it, or give the secret PRIVACY_OCI_GIT_TOKEN)")
            else:
                lacks = ("a fine-grained token needs Contents: read and write on this repository, a classic one "
                         "the repo scope")
            return f" -- the push was made with {who}, which may not push to {branch}: {lacks}. {PUBLISHED}"
        return super().push_refused(error, who, branch)

    def write_fan_out(self, work: Work, root: Path) -> str:
        values = outputs(work)
        target = self.get("GITHUB_OUTPUT")
        path = Path(target) if target else root / FAN_OUT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as stream:
            for name, value in values.items():
                if "\n" in value:
                    delimiter = f"privacy-oci-{secrets.token_hex(8)}"
                    stream.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
                else:
                    stream.write(f"{name}={value}\n")
        summary = self.get("GITHUB_STEP_SUMMARY")
        if summary:
            with Path(summary).open("a") as stream:
                stream.write(step_summary(work))
        jobs = [build.task for build in work.builds] + [names.push_manifest_task(s) for s, _ in work.indexes]
        jobs += [names.COMMIT_HASH] * work.record + ["pages"] * work.site + ["cannot-plan"] * bool(work.not_planned)
        return (f"fan-out: {len(jobs)} job(s) after this one ({', '.join(jobs) or 'none: nothing is pending'}); "
                f"outputs written to {path}")


def outputs(work: Work) -> dict[str, str]:
    """The plan job's outputs for ``work``: the values the workflow's later
    jobs read with ``fromJSON``."""
    builds = [{"service": build.service, "platform": build.platform, "task": build.task,
               "runner": runner(build.runners), "report": build.report} for build in work.builds]
    indexes = [{"service": service, "tasks": f"{names.push_manifest_task(service)} {names.verify_task(service)}"}
               for service, _ in work.indexes]
    return {"builds": json.dumps(builds, separators=(",", ":")),
            "indexes": json.dumps(indexes, separators=(",", ":")),
            "record": json.dumps(work.record), "site": json.dumps(work.site),
            "not-planned": work.why_not_planned()}


def runner(labels: tuple[str, ...]) -> str | list[str]:
    """``runs-on`` for a platform's runner labels: one label, all of them
    (a runner that has every one), or GitHub's default runner."""
    if not labels:
        return DEFAULT_RUNNER
    return labels[0] if len(labels) == 1 else list(labels)


def step_summary(work: Work) -> str:
    """What the tick does, for the run's page."""
    lines = ["### privacy-oci", ""]
    if work.nothing:
        return "\n".join([*lines, "Nothing is pending: every service is up to date, or held back after failing.", ""])
    lines += [f"- build `{build.task}` on `{runner(build.runners)}`" for build in work.builds]
    lines += [f"- index of `{service}`" for service, _ in work.indexes]
    lines += ["- record the published commits in services.yml"] * work.record
    lines += ["- publish the status site"] * work.site
    lines += [f"- **not planned** `{name}`: {reason}" for name, reason in work.not_planned]
    return "\n".join([*lines, ""])

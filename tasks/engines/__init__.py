"""CI engines: what a CI engine means to privacy-oci, one module per engine
behind one small interface (``Engine``), so that no other module asks which
engine it runs on.

From the job's environment, an engine says:

- which variables ``image_prefix`` may name, and what they hold
  (``prefix_variables``);
- its container registry, the job's credentials for it and the token
  services that belong to it (``job_registry``), and any other registry it
  gives the job credentials for (``other_registries``: GitLab's Dependency
  Proxy);
- the branch a run records to (``branch``), and whether the run was asked
  for by hand, which tries again what is held back (``run_by_hand``);
- the commit-back's credentials when none are given (``record_token``,
  ``git_user``), and what to do when its push is refused
  (``push_refused``);
- how fan-out writes the pending work for it (``write_fan_out``: GitLab a
  child pipeline, GitHub Actions job outputs).

The engine is the first of ``ENGINES`` that ``detected`` in the
environment (GitLab when GITLAB_CI=true, GitHub when GITHUB_ACTIONS=true),
else ``Engine`` itself: no CI engine, a maintainer's machine. Adding an
engine is a module here and a line in ``ENGINES``.
"""
from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

# The engines, by name, in the order they are detected: name -> (module, class).
ENGINES = {"gitlab": ("gitlab", "GitLab"), "github": ("github", "GitHub")}
NAMES = tuple(ENGINES)
# Whose runner tags services.yml's runner_tags are when they name platforms
# alone, as they did before there was another engine.
UNQUALIFIED_RUNNER_TAGS = "gitlab"

# What a push refused for want of permission, or of valid credentials, says.
FORBIDDEN = ("returned error: 403", "HTTP 403", "403 Forbidden")
REFUSED = ("Authentication failed", "returned error: 401", "HTTP Basic: Access denied")
PUBLISHED = "The images are published; once the token may push, the next run records them"
# Where fan-out writes the pending work without a CI engine.
FAN_OUT_FILE = ".work/fan-out.json"


@dataclass(frozen=True)
class JobRegistry:
    """The engine's container registry and what the job has for it."""
    host: str | None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    source: str = ""                       # the variable the credentials come from, for messages
    token_services: tuple[str, ...] = ()   # hosts of its token service, where not its own


@dataclass(frozen=True)
class OtherRegistry:
    """Another registry the engine gives the job credentials for."""
    host: str
    user: str
    password: str = field(repr=False)
    source: str


@dataclass(frozen=True)
class Build:
    """One pending platform of one service: its task, and the runners
    services.yml gives its platform on this engine (none: the default
    runner, under emulation when the platform is foreign)."""
    service: str
    platform: str
    task: str
    runners: tuple[str, ...] = ()

    @property
    def report(self) -> str:
        """The name of its job's report (its task, as a file name)."""
        return self.task.replace(":", "-")


@dataclass(frozen=True)
class Work:
    """The pending part of the graph, as fan-out found it: what each engine
    writes in its own form."""
    builds: tuple[Build, ...] = ()
    indexes: tuple[tuple[str, tuple[str, ...]], ...] = ()   # service -> the build tasks its index needs
    record: bool = False                 # a record job: something is (or may be) published, not recorded
    site: bool = False                   # the status site is to be published
    not_planned: tuple[tuple[str, str], ...] = ()   # service -> why its facts could not be gathered
    builder: str = "buildx"
    retry: bool = False                  # held-back platforms are tried now

    @property
    def nothing(self) -> bool:
        return not (self.builds or self.indexes or self.record or self.site or self.not_planned)

    def why_not_planned(self) -> str:
        """What the failing job says of the services it could not plan, a line each."""
        return "\n".join(f"privacy-oci: {name}: not planned: {why}" for name, why in self.not_planned)

    def as_json(self) -> dict[str, object]:
        return {"builds": [asdict(build) for build in self.builds],
                "indexes": [{"service": service, "needs": list(needs)} for service, needs in self.indexes],
                "record": self.record, "site": self.site, "not_planned": dict(self.not_planned),
                "builder": self.builder, "retry": self.retry}


@dataclass(frozen=True)
class Engine:
    """No CI engine: a maintainer's machine. The engines in ``ENGINES``
    say what differs on theirs."""
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    name: ClassVar[str] = "none"
    # The user name a token is given to git with (PRIVACY_OCI_GIT_USER's default).
    git_user: ClassVar[str] = "oauth2"
    # What an image prefix may name without a CI engine: GitLab's names,
    # set by hand (README, "Using it").
    PREFIX_VARIABLES: ClassVar[tuple[str, ...]] = ("CI_REGISTRY_IMAGE", "CI_REGISTRY", "CI_PROJECT_PATH",
                                                   "CI_PROJECT_NAMESPACE")

    @classmethod
    def detected(cls, environ: Mapping[str, str]) -> bool:
        """Whether ``environ`` is a job of this engine."""
        return False

    def get(self, name: str) -> str | None:
        """A variable of the job's environment; None when unset or empty."""
        return self.environ.get(name) or None

    def prefix_variables(self) -> dict[str, str]:
        """The variables ``${NAME}`` in image_prefix may name, each with its
        value ('' when it is not set)."""
        return {name: self.environ.get(name, "") for name in self.PREFIX_VARIABLES}

    def job_registry(self) -> JobRegistry | None:
        """The engine's registry and the job's credentials for it."""
        return None

    def other_registries(self) -> tuple[OtherRegistry, ...]:
        return ()

    def branch(self) -> tuple[str, str] | None:
        """(variable, branch) the job runs on, when it is a branch."""
        return None

    def run_by_hand(self) -> bool:
        """Whether the run was started by hand: it tries held-back platforms now."""
        return False

    def record_token(self) -> tuple[str, str] | None:
        """(variable, token) the record is pushed with when
        PRIVACY_OCI_GIT_TOKEN is not set."""
        return None

    def push_refused(self, error: str, who: str, branch: str) -> str:
        """What to tell about a refused push of the record (``error`` is
        git's words, ``who`` the credentials it was made with); '' when
        nothing is known about it."""
        if any(sign in error for sign in FORBIDDEN):
            return f" -- the push was made with {who}, which may not push to {branch}. {PUBLISHED}"
        if any(sign in error for sign in REFUSED):
            return (f" -- the push was made with {who}, which was refused: expired, revoked or wrong. The images "
                    "are published; once the token is replaced, the next run records them")
        return ""

    def write_fan_out(self, work: Work, root: Path) -> str:
        """Write ``work`` in this engine's form; a line saying what and where."""
        path = root / FAN_OUT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(work.as_json(), indent=2) + "\n")
        return f"fan-out: the pending work written to {path} (no CI engine here)"


def select(environ: Mapping[str, str]) -> Engine:
    """The engine of ``environ``: the first of ``ENGINES`` it is a job of,
    else none."""
    for module, class_name in ENGINES.values():
        engine: type[Engine] = getattr(importlib.import_module(f"{__name__}.{module}"), class_name)
        if engine.detected(environ):
            return engine(environ)
    return Engine(environ)

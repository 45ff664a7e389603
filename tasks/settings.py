"""The settings taken from the environment, read here and nowhere else, and
checked before any work (README, "Environment", lists them)."""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from . import builders, runtimes
from .catalogue import IMAGE_PREFIX, REF_NAME, check_git_url
from .errors import ConfigurationError

PUSH_OPTION = re.compile(r"[a-z][a-z0-9_.-]*(=[A-Za-z0-9_.:/-]+)?")
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|SECRET|AUTH")
# Set per job, not passed on to the jobs a plan makes.
PER_JOB = ("PRIVACY_OCI_CHILD_PIPELINE", "PRIVACY_OCI_PREPARE_BUILDER")


class SettingsError(ConfigurationError):
    """An environment variable with a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    # The whole environment: for ${VARIABLE} in the catalogue, and as the
    # base environment of the programs privacy-oci runs.
    environ: Mapping[str, str] = field(repr=False)
    builder: str | None = None              # None: the first one that works here
    prepare_builder: bool = False           # set the builder up before the first build (CI jobs)
    buildah: str = "buildah"
    buildah_root: str | None = None
    buildah_isolation: str = "chroot"
    buildah_storage_driver: str | None = None
    docker: str = "docker"
    runtime: str | None = None              # None: the one that goes with the builder
    podman: str = "podman"
    retry: bool = False                     # try held-back platforms now
    token_services: tuple[tuple[str, str], ...] = ()   # registry host -> a token service host it uses
    docker_hub: str | None = None           # a Docker Hub mirror for FROM ${DOCKER_HUB}/…: the Dependency Proxy
    dependency_proxy: tuple[str, str, str] | None = field(default=None, repr=False)   # server, user, password
    now: datetime | None = None             # a simulated clock; None: the real one
    registry_user: str | None = None
    registry_password: str | None = field(default=None, repr=False)
    registry_user_source: str = ""          # the variable the user came from, for messages
    ci_registry: str | None = None          # GitLab's registry host, and the instance that
    ci_server_host: str | None = None       # issues its tokens: the job's credentials go to both
    docker_auth_config: str | None = field(default=None, repr=False)
    registry_auth_file: str | None = None   # where the containers tools keep credentials
    xdg_runtime_dir: str | None = None
    docker_config: str | None = None        # where Docker keeps them
    home: str | None = None
    git_token: str | None = field(default=None, repr=False)
    git_user: str = "oauth2"
    git_remote: str = "origin"
    git_branch: str | None = None
    git_push_options: tuple[str, ...] = ()
    git_identity: tuple[str | None, str | None] = (None, None)   # author name, email
    state_file: str = ".work/doit-state.json"
    report_file: str = ".work/report.json"
    child_pipeline_file: str = ".work/child-pipeline.yml"
    site_dir: str = ".work/site"             # where `doit status-page` writes the site

    def clock(self) -> datetime:
        """Now, as this run sees it."""
        return self.now or datetime.now(timezone.utc)

    def for_child_pipeline(self) -> dict[str, str]:
        """The PRIVACY_OCI_* settings of this job that jobs it plans must
        share: the schedule's choices. Secrets stay out: they would be
        written into a pipeline file."""
        return {name: value for name, value in sorted(self.environ.items())
                if name.startswith("PRIVACY_OCI_") and name not in PER_JOB and not SECRET_NAME.search(name)}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """The settings of ``environ``; raise SettingsError naming the
        variable when a value cannot be used."""
        get = lambda *names: next((environ[n] for n in names if environ.get(n)), None)  # noqa: E731
        builder = get("PRIVACY_OCI_BUILDER")
        if builder and builder not in builders.NAMES:
            raise SettingsError(f"environment: PRIVACY_OCI_BUILDER={builder!r} is not a builder; "
                                f"use one of {', '.join(builders.NAMES)} or leave it unset")
        runtime = get("PRIVACY_OCI_RUNTIME")
        if runtime and runtime not in runtimes.NAMES:
            raise SettingsError(f"environment: PRIVACY_OCI_RUNTIME={runtime!r} is not a container runtime; "
                                f"use one of {', '.join(runtimes.NAMES)} or leave it unset")
        retry = get("PRIVACY_OCI_RETRY") or "false"
        if retry not in ("true", "false"):
            raise SettingsError(f"environment: PRIVACY_OCI_RETRY={retry!r}: use true or false")
        token_services = []
        for pair in (get("PRIVACY_OCI_TOKEN_SERVICES") or "").split(","):
            registry, equals, realm = pair.strip().partition("=")
            if not pair.strip():
                continue
            if not equals or not IMAGE_PREFIX.fullmatch(registry) or not IMAGE_PREFIX.fullmatch(realm) \
                    or "/" in registry + realm:
                raise SettingsError("environment: PRIVACY_OCI_TOKEN_SERVICES must be registry=token-service host "
                                    "pairs, comma-separated, e.g. registry.example.org=auth.example.org")
            token_services.append((registry, realm))
        docker_hub = (get("PRIVACY_OCI_DOCKER_HUB") or "").rstrip("/") or None
        if docker_hub and not IMAGE_PREFIX.fullmatch(docker_hub):
            raise SettingsError("environment: PRIVACY_OCI_DOCKER_HUB is not a registry path such as "
                                "gitlab.com:443/my-group/dependency_proxy/containers")
        now = get("PRIVACY_OCI_NOW")
        try:
            clock = datetime.fromisoformat(now.replace("Z", "+00:00")).astimezone(timezone.utc) if now else None
        except ValueError:
            raise SettingsError(f"environment: PRIVACY_OCI_NOW={now!r} is not a date and time such as "
                                "2026-11-30T04:00:00Z") from None
        for name in ("PRIVACY_OCI_GIT_BRANCH", "CI_COMMIT_BRANCH"):
            value = environ.get(name)
            if value and (value.startswith("-") or not REF_NAME.fullmatch(value)):
                raise SettingsError(f"environment: {name}={value!r} is not a git branch name")
        remote = get("PRIVACY_OCI_GIT_REMOTE") or "origin"
        if remote.startswith("-"):
            raise SettingsError(f"environment: PRIVACY_OCI_GIT_REMOTE={remote!r} is not a git remote name or URL")
        if not REF_NAME.fullmatch(remote):
            try:  # a URL, held to the same rules as an upstream's
                check_git_url(remote, "environment: PRIVACY_OCI_GIT_REMOTE",
                              local=environ.get("PRIVACY_OCI_LOCAL_UPSTREAMS") == "true")
            except ConfigurationError as error:
                raise SettingsError(str(error)) from None
        options = tuple(o.strip() for o in (get("PRIVACY_OCI_GIT_PUSH_OPTIONS") or "").split(",") if o.strip())
        for option in options:
            if not PUSH_OPTION.fullmatch(option):
                raise SettingsError(f"environment: PRIVACY_OCI_GIT_PUSH_OPTIONS: {option!r} is not a push option")
        return cls(
            environ=environ,
            builder=builder,
            prepare_builder=get("PRIVACY_OCI_PREPARE_BUILDER") == "true",
            buildah=get("PRIVACY_OCI_BUILDAH") or "buildah",
            buildah_root=get("PRIVACY_OCI_BUILDAH_ROOT"),
            buildah_isolation=get("BUILDAH_ISOLATION") or "chroot",
            buildah_storage_driver=get("STORAGE_DRIVER"),
            docker=get("PRIVACY_OCI_DOCKER") or "docker",
            runtime=runtime,
            podman=get("PRIVACY_OCI_PODMAN") or "podman",
            # A pipeline run by hand ("Run pipeline") means: try now.
            retry=retry == "true" or environ.get("CI_PIPELINE_SOURCE") == "web",
            token_services=tuple(token_services),
            docker_hub=docker_hub,
            dependency_proxy=(environ["CI_DEPENDENCY_PROXY_SERVER"], environ["CI_DEPENDENCY_PROXY_USER"],
                              environ["CI_DEPENDENCY_PROXY_PASSWORD"])
            if all(environ.get(name) for name in ("CI_DEPENDENCY_PROXY_SERVER", "CI_DEPENDENCY_PROXY_USER",
                                                  "CI_DEPENDENCY_PROXY_PASSWORD")) else None,
            now=clock,
            registry_user=get("PRIVACY_OCI_REGISTRY_USER", "CI_REGISTRY_USER"),
            registry_password=get("PRIVACY_OCI_REGISTRY_PASSWORD", "CI_REGISTRY_PASSWORD"),
            registry_user_source=next((n for n in ("PRIVACY_OCI_REGISTRY_USER", "CI_REGISTRY_USER")
                                       if environ.get(n)), ""),
            ci_registry=get("CI_REGISTRY"),
            # host[:port]; CI_SERVER_HOST has no port
            ci_server_host=get("CI_SERVER_FQDN", "CI_SERVER_HOST"),
            docker_auth_config=get("DOCKER_AUTH_CONFIG"),
            registry_auth_file=get("REGISTRY_AUTH_FILE"),
            xdg_runtime_dir=get("XDG_RUNTIME_DIR"),
            docker_config=get("DOCKER_CONFIG"),
            home=get("HOME"),
            git_token=get("PRIVACY_OCI_GIT_TOKEN"),
            git_user=get("PRIVACY_OCI_GIT_USER") or "oauth2",
            git_remote=remote,
            git_branch=get("PRIVACY_OCI_GIT_BRANCH", "CI_COMMIT_BRANCH"),
            git_push_options=options,
            git_identity=(get("GIT_AUTHOR_NAME"), get("GIT_AUTHOR_EMAIL")),
            state_file=get("PRIVACY_OCI_STATE") or cls.state_file,
            report_file=get("PRIVACY_OCI_REPORT") or cls.report_file,
            child_pipeline_file=get("PRIVACY_OCI_CHILD_PIPELINE") or cls.child_pipeline_file,
            site_dir=get("PRIVACY_OCI_SITE") or cls.site_dir,
        )

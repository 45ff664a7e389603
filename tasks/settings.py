"""The settings taken from the environment, read here and nowhere else, and
checked before any work (README, "Environment", lists them)."""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from . import builders, engines, runtimes
from .catalogue import IMAGE_PREFIX, REF_NAME, check_git_url
from .engines import Engine, OtherRegistry
from .errors import ConfigurationError

PUSH_OPTION = re.compile(r"[a-z][a-z0-9_.-]*(=[A-Za-z0-9_.:/-]+)?")


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
    # The CI engine the job runs on (tasks.engines), or none.
    engine: Engine = field(default_factory=Engine, repr=False)
    retry: bool = False                     # try held-back platforms now
    token_services: tuple[tuple[str, str], ...] = ()   # registry host -> a token service host it uses
    docker_hub: str | None = None           # a Docker Hub mirror for FROM ${DOCKER_HUB}/…: the Dependency Proxy
    now: datetime | None = None             # a simulated clock; None: the real one
    registry_user: str | None = None
    registry_password: str | None = field(default=None, repr=False)
    registry_user_source: str = ""          # the variable the user came from, for messages
    job_registry: str | None = None         # the engine's registry host, and the hosts of the
    job_registry_realms: tuple[str, ...] = ()   # token service that belongs to it: the job's credentials go there
    other_registries: tuple[OtherRegistry, ...] = field(default=(), repr=False)   # the Dependency Proxy's
    docker_auth_config: str | None = field(default=None, repr=False)
    registry_auth_file: str | None = None   # where the containers tools keep credentials
    xdg_runtime_dir: str | None = None
    docker_config: str | None = None        # where Docker keeps them
    home: str | None = None
    git_token: str | None = field(default=None, repr=False)
    git_token_source: str = ""              # the variable the token came from, for messages
    git_user: str = "oauth2"
    git_remote: str = "origin"
    git_branch: str | None = None
    git_push_options: tuple[str, ...] = ()
    git_identity: tuple[str | None, str | None] = (None, None)   # author name, email
    state_file: str = ".work/doit-state.json"
    report_file: str = ".work/report.json"
    site_dir: str = ".work/site"             # where `doit status-page` writes the site

    def clock(self) -> datetime:
        """Now, as this run sees it."""
        return self.now or datetime.now(timezone.utc)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """The settings of ``environ``; raise SettingsError naming the
        variable when a value cannot be used."""
        def get(*names: str) -> str | None:
            return next((environ[n] for n in names if environ.get(n)), None)
        engine = engines.select(environ)
        job_registry = engine.job_registry()
        engine_branch = engine.branch()
        record_token = engine.record_token()
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
        for name, value in (("PRIVACY_OCI_GIT_BRANCH", environ.get("PRIVACY_OCI_GIT_BRANCH")),
                            engine_branch or ("", None)):
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
            engine=engine,
            # A run started by hand means: try now.
            retry=retry == "true" or engine.run_by_hand(),
            token_services=tuple(token_services),
            docker_hub=docker_hub,
            now=clock,
            # The image prefix's registry's, else the job's own for the engine's registry.
            registry_user=get("PRIVACY_OCI_REGISTRY_USER") or (job_registry.user if job_registry else None),
            registry_password=get("PRIVACY_OCI_REGISTRY_PASSWORD") or (job_registry.password if job_registry
                                                                       else None),
            registry_user_source="PRIVACY_OCI_REGISTRY_USER" if get("PRIVACY_OCI_REGISTRY_USER") else
            job_registry.source if job_registry and job_registry.user else "",
            job_registry=job_registry.host if job_registry else None,
            job_registry_realms=job_registry.token_services if job_registry else (),
            other_registries=engine.other_registries(),
            docker_auth_config=get("DOCKER_AUTH_CONFIG"),
            registry_auth_file=get("REGISTRY_AUTH_FILE"),
            xdg_runtime_dir=get("XDG_RUNTIME_DIR"),
            docker_config=get("DOCKER_CONFIG"),
            home=get("HOME"),
            # The token given for the record, else the engine's own where it may push.
            git_token=get("PRIVACY_OCI_GIT_TOKEN") or (record_token[1] if record_token else None),
            git_token_source="PRIVACY_OCI_GIT_TOKEN" if get("PRIVACY_OCI_GIT_TOKEN") else
            record_token[0] if record_token else "",
            git_user=get("PRIVACY_OCI_GIT_USER") or engine.git_user,
            git_remote=remote,
            git_branch=get("PRIVACY_OCI_GIT_BRANCH") or (engine_branch[1] if engine_branch else None),
            git_push_options=options,
            git_identity=(get("GIT_AUTHOR_NAME"), get("GIT_AUTHOR_EMAIL")),
            state_file=get("PRIVACY_OCI_STATE") or cls.state_file,
            report_file=get("PRIVACY_OCI_REPORT") or cls.report_file,
            site_dir=get("PRIVACY_OCI_SITE") or cls.site_dir,
        )

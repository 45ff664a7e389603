"""One maintainer's world, as the tests and the benchmarks drive it:
upstreams, the catalogue repository and its remote, a builder store, and
the real ``doit`` command run in the checkout."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import clock, counting_builder, readback
from .config_repo import ConfigRepo
from .gitlab import GitLab
from .registry import LocalRegistry
from .upstreams import Upstream, git


@dataclass
class World:
    """One maintainer's world: upstreams, the catalogue repo and its remote,
    a builder store, and the real ``doit`` command run in the checkout."""
    directory: Path
    registry: LocalRegistry
    prefix: str
    upstreams: dict[str, Upstream]
    repo: ConfigRepo
    checkout: Path
    env: dict = field(default_factory=dict)
    env_base: str = ""          # the base image the stand-ins build FROM
    platforms: dict[str, list[str]] = field(default_factory=dict)   # service -> platforms
    gitlab: GitLab | None = None    # whose registry the images go to

    @property
    def builder_log(self) -> Path:
        return self.directory / "builder-calls.log"

    def doit(self, *args: str, check: bool = True, job: tuple[Path, dict] | None = None
             ) -> subprocess.CompletedProcess:
        """The real ``doit`` in the checkout, or in another ``job``'s."""
        cwd, env = job or (self.checkout, self.env)
        result = subprocess.run(["doit", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
        if check and result.returncode != 0:
            raise AssertionError(f"doit {' '.join(args)} exited {result.returncode}\n"
                                 f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
        return result

    def start_doit(self, *args: str, job: tuple[Path, dict] | None = None) -> subprocess.Popen:
        """``doit`` started in its own process group (to be killed whole, as
        a cancelled CI job is); its output goes to ``<checkout>.log``."""
        cwd, env = job or (self.checkout, self.env)
        log = cwd.with_suffix(".log").open("w")
        return subprocess.Popen(["doit", *args], cwd=cwd, env=env, start_new_session=True,
                                stdout=log, stderr=subprocess.STDOUT, text=True)

    def other_job(self, name: str) -> tuple[Path, dict]:
        """Another CI job (or a laptop) running at the same time: its own
        checkout of the catalogue and its own builder store."""
        env = {**self.env, "PRIVACY_OCI_BUILDAH_ROOT": str(self.directory / f"{name}-buildah")}
        return self.repo.clone(self.directory / name), env

    def take_builds(self) -> list[tuple[str, str]]:
        """(service, platform) of every ``buildah build`` run since the last call."""
        builds = sorted(counting_builder.builds(self.builder_log))
        self.builder_log.unlink(missing_ok=True)
        return builds

    def containers_left(self) -> list[str]:
        """Containers the start checks started and did not remove."""
        return counting_builder.containers_left(self.directory / counting_builder.LOGS["podman"])

    def client(self):
        """A registry client with this world's job credentials, as its doit
        makes one (the job's credentials belong to its CI_REGISTRY)."""
        from tasks.registry import RegistryClient, split_reference
        from tasks.registry_auth import load
        from tasks.settings import Settings
        return RegistryClient(load(Settings.from_environ(self.env), split_reference(self.prefix)[0]))

    def take_checks(self) -> list[tuple[str, str]]:
        """(service, platform) of every start check run since the last call."""
        log = self.directory / counting_builder.LOGS["podman"]
        checks = sorted(counting_builder.checks(log))
        log.unlink(missing_ok=True)
        return checks

    def pending(self) -> set[str]:
        """Tasks ``doit list --status --all`` marks as to be run, but for
        fan-out and status-page, which always run when asked and are never
        part of ``doit``."""
        listing = self.doit("list", "--status", "--all").stdout
        status = {line.split()[1]: line[0] for line in listing.splitlines()}
        assert status.pop("fan-out") == status.pop("status-page") == "R"
        return {task for task, mark in status.items() if mark == "R"}

    def fresh_job(self) -> None:
        """What a new CI job has: a fresh clone, no doit state, an empty
        store, no registry login."""
        Path(self.env["REGISTRY_AUTH_FILE"]).write_text('{"auths": {}}')
        self.checkout = self.repo.fresh_clone()
        store = self.directory / "buildah"
        if store.exists():
            subprocess.run(["buildah", "--root", f"{store}/root", "--runroot", f"{store}/run",
                            "--storage-driver", self.env.get("STORAGE_DRIVER", "vfs"), "rm", "--all"],
                           capture_output=True)
            shutil.rmtree(store, ignore_errors=True)

    def hours_later(self, hours: float = 1) -> None:
        """Move the runs' clock on (PRIVACY_OCI_NOW), as to a later
        scheduled tick: remembered failures are held back by the clock."""
        clock.move_on(self.env, hours)

    def services_yml(self) -> str:
        return (self.checkout / "services.yml").read_text()

    def registry_snapshot(self) -> list[tuple[str, int, int]]:
        """Every file the registry stores, with size and mtime: unchanged
        means nothing was written."""
        return sorted((str(p.relative_to(self.registry.storage)), p.stat().st_size, p.stat().st_mtime_ns)
                      for p in self.registry.storage.rglob("*") if p.is_file())

    def pull_authorization(self, repository: str) -> str:
        """A header to read ``repository`` with, signed by the project's
        token realm, as a user with pull rights has."""
        name = repository.split("/", 1)[1]
        token = self.gitlab.tokens.issue("reader", [{"type": "repository", "name": name, "actions": ["pull"]}])
        return f"Bearer {token}"

    def records(self) -> dict[str, str]:
        """service -> commit, as the remote's catalogue records them."""
        return readback.records(self.repo.remote_file("services.yml"))

    def tasks_of(self, service: str, slugs=None) -> set[str]:
        """The tasks pending when ``slugs`` (default: all) of ``service``'s
        platforms are to be built, spelled out as ``doit list`` shows them."""
        if slugs is None:
            slugs = [p.split("/", 1)[1] for p in self.platforms[service]]
        return {"fetch-upstream", f"fetch-upstream:{service}", f"build:{service}",
                *(f"build:{service}:{slug}" for slug in slugs),
                "push-manifest", f"push-manifest:{service}", "verify", f"verify:{service}", "commit-hash"}

    def all_tasks(self) -> set[str]:
        return set().union(*(self.tasks_of(service) for service in self.platforms))

    def commit_change(self, path: str, content: str | bytes) -> None:
        """A maintainer's change to the catalogue repo, pushed to its remote."""
        (self.checkout / path).write_bytes(content if isinstance(content, bytes) else content.encode())
        git("add", path, cwd=self.checkout)
        git("-c", "user.name=Maintainer", "-c", "user.email=m@example.org",
            "commit", "--quiet", "--message", f"Change {path}", cwd=self.checkout)
        git("push", "--quiet", "origin", "HEAD:main", cwd=self.checkout)

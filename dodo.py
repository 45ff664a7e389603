"""privacy-oci: keeps multi-arch images of the services in services.yml up
to date. ``doit`` runs the whole graph; ``doit list --status`` shows what is
pending; ``doit build:<service>`` builds and publishes one service."""
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tasks import build, commit_hash, fan_out, fetch_upstream, names, push_manifest, report, status_page, verify
from tasks.catalogue import load
from tasks.errors import ConfigurationError
from tasks.run import Run
from tasks.settings import Settings

ROOT = Path(__file__).resolve().parent

try:
    SETTINGS = Settings.from_environ(os.environ)
    RUN = Run(ROOT, load(ROOT / "services.yml", SETTINGS.environ), SETTINGS)
except ConfigurationError as error:
    sys.exit(f"privacy-oci: {error}")

DOIT_CONFIG: dict[str, Any] = {
    # A plain-file state backend: it survives a CI cache and a change of
    # Python build, and is only ever a speed-up.
    "backend": "json",
    "dep_file": str(RUN.path(SETTINGS.state_file)),
    # Tasks share one in-process view of the run (see tasks/run.py).
    "par_type": "thread",
    # One service's failure must not stop the others.
    "continue": True,
    "reporter": report.reporter_for(RUN),
    "default_tasks": names.default_tasks(RUN.catalogue.services),
}
Path(DOIT_CONFIG["dep_file"]).parent.mkdir(parents=True, exist_ok=True)


def task_fetch_upstream() -> Iterator[dict[str, Any]]:
    yield from fetch_upstream.tasks(RUN)


def task_build() -> Iterator[dict[str, Any]]:
    yield from build.tasks(RUN)


def task_push_manifest() -> Iterator[dict[str, Any]]:
    yield from push_manifest.tasks(RUN)


def task_verify() -> Iterator[dict[str, Any]]:
    yield from verify.tasks(RUN)


def task_commit_hash() -> Iterator[dict[str, Any]]:
    yield from commit_hash.tasks(RUN)


def task_fan_out() -> Iterator[dict[str, Any]]:
    yield from fan_out.tasks(RUN)


def task_status_page() -> Iterator[dict[str, Any]]:
    yield from status_page.tasks(RUN)

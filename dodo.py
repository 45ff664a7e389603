"""privacy-oci: keeps multi-arch images of the services in services.yml up
to date. ``doit`` runs the whole graph; ``doit list --status`` shows what is
pending; ``doit build:<service>`` builds and publishes one service."""
import sys
from pathlib import Path

from tasks import build, commit_hash, fan_out, fetch_upstream, push_manifest, report, verify
from tasks.catalogue import CatalogueError, check_environment, load
from tasks.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent

try:
    check_environment()
    PIPELINE = Pipeline(ROOT, load(ROOT / "services.yml"))
except CatalogueError as error:
    sys.exit(f"privacy-oci: {error}")

DOIT_CONFIG = {
    # A plain-file state backend: it survives a CI cache and a change of
    # Python build, and is only ever a speed-up.
    "backend": "json",
    "dep_file": str(PIPELINE.setting_path("PRIVACY_OCI_STATE", ".work/doit-state.json")),
    # Tasks share one in-process view of the run (see tasks/pipeline.py).
    "par_type": "thread",
    # One service's failure must not stop the others.
    "continue": True,
    "reporter": report.reporter_for(PIPELINE),
    # Everything but the build:<service> groups, which are for running one
    # service by hand and would only repeat its failures.
    "default_tasks": [fetch_upstream.BASENAME, *build.platform_task_names(PIPELINE),
                      push_manifest.BASENAME, verify.BASENAME, commit_hash.BASENAME],
}
Path(DOIT_CONFIG["dep_file"]).parent.mkdir(parents=True, exist_ok=True)


def task_fetch_upstream():
    yield from fetch_upstream.tasks(PIPELINE)


def task_build():
    yield from build.tasks(PIPELINE, lambda service: [push_manifest.task_name(service),
                                                      verify.task_name(service)])


def task_push_manifest():
    yield from push_manifest.tasks(PIPELINE)


def task_verify():
    yield from verify.tasks(PIPELINE)


def task_commit_hash():
    yield from commit_hash.tasks(PIPELINE)


def task_fan_out():
    yield from fan_out.tasks(PIPELINE)

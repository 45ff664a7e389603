"""fan-out: the pending part of the graph as a GitLab child pipeline. Each
pending service × platform builds in a job of its own, on a runner of its
platform (``runner_tags`` in services.yml), with the builder the schedule
chose; one light index job per service needs its platform jobs; one light
record job runs when anything is to be recorded (also when a service
was published but its record failed last time). Nothing pending gives a
single no-op job, as GitLab rejects an empty pipeline; a service whose facts
could not be gathered gets no job but a light one that says why. The decision is the
graph's own: the same plans ``doit list --status`` reports.

The status site goes to GitLab Pages from a light job named ``pages``
(``doit status-page --remember``), last in the child pipeline, whenever
the child does anything else (something is built, published, recorded,
or fails and is held back), or, with nothing else to do, when what the
site is made from changed since it was last published (as remembered in
the registry, ``tasks.site_memory``: the first site, a service added or
removed, a new version of the site's code). A tick with nothing to do and
nothing new for the site stays one no-op job; facts that could not be
gathered never bring the site out. Each build job keeps its report under
a name of its own (``report/build-<service>-<arch>.json``), so that the
pages job, which gets the artifacts of every job before it, has each
start check's details.

The settings the plan was made with (the schedule's PRIVACY_OCI_*
variables, secrets excepted) are written into the child pipeline, so its
jobs run with them whether or not GitLab forwards them.

``child_pipeline`` is a pure function of the plans; the task only gathers
them and writes the file (PRIVACY_OCI_CHILD_PIPELINE, default
``.work/child-pipeline.yml``).
"""
from __future__ import annotations

import io

from ruamel.yaml import YAML

from . import builders, names, site_memory
from .catalogue import Catalogue
from .decide_stale import ServicePlan
from .errors import StageFailed
from .run import Run

# The same job templates as .gitlab-ci.yml includes.
TEMPLATES = ".gitlab/ci/jobs.yml"
LIGHT = ".privacy-oci"
STAGES = ["build", "manifest", "record"]
CANNOT_PLAN = "cannot-plan"
# GitLab Pages deploys what a job of this name leaves in public/.
PAGES = "pages"
NOTHING_TO_DO = {"stages": ["record"],
                 "nothing-to-do": {"stage": "record", "image": "alpine:3.20",
                                   "variables": {"GIT_STRATEGY": "none"},   # not even a clone
                                   "script": ["echo 'privacy-oci: every service is up to date'"]}}


def tasks(run: Run):
    yield {
        "basename": names.FAN_OUT,
        "doc": "write the pending builds as a GitLab child pipeline (one job per service and platform)",
        "actions": [(write, [run])],
        # It reports the state of the registry and upstreams now: always run.
        "uptodate": [False],
        "verbosity": 2,
    }


def child_pipeline(catalogue: Catalogue, plans: dict[str, ServicePlan | str], builder: str,
                   settings: dict[str, str], site_changed: bool = False) -> dict:
    """The child pipeline for ``plans`` (service name -> plan, or the reason
    why its facts could not be gathered), built with ``builder``, its jobs
    run with ``settings``; ``site_changed``: what the status site is made
    from changed since it was last published.

    No heavy job is planned from unknown facts: a service whose facts could
    not be gathered (a registry or an upstream out of reach for a moment)
    gets no build job; one light job says why and fails, and the next tick
    decides again."""
    build_template = f".privacy-oci-build-{builder}"
    jobs: dict[str, dict] = {}
    index_jobs, to_record = [], False
    unknown = {name: plan for name, plan in plans.items() if isinstance(plan, str)}
    for service in catalogue.services:
        plan = plans[service.name]
        if isinstance(plan, str) or (not plan.needs_record and not plan.pending_platforms):
            continue   # unknown; recorded; or held back after failing
        to_record = to_record or plan.needs_record
        build_jobs = []
        for platform in plan.pending_platforms:
            name = names.build_task(service.name, platform)
            # Its task_dep fetches the source first.
            job = _job(build_template, "build", [f"doit {name}"])
            # A report of its own, beside the others in the pages job.
            job["variables"] = {"PRIVACY_OCI_REPORT": f"report/{name.replace(':', '-')}.json"}
            tags = catalogue.tags_for(platform)
            if tags:
                job["tags"] = tags
            jobs[name] = job
            build_jobs.append(name)
        if plan.needs_index:
            name = names.push_manifest_task(service.name)
            # --single: the needed jobs did the builds; a platform that failed
            # is not built here (no builder), the job says it is missing.
            job = _job(LIGHT, "manifest", [f"doit --single {name} {names.verify_task(service.name)}"])
            job["needs"] = build_jobs
            # It runs even when a build failed, so that it always finishes
            # and the record job that needs it runs: GitLab runs a `when:
            # always` job after a skipped one it needs, gitlab-ci-local not.
            job["when"] = "always"
            jobs[name] = job
            index_jobs.append(name)
    if unknown:
        jobs[CANNOT_PLAN] = cannot_plan(unknown)
    site = not unknown and (bool(jobs) or to_record or site_changed)
    if not jobs and not to_record and not site:
        return NOTHING_TO_DO
    if to_record:
        # --single: record what is published, without building what failed.
        record = _job([LIGHT, ".privacy-oci-record"], "record", [f"doit --single {names.COMMIT_HASH}"])
        # Record whatever did get published, even when another service failed.
        record["needs"] = index_jobs
        record["when"] = "always"
        jobs[names.COMMIT_HASH] = record
    stages = STAGES if jobs.keys() - {CANNOT_PLAN} else ["record"] if jobs else []
    if site:
        jobs[PAGES] = _job([LIGHT, ".privacy-oci-pages"], PAGES, [f"doit {names.STATUS_PAGE} --remember"])
        stages = [*stages, PAGES]
    return {"include": [{"local": TEMPLATES}], "variables": {**settings, "PRIVACY_OCI_BUILDER": builder},
            "stages": stages, **jobs}


def cannot_plan(reasons: dict[str, str]) -> dict:
    """A light job that fails, saying why each service could not be planned.
    The reasons reach the script as a variable, never as script text."""
    text = "\n".join(f"privacy-oci: {name}: not planned: {reason}" for name, reason in reasons.items())
    # GitLab expands $NAME in a variable's value; $$ is a dollar sign.
    return {"stage": "record", "image": "alpine:3.20",
            "variables": {"GIT_STRATEGY": "none", "PRIVACY_OCI_NOT_PLANNED": text.replace("$", "$$")},
            "script": ['printf \'%s\\n\' "$PRIVACY_OCI_NOT_PLANNED" >&2', "exit 1"]}


def _job(extends, stage: str, script: list[str]) -> dict:
    return {"extends": extends, "stage": stage, "script": script}


def write(run: Run):
    plans: dict[str, ServicePlan | str] = {}
    for service in run.catalogue.services:
        try:
            plans[service.name] = run.facts.plan(service)
        except StageFailed as error:
            print(f"fan-out: {service.name}: not planned, left to the next tick: {error}")
            plans[service.name] = str(error)
    settings = run.settings
    site_changed = not any(isinstance(plan, str) for plan in plans.values()) and site_inputs_changed(run, plans)
    child_settings = settings.for_child_pipeline()
    if settings.retry:   # (also when asked by a pipeline run by hand, which the child is not)
        child_settings["PRIVACY_OCI_RETRY"] = "true"
    document = child_pipeline(run.catalogue, plans, settings.builder or builders.NAMES[0], child_settings,
                              site_changed)
    path = run.path(run.settings.child_pipeline_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    stream = io.StringIO()
    yaml.dump(document, stream)
    path.write_text("# Generated by `doit fan-out`; do not edit.\n" + stream.getvalue())
    jobs = [name for name in document if name not in ("include", "stages", "variables")]
    print(f"fan-out: {len(jobs)} job(s) written to {path}: {', '.join(jobs)}")
    return True


def site_inputs_changed(run: Run, plans: dict[str, ServicePlan]) -> bool:
    """Whether the status site is to be written again though nothing else
    is to be done: what it is made from is not what it was last made from.
    A memory that cannot be read brings no pages job (it would every tick)."""
    try:
        remembered = site_memory.remembered(run.registry, run.catalogue.image_prefix)
    except StageFailed as error:
        print(f"fan-out: what the status site was made from cannot be read ({error}); no pages job for it")
        return False
    changed = remembered != site_memory.inputs_digest(run.catalogue, plans)
    if changed:
        print("fan-out: the status site is not what its inputs make now: a pages job writes it again")
    return changed

"""The run's report: doit's per-task lines while it works, then a summary
table of every service, also kept as files for CI artifacts and scripts: the
JSON report (PRIVACY_OCI_REPORT, default ``.work/report.json``) and the
summary beside it (``report.txt``)."""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from doit.exceptions import BaseFail, UnmetDependency
from doit.reporter import ConsoleReporter
from doit.task import Task

from . import graph, names
from .errors import StageFailed
from .run import Run

LOG_LINES_IN_SUMMARY = 5
# What became of a service in this run, one word each, furthest first:
#   recorded    its index is published and services.yml now records it
#   published   its index went out in this run, not (yet) recorded
#   up to date  nothing to do: services.yml records what upstream has
#   pending     work is left that this run did not do
#   held back   a platform failed before and waits for its next try
#   superseded  a newer state is published; latest and the record left to it
#   failed      a stage failed in this run
STATUSES = ("recorded", "published", "up to date", "pending", "held back", "superseded", "failed")


def reporter_for(run: Run) -> Any:   # a ConsoleReporter class: doit has no types
    """A doit reporter class (DOIT_CONFIG 'reporter') bound to this run."""
    class RunReporter(ConsoleReporter):  # type: ignore[misc]  # (doit has no types)
        def initialize(self, tasks: Mapping[str, Task], selected_tasks: list[str] | None) -> None:
            run.facts.limit_to(graph.services_selected(run.catalogue, tasks, selected_tasks))
            run.facts.say_errors = False   # the failed task says it, and the summary

        def add_failure(self, task: Task, fail: BaseFail) -> None:
            # A task whose dependency failed says nothing the failure has not.
            if not isinstance(fail, UnmetDependency):
                super().add_failure(task, fail)

        def complete_run(self) -> None:
            self._show_failed_output()
            services = service_reports(run)
            if services:
                text = "\n".join(summary(services)) + "\n"
                self.outstream.write(text)
                write_report(services, text, report_path(run))
            # The one way a run fails: a stage's StageFailed is recorded in
            # the ledger (so that the other services go on), and here, once
            # doit has saved its state, it becomes the run's exit status.
            if any(service["errors"] for service in services) and not self.failures:
                self.outstream.flush()
                sys.exit(1)

        def _show_failed_output(self) -> None:
            """What a failed task printed, as doit shows it, without the
            empty blocks."""
            for result in self.failures:
                task = result["task"]
                if not task.executed:
                    continue
                for stream, text in (("stderr", "".join(a.err or "" for a in task.actions)),
                                     ("stdout", "".join(a.out or "" for a in task.actions))):
                    if text.strip():
                        self.write(f"{'#' * 40}\n{task.name} <{stream}>:\n{text}\n")
            if self.runtime_errors:
                self.write("#" * 40 + "\nExecution aborted.\n" + "\n".join(self.runtime_errors) + "\n")
    return RunReporter


def report_path(run: Run) -> Path:
    return run.path(run.settings.report_file)


def service_reports(run: Run) -> list[dict[str, Any]]:
    """One entry per service the run looked at; none when it needed no
    facts (``doit build:scribe`` looks at scribe only)."""
    reports = []
    for service in run.facts.planned():
        outcome = run.ledger.outcome(service.name)
        try:
            plan = run.facts.plan(service)
        except StageFailed:
            plan = None
        if outcome.failures:
            status = "failed"
        elif outcome.superseded:
            status = "superseded"
        elif outcome.recorded:
            status = "recorded"
        elif outcome.index_digest:
            status = "published"
        elif plan is not None and plan.recorded:
            status = "up to date"
        elif plan is not None and plan.held_back:
            status = "held back"
        else:
            status = "pending"
        reports.append({
            "service": service.name,
            "upstream": service.upstream,
            "ref": f"{service.ref_kind} {service.ref}",
            "commit": plan.commit if plan else None,
            "status": status,
            "recorded": outcome.recorded,
            "platforms": dict(outcome.built),
            "index_digest": outcome.index_digest,
            "tags": list(names.index_tags(plan.commit, plan.version)) if outcome.index_digest and plan else [],
            "errors": dict(outcome.failures),
            "superseded": outcome.superseded,
            "start_checks": {platform: {"passed": result.passed, "result": result.what,
                                        "seconds": round(result.seconds, 1), "log": list(result.log)}
                             for platform, result in outcome.checks.items()},
            "held_back": [{"platform": platform, "stage": failure.stage, "attempts": failure.attempts,
                           "last_attempt": failure.attempted_at.isoformat(timespec="seconds"),
                           "next_try": failure.next_try.isoformat(timespec="seconds"), "reason": failure.reason}
                          for platform, failure in (plan.held_back if plan else ())],
        })
    return reports


def summary(reports: list[dict[str, Any]]) -> list[str]:
    rows: list[tuple[str, str, str, str, list[str]]] = []
    for report in reports:
        details = []
        if report["platforms"]:
            details.append("built and checked " + ", ".join(names.platform_slug(p) for p in report["platforms"]))
        if report["index_digest"]:
            details.append(f"index {report['index_digest'][:19]}")
        if report["superseded"]:
            details.append(f"left latest and the record to a newer state: {report['superseded']}")
        details += [f"{names.platform_slug(held['platform'])} held back after {held['attempts']} failed "
                    f"{held['stage']}(s), next try after {held['next_try']}" for held in report["held_back"]]
        details += [f"{task}: {reason.splitlines()[0]}" for task, reason in report["errors"].items()]
        commit = (report["commit"] or "-")[:12]
        logs = [f"{platform} log: {line}" for platform, check in report["start_checks"].items()
                if not check["passed"] for line in check["log"][-LOG_LINES_IN_SUMMARY:]]
        rows.append((report["service"], commit, report["status"], "; ".join(details), logs))
    width = max(len(row[0]) for row in rows)
    lines = ["", "privacy-oci summary:"]
    for name, commit, status, said, logs in rows:
        lines.append(f"  {name:<{width}}  {commit:<12}  {status:<10}  {said}".rstrip())
        lines += [f"  {'':<{width}}  {'':<12}  {'':<10}    {line}" for line in logs]
    counts = ", ".join(f"{count} {status}" for status in STATUSES
                       for count in [sum(r["status"] == status for r in reports)] if count)
    images = sum(len(r["platforms"]) for r in reports)
    lines.append(f"  services: {counts}; {images} platform image(s) built and checked")
    return lines


def write_report(reports: list[dict[str, Any]], summary_text: str, path: Path) -> None:
    """The JSON report at ``path``, and the summary beside it (``.txt``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, text in ((path, json.dumps({"services": reports}, indent=2) + "\n"),
                         (path.with_suffix(".txt"), summary_text.lstrip("\n"))):
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_text(text)
        os.replace(temporary, target)

"""The run's console report: doit's per-task lines, then a summary of what
was built, published, recorded, up to date and failed, service by service."""
from __future__ import annotations

from doit.reporter import ConsoleReporter

from .pipeline import Pipeline, StageFailed


def reporter_for(pipeline: Pipeline):
    """A doit reporter class (DOIT_CONFIG 'reporter') bound to this run."""
    class PipelineReporter(ConsoleReporter):
        def complete_run(self):
            super().complete_run()
            lines = summary(pipeline)
            if lines:
                self.outstream.write("\n".join(lines) + "\n")
    return PipelineReporter


def summary(pipeline: Pipeline) -> list[str]:
    """One line per service, then the totals; nothing when no service was
    looked at (e.g. a run of a task that needs no facts)."""
    if not pipeline.facts_gathered:
        return []
    rows, totals = [], {"built": 0, "published": 0, "recorded": 0, "up to date": 0, "failed": 0}
    for service in pipeline.catalogue.services:
        outcome = pipeline.outcomes[service.name]
        try:
            plan = pipeline.plan(service)
            commit = plan.commit[:12]
        except StageFailed:
            plan, commit = None, "-"
        totals["built"] += len(outcome.built)
        if outcome.failures:
            status = "FAILED"
            totals["failed"] += 1
        elif outcome.recorded:
            status = "recorded"
        elif outcome.index_digest:
            status = "published"
        elif plan is not None and plan.recorded:
            status = "up to date"
        else:
            status = "pending"
        totals["published"] += outcome.index_digest is not None
        totals["recorded"] += outcome.recorded
        totals["up to date"] += status == "up to date"
        details = [f"built {', '.join(outcome.built)}"] if outcome.built else []
        if outcome.index_digest:
            details.append(f"index {outcome.index_digest}")
        details += [f"{task}: {reason.splitlines()[0]}" for task, reason in outcome.failures.items()]
        rows.append((service.name, commit, status, "; ".join(details)))
    width = max(len(name) for name, *_ in rows)
    lines = ["", "privacy-oci summary:"]
    lines += [f"  {name:<{width}}  {commit:<12}  {status:<10}  {details}".rstrip()
              for name, commit, status, details in rows]
    lines.append("  " + ", ".join(f"{count} {what}" for what, count in totals.items()))
    return lines

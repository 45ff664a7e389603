"""commit-hash: records in services.yml the upstream commits whose index is
now published, as one ``[skip ci]`` commit pushed to the catalogue's remote,
so the next run has nothing to do for them.

Only what the registry shows as fully published is recorded; a service that
failed keeps its previous record. Nothing is recorded that would move a
record backwards: not a commit upstream has moved on from, nor over a
record another run wrote since this run read the catalogue. When the remote
has moved on (another pipeline pushed first), this run's records are
applied again onto its head, under the same checks. The commit is made and
pushed before the checkout is touched (see ``tasks.remote``).

The records are written into the catalogue's text in a round trip that
keeps every comment, the order and the quoting of everything else, its
document start marker, byte-order mark and line endings.
"""
from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator, Mapping
from operator import attrgetter
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.tokens import CommentToken

from . import decide_stale, graph, names
from .catalogue import Record
from .errors import StageFailed
from .git import GitError
from .run import Run

# GitLab skips pipelines for pushes whose commit message contains this.
SKIP_CI = "[skip ci]"
PUSH_ATTEMPTS = 5


def tasks(run: Run) -> Iterator[dict[str, Any]]:
    yield {
        "basename": names.COMMIT_HASH,
        "doc": "record the published upstream commits in services.yml and push a [skip ci] commit",
        # Its failure (a refused push, a registry out of reach) is that of
        # every service it was to record, as any stage's is of its service.
        "actions": [(lambda: run.ledger.attempt_all(to_record(run), names.COMMIT_HASH, lambda: record(run)), [])],
        # After every index push, whatever its outcome: a failed service must
        # not keep the others from being recorded.
        "task_dep": [names.push_manifest_task(s.name) for s in run.catalogue.services],
        "uptodate": [graph.uptodate(run, attrgetter("needs_record"))],
        "verbosity": 2,
    }


def published_now(run: Run) -> dict[str, Record]:
    """Services not yet recorded whose index the registry now holds, with the
    record to write."""
    published = {}
    for service in run.catalogue.services:
        try:
            plan = run.facts.plan(service)
        except StageFailed:
            continue
        if not plan.recorded and run.facts.index_published(service, plan.commit, plan.inputs):
            published[service.name] = plan.record
    return published


def to_record(run: Run) -> list[str]:
    """The services this run means to record: a failure of commit-hash is theirs."""
    names_ = []
    for service in run.facts.planned():
        try:
            if run.facts.plan(service).needs_record:
                names_.append(service.name)
        except StageFailed:
            continue
    return names_


def record(run: Run) -> None:
    published = published_now(run)
    if not published:
        print("commit-hash: nothing newly published to record")
        return
    record_on_remote(run, published)


def record_on_remote(run: Run, published: dict[str, Record]) -> None:
    remote = run.remote
    services = {service.name: service for service in run.catalogue.services}
    upstream_now = {}
    for name in published:
        try:
            upstream_now[name] = run.facts.upstream_now(services[name])
        except StageFailed as error:
            run.ledger.fail(name, names.COMMIT_HASH, f"not recorded, upstream cannot be checked: {error}")
    parent, pushed = remote.start, None
    for _ in range(PUSH_ATTEMPTS):
        records_there = remote.records(parent)
        to_write = {}
        for name in upstream_now:
            reason = decide_stale.superseded_by(published[name].commit, upstream_now[name],
                                                services[name].published, records_there.get(name), published[name])
            if reason is None:
                to_write[name] = published[name]
            elif not run.ledger.outcome(name).superseded:
                run.ledger.superseded(name, reason)
        content, written = rewrite(remote.text(parent), to_write)
        if not written:
            print(f"commit-hash: {remote.remote} {remote.branch} has nothing new to record")
            break
        message = f"Record published upstream commits {SKIP_CI}\n\n" + "\n".join(
            f"{name}: {to_write[name].commit} (build inputs {to_write[name].inputs})" for name in written)
        commit = remote.commit(parent, content, message)
        if remote.push(commit):
            pushed = commit
            for name in written:
                run.ledger.recorded(name)
                print(f"commit-hash: recorded {name} at {to_write[name].commit}")
            print(f"commit-hash: pushed {commit[:12]} to {remote.remote} {remote.branch}")
            break
        # Another pipeline pushed first: apply this run's records onto its head.
        parent = remote.head()
        print(f"commit-hash: {remote.remote} {remote.branch} moved to {parent[:12]}; recording on top of it")
    else:
        raise GitError(f"{remote.remote} {remote.branch} kept moving; gave up after {PUSH_ATTEMPTS} pushes")
    left = remote.catch_up(pushed or parent)
    if left:
        print(f"commit-hash: the checkout was left as it was ({left}); pull to catch up")


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _same_record(entry: Mapping[str, Any], record: Record) -> bool:
    return (entry.get("commit") == record.commit and entry.get("inputs") == record.inputs
            and dict(entry.get("bases") or {}) == dict(record.bases))


def _take_trailing_comment(node: object) -> CommentToken | None:
    """Detach the full-line comments ruamel keeps after a mapping's last
    value (often the heading of the next service), so that a key added at the
    end goes above them rather than below. A comment on the value's own line
    stays where it is."""
    while isinstance(node, (CommentedMap, CommentedSeq)) and len(node):
        last = next(reversed(node)) if isinstance(node, CommentedMap) else len(node) - 1
        if isinstance(node[last], (CommentedMap, CommentedSeq)) and len(node[last]):
            node = node[last]
            continue
        slot = 2 if isinstance(node, CommentedMap) else 0
        token = (node.ca.items.get(last) or [None] * 4)[slot]
        if token is None:
            return None
        same_line, _, following = token.value.partition("\n")
        if not following.strip():
            return None
        token.value = same_line + "\n"
        return CommentToken("\n" + following, token.start_mark)
    return None


# A document start marker before any content, as yamllint asks for.
DOCUMENT_START = re.compile(r"\A(?:[ \t]*(?:#[^\n]*)?\n)*---[ \t]*(?:#[^\n]*)?(?:\n|\Z)")


def rewrite(content: bytes, published: dict[str, Record]) -> tuple[bytes, list[str]]:
    """The catalogue file's bytes with the records written in (see
    ``with_published``), its byte-order mark and line endings kept."""
    bom = codecs.BOM_UTF8 if content.startswith(codecs.BOM_UTF8) else b""
    text = content[len(bom):].decode("utf-8")
    crlf = "\r\n" in text
    new_text, written = with_published(text.replace("\r\n", "\n") if crlf else text, published)
    if not written:
        return content, []
    return bom + (new_text.replace("\n", "\r\n") if crlf else new_text).encode("utf-8"), written


def with_published(text: str, published: dict[str, Record]) -> tuple[str, list[str]]:
    """``text`` of a catalogue with each service's record written into its
    ``published`` field, keeping comments, order and quoting of everything
    else; and the names it wrote (services the text lacks, or that already
    hold the same record, are left out)."""
    # What comes up to a document start marker is kept as it is: the round
    # trip would drop the marker and the comments above it.
    start = DOCUMENT_START.match(text)
    prelude, text = (text[:start.end()], text[start.end():]) if start else ("", text)
    yaml = _yaml()
    document = yaml.load(text)
    services = document.get("services") or {}
    written = []
    for name, record in published.items():
        settings = services.get(name)
        if not isinstance(settings, dict):
            continue
        entry = settings.get("published")
        if entry is not None and _same_record(entry, record):
            continue
        trailing = None
        if entry is None:
            trailing = _take_trailing_comment(settings)
            entry = settings["published"] = CommentedMap()
        entry["commit"] = record.commit
        entry["inputs"] = record.inputs
        if record.bases:
            entry["bases"] = CommentedMap(record.bases)
        else:
            entry.pop("bases", None)
        if trailing is not None:
            holder = entry["bases"] if record.bases else entry
            holder.ca.items[next(reversed(holder))] = [None, None, trailing, None]
        written.append(name)
    if not written:
        return text, []
    stream = io.StringIO()
    yaml.dump(document, stream)
    return prelude + stream.getvalue(), written

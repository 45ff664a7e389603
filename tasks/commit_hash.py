"""commit-hash: records in services.yml the upstream commits whose index is
now published, as one ``[skip ci]`` commit pushed to the remote, so the next
run has nothing to do for them.

Only what the registry shows as fully published is recorded; a service that
failed keeps its previous record. The commit is made and pushed before the
checkout is touched, so a run killed at any point leaves either the remote
with the record or nothing to undo. When the remote has moved on (another
pipeline pushed first), this run's records are applied again onto the new
head, never reverting what the other recorded. Over https the push
authenticates with PRIVACY_OCI_GIT_TOKEN (see ``tasks.git``).

The records are written into the catalogue's text in a round trip that
keeps every comment, the order and the quoting of everything else.
"""
from __future__ import annotations

import io
from operator import attrgetter

from doit.exceptions import TaskFailed
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.tokens import CommentToken

from . import git, graph, names
from .catalogue import Record
from .errors import StageFailed
from .git import GitError
from .pipeline import Pipeline

# GitLab skips pipelines for pushes whose commit message contains this.
SKIP_CI = "[skip ci]"
PUSH_ATTEMPTS = 5
REJECTED_BECAUSE_REMOTE_MOVED = ("non-fast-forward", "fetch first", "[rejected]", "stale info")


def tasks(pipeline: Pipeline):
    yield {
        "basename": names.COMMIT_HASH,
        "doc": "record the published upstream commits in services.yml and push a [skip ci] commit",
        "actions": [(record, [pipeline])],
        # After every index push, whatever its outcome: a failed service must
        # not keep the others from being recorded.
        "task_dep": [names.push_manifest_task(s.name) for s in pipeline.catalogue.services],
        "uptodate": [graph.uptodate(pipeline, attrgetter("needs_record"))],
        "verbosity": 2,
    }


def published_now(pipeline: Pipeline) -> dict[str, Record]:
    """Services not yet recorded whose index the registry now holds, with the
    record to write."""
    published = {}
    for service in pipeline.catalogue.services:
        try:
            plan = pipeline.facts.plan(service)
        except StageFailed:
            continue
        if not plan.recorded and pipeline.facts.index_published(service, plan.commit, plan.inputs):
            published[service.name] = plan.record
    return published


def record(pipeline: Pipeline):
    try:
        published = published_now(pipeline)
        if not published:
            print("commit-hash: nothing newly published to record")
            return True
        CommitBack(pipeline).record(published)
    except GitError as error:
        return TaskFailed(f"commit-hash: {error}")
    return True


class CommitBack:
    """The git side of commit-hash, on the checkout at the pipeline's root."""

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        settings = pipeline.settings
        self.repository = git.Repository(pipeline.root, settings.environ)
        self.path = str(pipeline.catalogue.path.relative_to(pipeline.root))
        self.remote = settings.git_remote
        self.branch = settings.git_branch or self.repository.current_branch()
        self.credentials = ((git.askpass_helper(pipeline.work_dir), settings.git_user, settings.git_token)
                            if settings.git_token else None)

    def record(self, published: dict[str, Record]) -> None:
        parent = self.repository.head
        pushed = None
        for _ in range(PUSH_ATTEMPTS):
            text = self.repository.show(parent, self.path)
            new_text, written = with_published(text + "\n", published)
            if not written:
                print(f"commit-hash: {self.remote} {self.branch} already records these commits")
                break
            commit = self._commit(parent, new_text, {name: published[name] for name in written})
            if self._push(commit):
                pushed = commit
                for name in written:
                    self.pipeline.ledger.recorded(name)
                    print(f"commit-hash: recorded {name} at {published[name].commit}")
                print(f"commit-hash: pushed {commit[:12]} to {self.remote} {self.branch}")
                break
            # Another pipeline pushed first: apply this run's records onto its head.
            parent = self.repository.fetch(self.remote, self.branch, self.credentials)
            print(f"commit-hash: {self.remote} {self.branch} moved to {parent[:12]}; recording on top of it")
        else:
            raise GitError(f"{self.remote} {self.branch} kept moving; gave up after {PUSH_ATTEMPTS} pushes")
        self._catch_up(pushed or parent)

    def _commit(self, parent: str, text: str, written: dict[str, Record]) -> str:
        message = f"Record published upstream commits {SKIP_CI}\n\n" + "\n".join(
            f"{name}: {record.commit} (build inputs {record.inputs})" for name, record in written.items())
        identity = self.repository.identity(*self.pipeline.settings.git_identity)
        return self.repository.commit_file(parent, self.path, text, message, identity,
                                           self.pipeline.work_dir / "commit-hash")

    def _push(self, commit: str) -> bool:
        """True when pushed, False when the remote moved on; raises otherwise."""
        try:
            self.repository.push(self.remote, commit, self.branch, self.pipeline.settings.git_push_options,
                                 self.credentials)
            return True
        except GitError as error:
            if any(sign in str(error) for sign in REJECTED_BECAUSE_REMOTE_MOVED):
                return False
            raise GitError(f"push to {self.remote} {self.branch} failed: {error}") from None

    def _catch_up(self, commit: str) -> None:
        """Bring the checkout to the pushed commit when that is a fast-forward;
        the remote is the record either way."""
        if self.repository.head == commit:
            return
        try:
            self.repository.fast_forward(commit)
        except GitError as error:
            print(f"commit-hash: the checkout was left as it was ({error}); pull to catch up")


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _same_record(entry, record: Record) -> bool:
    return (entry.get("commit") == record.commit and entry.get("inputs") == record.inputs
            and dict(entry.get("bases") or {}) == dict(record.bases))


def _take_trailing_comment(node):
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


def with_published(text: str, published: dict[str, Record]) -> tuple[str, list[str]]:
    """``text`` of a catalogue with each service's record written into its
    ``published`` field, keeping comments, order and quoting of everything
    else; and the names it wrote (services the text lacks, or that already
    hold the same record, are left out)."""
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
    return stream.getvalue(), written

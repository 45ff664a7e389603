"""commit-hash's round trip of the catalogue: records written in, every
comment, the order and the quoting of everything else kept, and the file's
document marker, byte-order mark and line endings."""
import codecs

import pytest

from sandbox.fault_proxy import FaultProxy
from sandbox.minimal_project import CATALOGUE as GOOD
from tasks.catalogue import Record
from tasks.commit_hash import rewrite, with_published


def test_record_keeps_comments_order_and_quoting():
    text = ("# heading comment\n"
            "image_prefix: 'registry.example.org/p'  # quoted on purpose\n"
            "services:\n"
            "  # first service\n"
            "  a:\n"
            "    upstream: https://x/a\n"
            "    branch: main\n"
            "    platforms:\n"
            "      - linux/amd64   # only amd64\n"
            "  # second service\n"
            "  b:\n"
            "    upstream: \"https://x/b\"\n"
            "    tag: v1\n"
            "    platforms: [linux/amd64]\n"
            "    published:\n"
            "      commit: " + "1" * 40 + "\n"
            "      inputs: " + "2" * 16 + "\n")
    written_text, written = with_published(text, {"a": record("a", "b"), "b": record("c", "d"),
                                                  "gone": record("e", "f")})

    expected = text.replace(
        "      - linux/amd64   # only amd64\n",
        "      - linux/amd64   # only amd64\n    published:\n      commit: " + "a" * 40
        + "\n      inputs: " + "b" * 16 + "\n").replace("1" * 40, "c" * 40).replace("2" * 16, "d" * 16)
    assert written_text == expected
    assert written == ["a", "b"]
    assert with_published(expected, {"a": record("a", "b")}) == (expected, [])


def record(commit_letter, inputs_letter, bases=None):
    return Record(commit_letter * 40, inputs_letter * 16, tuple((bases or {}).items()))


def test_record_writes_base_digests_above_the_next_heading():
    text = GOOD.replace("services:\n", "services:\n  # heading of scribe\n") + "  # heading of the next\n  next:\n    upstream: x\n"
    digest = "sha256:" + "0" * 64
    written_text, _ = with_published(text, {"scribe": record("a", "b", {"alpine:3.20": digest})})
    assert written_text.endswith(
        "    published:\n      commit: " + "a" * 40 + "\n      inputs: " + "b" * 16
        + "\n      bases:\n        alpine:3.20: " + digest + "\n  # heading of the next\n  next:\n    upstream: x\n")


CATALOGUE_WITH_EVERYTHING = """\
# A comment above the document start marker
---
# heading
image_prefix: registry.example.org/p  # trailing comment
services:
  a:
    upstream: https://x/a
    branch: main
    platforms: [linux/amd64]
  # heading of b
  b:
    upstream: https://x/b
    branch: main
    platforms: [linux/amd64]

# A final comment block,
# two lines long.
"""


@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8], ids=["no-bom", "bom"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("marker", [True, False], ids=["marker", "no-marker"])
def test_rewrite_keeps_every_line_in_order_with_its_marker_bom_and_line_endings(bom, newline, marker):
    text = CATALOGUE_WITH_EVERYTHING if marker else CATALOGUE_WITH_EVERYTHING.replace("---\n", "")
    content = bom + text.replace("\n", newline).encode()

    written_content, written = rewrite(content, {"a": record("a", "b"), "b": record("c", "d")})

    assert written == ["a", "b"] and written_content.startswith(bom)
    original = content[len(bom):].decode().splitlines(keepends=True)
    lines = written_content[len(bom):].decode().splitlines(keepends=True)
    assert all(line.endswith(newline) for line in lines)
    assert [line for line in lines if line in original] == original
    added = [line.rstrip() for line in lines if line not in original]
    assert added == ["    published:", "      commit: " + "a" * 40, "      inputs: " + "b" * 16,
                     "    published:", "      commit: " + "c" * 40, "      inputs: " + "d" * 16]
    assert rewrite(written_content, {"a": record("a", "b")}) == (written_content, [])


def test_the_real_record_keeps_the_files_marker_bom_crlf_and_final_comments(sandbox):
    """Through doit and git: the catalogue as the remote holds it after the
    record is the maintainer's file, byte for byte, plus the records."""
    text = sandbox.services_yml()
    styled = (codecs.BOM_UTF8 + ("---\n" + text + "\n# A final comment block,\n# two lines long.\n")
              .replace("\n", "\r\n").encode())
    sandbox.commit_change("services.yml", styled)
    sandbox.fresh_job()

    sandbox.doit()

    after = sandbox.repo.remote_bytes("services.yml")
    assert after.startswith(codecs.BOM_UTF8 + b"---\r\n")
    assert b"\n" not in after.replace(b"\r\n", b"")
    original, lines = styled.split(b"\r\n"), after.split(b"\r\n")
    assert [line for line in lines if line in original] == original
    assert sum(line.strip() == b"published:" for line in lines) == 2
    assert set(sandbox.records()) == {"hello-web", "hello-cli"}


@pytest.mark.long
def test_a_registry_gone_when_commit_hash_asks_fails_cleanly_and_records_nothing(make_sandbox, registry):
    """The registry stops answering once the indexes are out, as commit-hash
    asks it what is published: the run fails naming it, without a traceback,
    and records nothing it could not see."""
    state = {"latest": 0}

    def count_latest(method, path, status):
        if method == "PUT" and path.endswith("/manifests/latest") and status == 201:
            state["latest"] += 1

    def gone_after_the_indexes(method, path):
        return 503 if state["latest"] >= 2 else None

    with FaultProxy(registry.host, fault=gone_after_the_indexes, after=count_latest) as proxy:
        box = make_sandbox(registry_host=proxy.host)
        result = box.doit(check=False)

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "FAILED commit-hash: " in output and "HTTP 503" in output
    assert "Traceback" not in output
    assert box.records() == {}
    assert "commit-hash: " in output.split("privacy-oci summary:")[1]

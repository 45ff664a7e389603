"""commit-hash's round trip of the catalogue: records written in, every
comment, the order and the quoting of everything else kept."""
from sandbox.minimal_project import CATALOGUE as GOOD
from tasks.catalogue import Record
from tasks.commit_hash import with_published


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

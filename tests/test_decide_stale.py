"""The pure decisions: build inputs, stale reasons, and what is pending."""
from tasks import decide_stale as ds
from tasks.catalogue import Record
from tasks.names import INPUTS_ANNOTATION, REVISION_ANNOTATION

COMMIT = "0123456789abcdef0123456789abcdef01234567"
PLATFORMS = ("linux/amd64", "linux/arm64")


def test_own_inputs_digest_follows_dockerfile_platforms_and_args():
    base = ds.own_inputs_digest(b"FROM x\n", PLATFORMS, [("A", "1")])
    assert base == ds.own_inputs_digest(b"FROM x\n", tuple(reversed(PLATFORMS)), [("A", "1")])
    assert len({base,
                ds.own_inputs_digest(b"FROM y\n", PLATFORMS, [("A", "1")]),
                ds.own_inputs_digest(b"FROM x\n", PLATFORMS[:1], [("A", "1")]),
                ds.own_inputs_digest(b"FROM x\n", PLATFORMS, [("A", "2")]),
                ds.own_inputs_digest(b"FROM x\n", PLATFORMS, [])}) == 5


def test_build_inputs_digest_follows_base_image_digests():
    own = ds.own_inputs_digest(b"FROM x\n", PLATFORMS, [])
    assert ds.build_inputs_digest(own, {"x": "sha256:1"}) == ds.build_inputs_digest(own, {"x": "sha256:1"})
    assert ds.build_inputs_digest(own, {"x": "sha256:1"}) != ds.build_inputs_digest(own, {"x": "sha256:2"})


def test_stale_reasons_say_what_moved():
    own, bases = "o" * 16, {"base:1": "sha256:" + "1" * 64}
    inputs = ds.build_inputs_digest(own, bases)
    recorded = Record(COMMIT, inputs, tuple(bases.items()))
    assert ds.stale_reasons(recorded, COMMIT, own, bases) == ()
    assert ds.stale_reasons(None, COMMIT, own, bases) == ("never published",)
    assert ds.stale_reasons(Record("f" * 40, inputs, tuple(bases.items())), COMMIT, own, bases) == (
        "upstream moved ffffffffffff -> 0123456789ab",)
    new_bases = {"base:1": "sha256:" + "2" * 64}
    assert ds.stale_reasons(recorded, COMMIT, own, new_bases) == (
        "base image base:1 changed sha256:111111111111 -> sha256:222222222222",)
    assert ds.stale_reasons(recorded, COMMIT, "p" * 16, bases) == (
        "Dockerfile, platforms, build args or base images changed",)


def test_recorded_needs_both_commit_and_inputs():
    assert ds.is_recorded(Record(COMMIT, "aa"), COMMIT, "aa")
    assert not ds.is_recorded(Record(COMMIT, "aa"), COMMIT, "bb")
    assert not ds.is_recorded(Record("f" * 40, "aa"), COMMIT, "aa")
    assert not ds.is_recorded(None, COMMIT, "aa")


def test_index_matches_only_its_own_build_key():
    annotations = {REVISION_ANNOTATION: COMMIT, INPUTS_ANNOTATION: "aa"}
    assert ds.index_matches(annotations, COMMIT, "aa")
    assert not ds.index_matches(annotations, COMMIT, "bb")
    assert not ds.index_matches(None, COMMIT, "aa")


def test_plan_recorded_service_has_nothing_pending():
    plan = ds.plan("s", COMMIT, "aa", True, PLATFORMS, (), False)
    assert (plan.pending_platforms, plan.needs_source, plan.needs_index, plan.needs_record) == ((), False, False, False)


def test_plan_builds_only_unpublished_platforms():
    plan = ds.plan("s", COMMIT, "aa", False, PLATFORMS, ["linux/amd64"], False)
    assert plan.pending_platforms == ("linux/arm64",)
    assert plan.needs_source and plan.needs_index and plan.needs_record


def test_plan_with_published_index_only_records():
    plan = ds.plan("s", COMMIT, "aa", False, PLATFORMS, [], True)
    assert (plan.pending_platforms, plan.needs_source, plan.needs_index, plan.needs_record) == ((), False, False, True)


def test_newest_tag_compares_the_numbers_in_the_names():
    tags = ["v1.9.2", "v1.10.0", "v1.2.30"]
    assert ds.newest_tag(tags) == "v1.10.0"
    assert ds.newest_tag(tags + ["v1.11.0"]) == "v1.11.0"
    assert ds.newest_tag([]) is None
    # Digit strings, not int(): an upstream's tag may be longer than int() takes.
    huge = "v" + "9" * 5000
    assert ds.newest_tag(["v1.0.0", huge, "v" + "9" * 4999]) == huge
    assert ds.newest_tag(["v01.2.0", "v1.10.0"]) == "v1.10.0"


def test_only_tags_an_image_may_be_named_by_are_usable():
    assert ds.OCI_TAG.fullmatch("v1.2.3") and ds.OCI_TAG.fullmatch("release_2024-01")
    for bad in ("v9.9.9/../../../redlib/manifests/latest", ".hidden", "a" * 129, "v1\n", "-v1"):
        assert not ds.OCI_TAG.fullmatch(bad), bad


def test_superseded_when_upstream_moved_on_or_another_run_recorded_since():
    ours, older, newer = Record(COMMIT, "aa"), Record("e" * 40, "aa"), Record("f" * 40, "bb")
    assert ds.superseded_by(COMMIT, COMMIT, older, older, ours) is None
    assert ds.superseded_by(COMMIT, COMMIT, None, None, ours) is None
    assert ds.superseded_by(COMMIT, COMMIT, older, ours, ours) is None       # an identical run recorded it
    assert ds.superseded_by(COMMIT, "f" * 40, older, older, ours) == "upstream now points at ffffffffffff"
    assert ds.superseded_by(COMMIT, COMMIT, older, newer, ours) == (
        "another run recorded ffffffffffff (build inputs bb) since this run started")
    assert ds.superseded_by(COMMIT, COMMIT, older, None, ours) == (
        "another run recorded the removal of its record since this run started")
    # Going back on purpose: upstream itself points at the older commit now.
    assert ds.superseded_by("e" * 40, "e" * 40, ours, ours, older) is None


def test_own_inputs_follow_the_recipes_ignore_file_and_stay_as_they_were_without_one():
    without = ds.own_inputs_digest(b"FROM x\n", PLATFORMS, [])
    assert without == ds.own_inputs_digest(b"FROM x\n", PLATFORMS, [], True, None)
    assert len({without, ds.own_inputs_digest(b"FROM x\n", PLATFORMS, [], True, b".git\n"),
                ds.own_inputs_digest(b"FROM x\n", PLATFORMS, [], True, b".git\n.gitlab-ci.yml\n")}) == 3

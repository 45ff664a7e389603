"""The names of tasks, tags and platforms."""
from tasks import names

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_platform_names_and_tags():
    assert names.platform_slug("linux/arm64") == "arm64"
    assert names.platform_slug("linux/arm/v7") == "arm-v7"
    assert names.platform_slug("windows/amd64") == "windows-amd64"
    assert names.platform_tag(COMMIT, "fedcba9876543210", "linux/arm/v7") == "build-0123456789ab-fedcba987654-arm-v7"
    assert names.index_tags(COMMIT) == ("0123456789ab", "latest")


def test_index_tags_include_the_tracked_version_before_latest():
    assert names.index_tags(COMMIT, "v1.10.0") == ("0123456789ab", "v1.10.0", "latest")


def test_task_names_of_a_service():
    assert names.fetch_task("scribe") == "fetch-upstream:scribe"
    assert names.build_group("scribe") == "build:scribe"
    assert names.build_task("scribe", "linux/arm/v7") == "build:scribe:arm-v7"
    assert names.push_manifest_task("scribe") == "push-manifest:scribe"
    assert names.verify_task("scribe") == "verify:scribe"
    assert names.cache_repository("r.example/p/scribe", "linux/arm64") == "r.example/p/scribe/cache-arm64"

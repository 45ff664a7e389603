"""How the stages meet doit: which command lines gather facts."""
import pytest

from tasks.graph import needs_facts


@pytest.mark.parametrize("argv, expected", [
    ([], True), (["-n", "4"], True), (["build:scribe"], True), (["run", "verify:scribe"], True),
    (["info", "commit-hash"], True), (["list", "--status"], True), (["list", "-s", "--all"], True),
    (["list", "-sa"], True),
    (["list"], False), (["list", "--all"], False), (["help"], False), (["forget"], False), (["clean"], False),
])
def test_which_commands_gather_the_facts(argv, expected):
    assert needs_facts(argv) is expected

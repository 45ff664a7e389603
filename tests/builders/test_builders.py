"""The builders' common run: which failures are the recipe's (remembered
against its inputs) and which a registry's (not)."""
from __future__ import annotations

import pytest

from tasks.builders import BuildError, RecipeFailed, run

ENV = {"PATH": "/usr/bin:/bin"}


def test_a_failing_build_step_is_the_recipes_failure():
    with pytest.raises(RecipeFailed, match=r"buildah build exited 2: .*make: \*\*\* \[all\] Error 1"):
        run(["sh", "-c", "echo 'make: *** [all] Error 1'; exit 2"], "buildah build", ENV, builds=True)


@pytest.mark.parametrize("said", ["denied: requested access to the resource is denied",
                                  'error parsing HTTP 401 response body: unexpected end of JSON input: ""',
                                  "dial tcp 10.0.0.1:443: i/o timeout",
                                  "toomanyrequests: You have reached your pull rate limit.",
                                  "Close_Fd sealing memfd copy: Device or resource busy"])
def test_a_build_that_fails_for_want_of_a_registry_or_the_builder_is_not_the_recipes(said):
    with pytest.raises(BuildError) as failure:
        run(["sh", "-c", f"echo '{said}'; exit 125"], "buildah build", ENV, builds=True)
    assert not isinstance(failure.value, RecipeFailed)


def test_a_command_that_builds_nothing_never_blames_the_recipe():
    with pytest.raises(BuildError) as failure:
        run(["sh", "-c", "exit 3"], "buildah push", ENV)
    assert not isinstance(failure.value, RecipeFailed)

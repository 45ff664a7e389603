"""The settings from the environment: read once, checked before any work."""
from __future__ import annotations

import re

import pytest

from sandbox.minimal_project import CATALOGUE, assert_stopped_before_any_work, doit_in
from tasks.settings import Settings, SettingsError

BAD_ENVIRONMENTS = [
    ({"PRIVACY_OCI_BUILDER": "kaniko"}, "environment: PRIVACY_OCI_BUILDER='kaniko' is not a builder"),
    ({"PRIVACY_OCI_GIT_BRANCH": "--force"}, "environment: PRIVACY_OCI_GIT_BRANCH='--force' is not a git"),
    ({"PRIVACY_OCI_GIT_REMOTE": "-oProxyCommand=x"}, "environment: PRIVACY_OCI_GIT_REMOTE='-oProxyCommand=x' is not"),
    ({"PRIVACY_OCI_GIT_REMOTE": "https://bot:secret@git.example.org/p.git"},
     "environment: PRIVACY_OCI_GIT_REMOTE: the URL carries user information"),
    ({"PRIVACY_OCI_GIT_PUSH_OPTIONS": "ci.skip,--force"},
     "environment: PRIVACY_OCI_GIT_PUSH_OPTIONS: '--force' is not a push option"),
]


@pytest.mark.parametrize("environment, message", BAD_ENVIRONMENTS)
def test_a_bad_environment_gets_a_precise_message(environment, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_environ(environment)


def test_a_bad_environment_stops_doit_before_any_work(tmp_path):
    environment, message = BAD_ENVIRONMENTS[0]
    assert_stopped_before_any_work(tmp_path, doit_in(tmp_path, CATALOGUE, environment), message)


def test_defaults_and_the_ci_variables_behind_privacy_oci_ones():
    assert Settings.from_environ({}) == Settings(environ={})
    settings = Settings.from_environ({"GITLAB_CI": "true", "CI_REGISTRY_USER": "job", "CI_REGISTRY_PASSWORD": "jobpass",
                                      "PRIVACY_OCI_REGISTRY_USER": "me", "CI_COMMIT_BRANCH": "main",
                                      "PRIVACY_OCI_GIT_PUSH_OPTIONS": " ci.skip , merge_request.create "})
    assert (settings.registry_user, settings.registry_password) == ("me", "jobpass")
    assert settings.git_branch == "main"
    assert settings.git_push_options == ("ci.skip", "merge_request.create")


def test_secrets_are_not_in_the_settings_repr():
    settings = Settings.from_environ({"PRIVACY_OCI_GIT_TOKEN": "t0ken-value", "CI_REGISTRY_PASSWORD": "pa55-value"})
    assert "t0ken-value" not in repr(settings) and "pa55-value" not in repr(settings)

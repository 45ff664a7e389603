"""Which credentials belong to which registry host, from the job's variables
and the standard Docker and containers credential files."""
from __future__ import annotations

import base64
import json

from tasks.registry_auth import Credential, Credentials, host_key, load
from tasks.settings import Settings

GITLAB = {"CI_REGISTRY": "registry.gitlab.example", "CI_SERVER_HOST": "gitlab.example",
          "CI_REGISTRY_USER": "gitlab-ci-token", "CI_REGISTRY_PASSWORD": "job-token"}


def auths(**entries) -> str:
    return json.dumps({"auths": {host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
                                 for host, (user, password) in entries.items()}})


def test_host_keys_drop_schemes_and_docker_hubs_api_path():
    assert host_key("https://index.docker.io/v1/") == "index.docker.io"
    assert host_key("Registry.Example:5000") == "registry.example:5000"
    assert host_key("quay.io/team/") == "quay.io/team"


def test_the_jobs_credentials_belong_to_the_registry_and_to_gitlab_which_issues_its_tokens():
    credentials = load(Settings.from_environ(GITLAB), "registry.gitlab.example")
    for host in ("registry.gitlab.example", "gitlab.example"):
        assert credentials.for_host(host).user == "gitlab-ci-token"
    for host in ("registry-1.docker.io", "auth.docker.io", "quay.io", "evil.example"):
        assert credentials.for_host(host) is None


def test_gitlab_gets_nothing_when_the_images_go_to_another_registry():
    credentials = load(Settings.from_environ(GITLAB), "registry.other.example")
    assert credentials.for_host("registry.other.example").user == "gitlab-ci-token"
    assert credentials.for_host("gitlab.example") is None


def test_docker_auth_config_names_docker_hub_by_all_its_names(tmp_path):
    environ = {**GITLAB, "HOME": str(tmp_path), "DOCKER_AUTH_CONFIG": auths(**{
        "https://index.docker.io/v1/": ("hubuser", "hubpass"), "quay.io/team": ("teamuser", "teampass")})}
    credentials = load(Settings.from_environ(environ), "registry.gitlab.example")
    for host in ("registry-1.docker.io", "auth.docker.io", "docker.io"):
        assert credentials.for_host(host, "library/node") == Credential("hubuser", "hubpass", "DOCKER_AUTH_CONFIG")
    assert credentials.for_host("quay.io", "team/app").user == "teamuser"
    assert credentials.for_host("quay.io", "other/app") is None


def test_sources_in_order_and_files_in_their_standard_places(tmp_path):
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text(auths(**{"a.example": ("docker", "x"),
                                                           "b.example": ("docker", "x")}))
    (home / ".config" / "containers").mkdir(parents=True)
    (home / ".config" / "containers" / "auth.json").write_text(auths(**{"b.example": ("containers", "x"),
                                                                        "c.example": ("containers", "x")}))
    environ = {"HOME": str(home), "DOCKER_AUTH_CONFIG": auths(**{"c.example": ("env", "x")}),
               "PRIVACY_OCI_REGISTRY_USER": "me", "PRIVACY_OCI_REGISTRY_PASSWORD": "x"}
    credentials = load(Settings.from_environ(environ), "a.example")
    assert [credentials.for_host(h).user for h in ("a.example", "b.example", "c.example")] == \
        ["me", "containers", "env"]
    assert credentials.for_host("a.example").source == "PRIVACY_OCI_REGISTRY_USER"
    assert credentials.for_host("b.example").source == str(home / ".config" / "containers" / "auth.json")


def test_registry_auth_file_and_docker_config_move_the_files(tmp_path):
    (tmp_path / "auth.json").write_text(auths(**{"a.example": ("moved", "x")}))
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text(auths(**{"b.example": ("moved", "x")}))
    environ = {"HOME": str(tmp_path / "nowhere"), "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"),
               "DOCKER_CONFIG": str(tmp_path / "docker")}
    credentials = load(Settings.from_environ(environ), "x.example")
    assert credentials.for_host("a.example").user == credentials.for_host("b.example").user == "moved"


def test_secrets_stay_out_of_reprs():
    assert "hunter2" not in repr(Credential("user", "hunter2", "somewhere"))
    assert "hunter2" not in repr(Settings.from_environ({"DOCKER_AUTH_CONFIG": auths(x=("u", "hunter2"))}))
    assert Credentials().for_host("any.example") is None

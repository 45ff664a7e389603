"""Which credentials belong to which registry host, from the job's variables
and the standard Docker and containers credential files; and, with real
token services, who is shown what."""
from __future__ import annotations

import base64
import json

import pytest

from sandbox.http import LoopbackServer, QuietHandler
from sandbox.registry import LocalRegistry
from sandbox.token_auth import Policy, TokenService
from tasks.registry import RegistryClient, RegistryError
from tasks.registry_auth import Credential, Credentials, host_key, load
from tasks.settings import Settings

GITLAB = {"GITLAB_CI": "true", "CI_REGISTRY": "registry.gitlab.example", "CI_SERVER_HOST": "gitlab.example",
          "CI_REGISTRY_USER": "gitlab-ci-token", "CI_REGISTRY_PASSWORD": "job-token"}


def auths(**entries) -> str:
    return json.dumps({"auths": {host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
                                 for host, (user, password) in entries.items()}})


def test_host_keys_drop_schemes_and_docker_hubs_api_path():
    assert host_key("https://index.docker.io/v1/") == "index.docker.io"
    assert host_key("Registry.Example:5000") == "registry.example:5000"
    assert host_key("quay.io/team/") == "quay.io/team"


def test_the_jobs_credentials_belong_to_its_registry_whose_tokens_gitlab_issues():
    credentials = load(Settings.from_environ(GITLAB), "registry.gitlab.example")
    assert credentials.for_host("registry.gitlab.example").user == "gitlab-ci-token"
    assert credentials.realm_of("registry.gitlab.example", "gitlab.example")
    for host in ("gitlab.example", "registry-1.docker.io", "auth.docker.io", "quay.io", "evil.example"):
        assert credentials.for_host(host) is None
    assert not credentials.realm_of("evil.example", "gitlab.example")
    assert credentials.realm_of("registry-1.docker.io", "auth.docker.io")        # as Docker Hub documents
    assert credentials.realm_of("registry.example.org:5000", "registry.example.org")


def test_the_jobs_credentials_stay_with_its_registry_whatever_the_image_prefix_says():
    assert load(Settings.from_environ(GITLAB), "registry.other.example").for_host("registry.other.example") is None
    own = load(Settings.from_environ({**GITLAB, "PRIVACY_OCI_REGISTRY_USER": "me", "PRIVACY_OCI_REGISTRY_PASSWORD": "x"}),
               "registry.other.example")
    assert own.for_host("registry.other.example").user == "me" and own.for_host("registry.gitlab.example") is None


def test_the_dependency_proxys_credentials_belong_to_its_server_only():
    settings = Settings.from_environ({"GITLAB_CI": "true", "CI_DEPENDENCY_PROXY_SERVER": "gitlab.example.org:443",
                                      "CI_DEPENDENCY_PROXY_USER": "gitlab-ci-token",
                                      "CI_DEPENDENCY_PROXY_PASSWORD": "proxy-secret",
                                      "PRIVACY_OCI_DOCKER_HUB": "gitlab.example.org:443/group/dependency_proxy/containers"})
    credentials = load(settings, "registry.example.org")
    assert credentials.for_host("gitlab.example.org:443").password == "proxy-secret"
    assert credentials.for_host("registry-1.docker.io") is None and credentials.for_host("gitlab.example.org") is None
    assert "proxy-secret" not in repr(settings)


def test_a_docker_hub_mirror_must_be_a_registry_path(tmp_path):
    with pytest.raises(Exception, match="PRIVACY_OCI_DOCKER_HUB is not a registry path"):
        Settings.from_environ({"PRIVACY_OCI_DOCKER_HUB": "https://gitlab.example.org/x y"})


def test_base_images_named_through_docker_hub_come_through_the_mirror_for_lookups_and_builds(make_sandbox, hub,
                                                                                              client):
    """A recipe written for a mirror (FROM ${DOCKER_HUB}/library/…) with
    PRIVACY_OCI_DOCKER_HUB set: the Docker Hub stand-in plays GitLab's
    Dependency Proxy here; the lookup and the build both go there."""
    recipe = 'ARG DOCKER_HUB=docker.io\nFROM ${DOCKER_HUB}/library/busybox:latest\nCMD ["true"]\n'
    box = make_sandbox(dockerfile=recipe, names=("hello-cli",))
    box.env["PRIVACY_OCI_DOCKER_HUB"] = hub.host
    box.doit()
    recorded = box.repo.remote_file("services.yml")
    assert f"{hub.host}/library/busybox:latest: sha256:" in recorded
    assert client.manifest(f"{box.prefix}/hello-cli", "latest") is not None


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


# With real servers: token realms that record every credential they are shown.

def test_a_run_shows_docker_hub_nothing_and_gitlab_the_jobs_credentials(sandbox, hub, gitlab):
    hub_before, gitlab_before = len(hub.tokens.credentials), len(gitlab.tokens.credentials)

    sandbox.doit()

    assert hub.tokens.credentials[hub_before:] == []            # base images: asked anonymously
    assert hub.tokens.authorizations[hub_before:] == [] or all(
        not header for header in hub.tokens.authorizations)
    shown = set(gitlab.tokens.credentials[gitlab_before:])
    assert shown == {("gitlab-ci-token", gitlab.job_token)}      # the project's registry: the job's own


def test_credentials_docker_hub_does_not_know_are_refused_and_named(sandbox, hub):
    """Credentials configured for the hub are sent to its token service (on
    another host, as auth.docker.io is: paired with the hub as Docker Hub
    documents, here by PRIVACY_OCI_TOKEN_SERVICES); as Docker Hub does, it
    answers 401 to ones it does not know, and the run says whose they were,
    not what they are."""
    realm_host = hub.token_service.server.host
    sandbox.env["DOCKER_AUTH_CONFIG"] = auths(**{hub.host: ("gitlab-ci-token", "leaked-job-token")})
    sandbox.env["PRIVACY_OCI_TOKEN_SERVICES"] = f"{hub.host}={realm_host}"

    result = sandbox.doit(check=False)

    assert result.returncode != 0
    assert f"its token service {realm_host} refused the credentials from DOCKER_AUTH_CONFIG" in result.stderr
    assert ("gitlab-ci-token", "leaked-job-token") in hub.tokens.credentials
    assert "leaked-job-token" not in result.stdout + result.stderr


@pytest.fixture
def registry_with_a_realm_elsewhere(tmp_path):
    """A registry on 127.0.0.1 whose token service is on 127.0.0.3, and
    which gives nothing to anonymous requests."""
    policy = Policy(users={"maintainer": "secret-password"}, grants={"maintainer": {"*": {"pull", "push"}}})
    with TokenService(tmp_path / "tokens", policy, "elsewhere", "elsewhere-issuer", address="127.0.0.3") as tokens, \
            LocalRegistry(tmp_path / "registry", token_auth=tokens.registry_auth) as registry:
        yield registry, tokens


def test_a_token_service_on_another_host_gets_the_registrys_credentials_only_if_paired_with_it(
        registry_with_a_realm_elsewhere):
    registry, tokens = registry_with_a_realm_elsewhere
    maintainer = Credential("maintainer", "secret-password", "test")

    unpaired = RegistryClient(Credentials({registry.host: maintainer}))
    with pytest.raises(RegistryError, match=f"HTTP 401 .its token was asked for anonymously: its token service "
                                            f"{tokens.server.host} is not one {registry.host}'s credentials go to."):
        unpaired.manifest(f"{registry.host}/some/image", "latest")
    assert tokens.tokens.credentials == []

    paired = RegistryClient(Credentials({registry.host: maintainer}, realms={registry.host: {tokens.server.host}}))
    assert paired.manifest(f"{registry.host}/some/image", "latest") is None     # let in: the image is not there
    assert tokens.tokens.credentials == [("maintainer", "secret-password")]


def test_a_registry_that_names_gitlabs_token_service_gets_no_token_made_with_the_jobs_credentials(gitlab, tmp_path):
    """A registry the run is sent to (a base image's, say) answers with
    GitLab's own realm and a scope of its choosing: the job's credentials
    belong to the job's registry, and GitLab's token service sees none."""
    asked = []

    class Impostor(QuietHandler):
        def do_GET(self):
            asked.append(self.headers.get("Authorization"))
            challenge = (f'Bearer realm="{gitlab.url}/jwt/auth",service="container_registry",'
                         f'scope="repository:{gitlab.project_path}:pull,push"')
            self.reply(401, b"", {"WWW-Authenticate": challenge})
        do_HEAD = do_GET

    settings = Settings.from_environ({**gitlab.job_env(), "DOCKER_AUTH_CONFIG": ""})
    credentials = load(settings, gitlab.registry.host)
    seen = len(gitlab.tokens.credentials)
    with LoopbackServer(Impostor, address="127.0.0.4") as impostor:
        with pytest.raises(RegistryError):
            RegistryClient(credentials).manifest(f"{impostor.host}/library/busybox", "latest", head=True)
    assert gitlab.tokens.credentials[seen:] == []           # asked anonymously, if at all
    assert all(not header or not header.startswith("Basic") for header in asked)
    assert credentials.for_host(gitlab.registry.host).password == gitlab.job_token

"""buildah, as a CI job runs it, against the two token-auth registries: it
builds FROM the Docker Hub stand-in anonymously, and pushes to the project
registry with the job's credentials, which belong to that host only."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests

from sandbox.buildah_store import BuildahStore


@pytest.fixture(scope="module")
def job_buildah(buildah, gitlab):
    """A job's buildah, logged in to the project registry as
    ``buildah login -u $CI_REGISTRY_USER --password-stdin $CI_REGISTRY``."""
    buildah("login", "--tls-verify=false", "--username", gitlab.registry_user, "--password-stdin",
            gitlab.registry.host, input=gitlab.registry_password)
    return buildah


@pytest.fixture(scope="module")
def built(job_buildah, hub, hub_base, tmp_path_factory):
    """An image built FROM the hub's base, with what the hub's token
    service was shown and asked during the build."""
    context = tmp_path_factory.mktemp("context")
    (context / "Dockerfile").write_text(f"FROM {hub_base}\nCOPY message.txt /message.txt\n")
    (context / "message.txt").write_text("hello\n")
    seen = {name: len(getattr(hub.tokens, name)) for name in ("credentials", "authorizations", "scopes")}
    job_buildah("build", "--tls-verify=false", "--platform", "linux/amd64", "--tag", "localhost/app:test",
                str(context))
    return SimpleNamespace(image="localhost/app:test",
                           **{name: getattr(hub.tokens, name)[count:] for name, count in seen.items()})


def test_a_build_pulls_the_hub_base_anonymously_though_the_job_is_logged_in(built):
    assert "repository:library/busybox:pull" in built.scopes   # the hub's realm was asked
    assert built.credentials == [] and built.authorizations == []


def test_the_hub_refuses_the_job_credentials_with_401_and_records_them(hub, hub_base, gitlab, tmp_path):
    fresh = BuildahStore(tmp_path)
    try:
        pulled = fresh("pull", "--tls-verify=false", "--creds",
                       f"{gitlab.registry_user}:{gitlab.registry_password}", hub_base, check=False)
    finally:
        fresh.remove()
    assert pulled.returncode != 0
    assert "unable to retrieve auth token: invalid username/password" in pulled.stderr
    assert (gitlab.registry_user, gitlab.registry_password) in hub.tokens.credentials


def test_buildah_pushes_to_the_project_registry_through_token_auth(job_buildah, built, gitlab, tmp_path):
    image = f"{gitlab.job_env()['CI_REGISTRY_IMAGE']}/app"
    seen = len(gitlab.tokens.credentials)
    job_buildah("push", "--tls-verify=false", "--digestfile", str(tmp_path / "digest"), built.image,
                f"docker://{image}:latest")
    assert (gitlab.registry_user, gitlab.registry_password) in gitlab.tokens.credentials[seen:]

    repository = image.split("/", 1)[1]
    token = requests.get(f"{gitlab.url}/jwt/auth", auth=(gitlab.registry_user, gitlab.registry_password),
                         params={"service": "container_registry", "scope": f"repository:{repository}:pull"},
                         timeout=10).json()["token"]
    manifest = requests.head(f"http://{gitlab.registry.host}/v2/{repository}/manifests/latest", timeout=10,
                             headers={"Authorization": f"Bearer {token}",
                                      "Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert manifest.status_code == 200
    assert manifest.headers["Docker-Content-Digest"] == (tmp_path / "digest").read_text().strip()

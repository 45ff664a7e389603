"""The project registry wants Bearer tokens from GitLab's realm, and the
realm hands them out by policy, as on gitlab.com."""
from __future__ import annotations

import re

import jwt
import requests

from sandbox.token_auth import Policy, TokenIssuer


def challenge(response: requests.Response) -> dict[str, str]:
    scheme, _, parameters = response.headers["WWW-Authenticate"].partition(" ")
    assert scheme == "Bearer"
    return dict(re.findall(r'(\w+)="([^"]*)"', parameters))


def token(realm: str, service: str, scope: str, auth=None) -> str:
    response = requests.get(realm, params={"service": service, "scope": scope}, auth=auth, timeout=10)
    response.raise_for_status()
    return response.json()["token"]


def test_the_registry_wants_a_token_from_the_realm_and_trusts_only_the_realm(gitlab, tmp_path):
    tags = f"http://{gitlab.registry.host}/v2/{gitlab.project_path}/app/tags/list"
    refused = requests.get(tags, timeout=10)
    assert refused.status_code == 401
    asked = challenge(refused)
    assert asked == {"realm": f"{gitlab.url}/jwt/auth", "service": "container_registry",
                     "scope": f"repository:{gitlab.project_path}/app:pull"}

    granted = token(asked["realm"], asked["service"], asked["scope"],
                    auth=(gitlab.registry_user, gitlab.registry_password))
    answered = requests.get(tags, headers={"Authorization": f"Bearer {granted}"}, timeout=10)
    assert answered.status_code == 404 and answered.json()["errors"][0]["code"] == "NAME_UNKNOWN"

    # Same issuer and service, another key: the registry checks x5c against its bundle.
    forger = TokenIssuer(tmp_path, Policy(), service="container_registry", issuer="gitlab-issuer")
    forged = forger.issue("gitlab-ci-token", [{"type": "repository", "actions": ["pull"],
                                               "name": f"{gitlab.project_path}/app"}])
    refused = requests.get(tags, headers={"Authorization": f"Bearer {forged}"}, timeout=10)
    assert refused.status_code == 401 and challenge(refused)["error"] == "invalid_token"


def test_the_realm_refuses_wrong_credentials_with_401_and_records_them(gitlab):
    seen = len(gitlab.tokens.credentials)
    response = requests.get(f"{gitlab.url}/jwt/auth", auth=("gitlab-ci-token", "glcbt-wrong"), timeout=10,
                            params={"service": "container_registry",
                                    "scope": f"repository:{gitlab.project_path}:pull"})
    assert response.status_code == 401
    assert gitlab.tokens.credentials[seen:] == [("gitlab-ci-token", "glcbt-wrong")]
    assert gitlab.tokens.authorizations[-1].startswith("Basic ")


def test_the_realm_grants_the_job_its_own_project_only_and_anonymous_nothing(gitlab):
    realm, service = f"{gitlab.url}/jwt/auth", "container_registry"
    scopes = [f"repository:{gitlab.project_path}/app:pull,push", "repository:other/project:pull"]
    response = requests.get(realm, params={"service": service, "scope": scopes}, timeout=10,
                            auth=(gitlab.registry_user, gitlab.registry_password))
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    assert claims["sub"] == "gitlab-ci-token" and claims["aud"] == service
    assert claims["access"] == [{"type": "repository", "name": f"{gitlab.project_path}/app",
                                 "actions": ["pull", "push"]}]

    seen = len(gitlab.tokens.authorizations)
    anonymous = token(realm, service, scopes[0])
    assert jwt.decode(anonymous, options={"verify_signature": False})["access"] == []
    assert len(gitlab.tokens.authorizations) == seen
    pushed = requests.post(f"http://{gitlab.registry.host}/v2/{gitlab.project_path}/app/blobs/uploads/",
                           headers={"Authorization": f"Bearer {anonymous}"}, timeout=10)
    assert pushed.status_code == 401 and challenge(pushed)["error"] == "insufficient_scope"

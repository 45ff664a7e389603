"""A Docker-registry token service, as the Distribution token specification
describes it: a client that a registry answered 401 ``Bearer realm=…``
asks the realm ``GET ?service=…&scope=repository:NAME:ACTIONS`` (anonymously
or with Basic credentials) and gets a JWT that the registry trusts because
its header carries (``x5c``) a certificate from the registry's
``rootcertbundle``. It records every credential it is shown."""
from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from fnmatch import fnmatchcase
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .http import Closing, LoopbackServer, QuietHandler
from .registry import TokenAuth

LIFETIME = 300  # seconds; the spec asks for at least 60


@dataclass
class Policy:
    """Who may do what: ``users`` maps a name to its password, ``grants`` a
    name to {repository pattern (fnmatch, ``*`` crosses ``/``): actions};
    with ``anonymous_pull`` anyone may pull any repository."""
    users: dict[str, str] = field(default_factory=dict)
    grants: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    anonymous_pull: bool = False

    def knows(self, user: str, password: str) -> bool:
        return user in self.users and secrets.compare_digest(self.users[user], password)

    def actions(self, user: str | None, repository: str) -> set[str]:
        allowed = {"pull"} if self.anonymous_pull else set()
        for pattern, actions in self.grants.get(user, {}).items() if user else ():
            if fnmatchcase(repository, pattern):
                allowed |= set(actions)
        return allowed


class TokenIssuer:
    """Signs tokens for ``policy`` with a key made at start, under a
    self-signed certificate written to ``rootcertbundle``. ``answer`` serves
    one realm request on whatever server mounts it; ``credentials`` lists
    every (user, password) and ``authorizations`` every Authorization header
    it was shown, refused ones included, and ``scopes`` every scope asked."""

    def __init__(self, directory: Path, policy: Policy, service: str, issuer: str):
        self.policy = policy
        self.service = service
        self.issuer = issuer
        self.credentials: list[tuple[str, str]] = []
        self.authorizations: list[str] = []
        self.scopes: list[str] = []
        self._key = ec.generate_private_key(ec.SECP256R1())
        certificate = _self_signed(self._key, issuer)
        self.rootcertbundle = Path(directory) / f"{issuer}.pem"
        self.rootcertbundle.parent.mkdir(parents=True, exist_ok=True)
        self.rootcertbundle.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        self._x5c = [base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()]

    def registry_auth(self, realm: str) -> TokenAuth:
        """The settings a registry needs to trust this issuer's tokens."""
        return TokenAuth(realm, self.service, self.issuer, self.rootcertbundle)

    def issue(self, subject: str, access: list[dict], audience: str | None = None) -> str:
        """A signed token granting ``access`` (the claim's entries: type,
        name, actions) to ``subject``."""
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": subject, "aud": audience or self.service,
                  "exp": now + LIFETIME, "nbf": now, "iat": now, "jti": secrets.token_hex(16),
                  "access": access}
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"x5c": self._x5c})

    def answer(self, handler: QuietHandler) -> None:
        """Reply to one realm request: 401 for credentials the policy does
        not know (as Docker Hub does), else a token whose access is the
        requested scopes cut down to what the policy allows."""
        query = parse_qs(urlsplit(handler.path).query)
        requested = " ".join(query.get("scope", [])).split()
        self.scopes.extend(requested)
        authorization = handler.headers.get("Authorization")
        credential = handler.basic_credentials()
        if authorization:
            self.authorizations.append(authorization)
        if credential:
            self.credentials.append(credential)
        if authorization and not (credential and self.policy.knows(*credential)):
            handler.reply(401, b'{"details":"incorrect username or password"}',
                          {"Content-Type": "application/json",
                           "WWW-Authenticate": f'Basic realm="{self.issuer}"'})
            return
        user = credential[0] if credential else None
        access = []
        for scope in requested:
            kind, _, rest = scope.partition(":")
            name, _, wanted = rest.rpartition(":")
            granted = set(wanted.split(",")) & self.policy.actions(user, name) if kind == "repository" else set()
            if granted:
                access.append({"type": kind, "name": name, "actions": sorted(granted)})
        token = self.issue(user or "", access, query.get("service", [None])[0])
        body = {"token": token, "access_token": token, "expires_in": LIFETIME,
                "issued_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        handler.reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


class TokenService(Closing):
    """A token issuer on a loopback server of its own, its realm at
    ``path``: Docker Hub's shape, where auth.docker.io is not the registry's
    host. ``registry_auth`` is what the registry's config needs."""

    def __init__(self, directory: Path, policy: Policy, service: str, issuer: str,
                 address: str = "127.0.0.1", path: str = "/token"):
        self.tokens = TokenIssuer(directory, policy, service, issuer)
        tokens = self.tokens

        class Handler(QuietHandler):
            def do_GET(self):
                if urlsplit(self.path).path == path:
                    tokens.answer(self)
                else:
                    self.reply(404)

        self.server = LoopbackServer(Handler, address)
        self.realm = self.server.url + path
        self.registry_auth = tokens.registry_auth(self.realm)

    def close(self) -> None:
        self.server.close()


def _self_signed(key: ec.EllipticCurvePrivateKey, name: str) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(timezone.utc)
    return (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))

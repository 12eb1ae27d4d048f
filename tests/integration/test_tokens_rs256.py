"""RS256 and ES256 tokens from an identity provider, verified against its JWKS.

The JWKS is served by a real HTTP server on a free loopback port, or read from a file; the app is
built by the same composition-root function `docket api` uses, from settings read from an
environment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from litestar.testing import TestClient

from api.app import create_app
from api.services import Services
from commands.attachments import FileBlobStore
from workers.bootstrap import token_verifier
from workers.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
CERTS = "/realms/city/protocol/openid-connect/certs"
AUDIENCE = "docket"
SECRET = "docket-own-secret-" + "y" * 32
TICKET = {"title": "Broken light", "description": "Dark corner by the park", "category": "lighting"}

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
STRANGER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # not in the JWKS


def public_jwk(key, kid: str, alg: str, use: str = "sig") -> dict:
    algorithm = jwt.algorithms.RSAAlgorithm if alg.startswith("RS") or alg.startswith("RSA") else jwt.algorithms.ECAlgorithm
    return {**algorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": alg, "use": use}


# Keycloak publishes an encryption key beside its signing keys; it must be passed over.
JWKS = {
    "keys": [
        public_jwk(RSA_KEY, "rsa-1", "RS256"),
        public_jwk(EC_KEY, "ec-1", "ES256"),
        public_jwk(RSA_KEY, "enc-1", "RSA-OAEP", use="enc"),
    ]
}


class JWKSServer:
    """A real HTTP server on a free loopback port answering the JWKS, counting the fetches."""

    def __init__(self) -> None:
        outer = self
        self.fetches = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != CERTS:
                    self.send_error(404)
                    return
                outer.fetches += 1
                body = json.dumps(JWKS).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.issuer = f"{self.base}/realms/city"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> JWKSServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def idp() -> Iterator[JWKSServer]:
    with JWKSServer() as server:
        yield server


@contextmanager
def docket_client(app, engine, tmp_path: Path, **env: str) -> Iterator[TestClient]:
    """The API with its token verifier built from these settings, as `docket api` builds it."""
    settings = load_settings({"DOCKET_DATA_DIR": str(tmp_path), **env})
    services = Services(app=app, engine=engine, tokens=token_verifier(settings), blobs=FileBlobStore(tmp_path / "attachments"))
    with TestClient(create_app(services)) as client:
        yield client


@pytest.fixture(scope="module")
def url_client(app, engine, idp, tmp_path_factory) -> Iterator[TestClient]:
    """Keys from the identity provider's URL; Docket's own HS256 tokens accepted as well."""
    env = {
        "DOCKET_JWT_JWKS_URL": idp.base + CERTS,
        "DOCKET_JWT_ISSUER": idp.issuer,
        "DOCKET_JWT_AUDIENCE": AUDIENCE,
        "DOCKET_JWT_SECRET": SECRET,
    }
    with docket_client(app, engine, tmp_path_factory.mktemp("url"), **env) as client:
        yield client


@pytest.fixture(scope="module")
def keycloak_client(app, engine, idp, tmp_path_factory) -> Iterator[TestClient]:
    """Keys from a JWKS file, no secret, and Keycloak's claims mapped to Docket's."""
    data_dir = tmp_path_factory.mktemp("file")
    (data_dir / "jwks.json").write_text(json.dumps(JWKS))
    env = {
        "DOCKET_JWT_JWKS_FILE": str(data_dir / "jwks.json"),
        "DOCKET_JWT_ISSUER": idp.issuer,
        "DOCKET_JWT_AUDIENCE": AUDIENCE,
        "DOCKET_JWT_TENANT_CLAIM": "docket_tenant",
        "DOCKET_JWT_ROLE_CLAIM": "realm_access.roles",
    }
    with docket_client(app, engine, data_dir, **env) as client:
        yield client


def claims(idp: JWKSServer, tenant: str, **overrides) -> dict:
    now = int(time.time())
    base = {"sub": "ann", "tenant": tenant, "role": "manager", "iss": idp.issuer, "aud": AUDIENCE, "iat": now, "exp": now + 300}
    return {key: value for key, value in {**base, **overrides}.items() if value is not None}


def keycloak_claims(idp: JWKSServer, tenant: str, roles: list[str]) -> dict:
    now = int(time.time())
    return {
        "sub": str(uuid.uuid4()),
        "iss": idp.issuer,
        "aud": [AUDIENCE, "account"],
        "typ": "Bearer",
        "azp": "docket-web",
        "iat": now,
        "exp": now + 300,
        "docket_tenant": tenant,
        "realm_access": {"roles": roles},
        "resource_access": {"account": {"roles": ["manage-account"]}},
    }


def rs256(payload: dict, kid: str | None = "rsa-1", key=RSA_KEY) -> str:
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid} if kid else None)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key(payload: dict) -> str:
    """The algorithm-confusion attack: HS256 with the published key as the secret. PyJWT
    refuses to make such a token, so it is made by hand."""
    pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': 'rsa-1'}).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())}"


def tampered(token: str, **changes) -> str:
    header, payload, signature = token.split(".")
    claims_ = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{b64(json.dumps({**claims_, **changes}).encode())}.{signature}"


def test_a_valid_rs256_token_reaches_the_tickets(url_client, idp, tenant):
    response = url_client.get("/api/v1/tickets", headers=bearer(rs256(claims(idp, tenant))))
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 0


def test_an_es256_token_and_dockets_own_hs256_token_are_accepted_beside_it(url_client, idp, tenant):
    es256 = jwt.encode(claims(idp, tenant), EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})
    assert url_client.get("/api/v1/tickets", headers=bearer(es256)).status_code == 200
    own = jwt.encode(claims(idp, tenant), SECRET, algorithm="HS256")
    assert url_client.get("/api/v1/tickets", headers=bearer(own)).status_code == 200


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda idp, t: rs256(claims(idp, t, iss="https://evil.example/realms/city")), "wrong issuer"),
        (lambda idp, t: rs256(claims(idp, t, aud="someone-else")), "wrong audience"),
        (lambda idp, t: rs256(claims(idp, t, iat=int(time.time()) - 3600, exp=int(time.time()) - 600)), "expired"),
        (lambda idp, t: rs256(claims(idp, t, exp=None)), "no 'exp' claim"),
        (lambda idp, t: rs256(claims(idp, t), kid="rotated-away", key=STRANGER_KEY), "unknown key id 'rotated-away'"),
        (lambda idp, t: rs256(claims(idp, t), kid=None), "names no key id"),
        (lambda idp, t: rs256(claims(idp, t), kid="ec-1"), "the key 'ec-1' is for ES256, not RS256"),
        (lambda idp, t: tampered(rs256(claims(idp, t, role="reporter")), role="admin"), "signature does not verify"),
        (lambda idp, t: jwt.encode(claims(idp, t), None, algorithm="none"), "algorithm 'none' is not accepted"),
        (lambda idp, t: hs256_with_public_key(claims(idp, t)), "signature does not verify"),
    ],
    ids=[
        "issuer",
        "audience",
        "expired",
        "no-exp",
        "unknown-kid",
        "no-kid",
        "kid-of-other-alg",
        "tampered",
        "alg-none",
        "hs256-public-key",
    ],
)
def test_a_bad_token_is_401_naming_the_problem(url_client, idp, tenant, make, reason):
    response = url_client.get("/api/v1/tickets", headers=bearer(make(idp, tenant)))
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "unauthorized"
    assert reason in response.json()["message"]


def test_without_a_secret_hs256_is_refused_outright_so_the_public_key_cannot_be_one(keycloak_client, idp, tenant):
    token = hs256_with_public_key(keycloak_claims(idp, tenant, ["manager"]))
    response = keycloak_client.get("/api/v1/tickets", headers=bearer(token))
    assert response.status_code == 401
    assert "algorithm 'HS256' is not accepted here (accepted: RS256, ES256)" in response.json()["message"]


def test_a_keycloak_token_works_with_the_claims_mapped(keycloak_client, idp, tenant, projected):
    reporter = keycloak_claims(idp, tenant, ["default-roles-city", "offline_access", "reporter"])
    opened = keycloak_client.post("/api/v1/tickets", json=TICKET, headers=bearer(rs256(reporter)))
    assert opened.status_code == 201, opened.text
    projected()
    # A reporter lists only the tickets their sub reported, in the tenant of their token.
    listed = keycloak_client.get("/api/v1/tickets", headers=bearer(rs256(reporter))).json()
    assert [t["id"] for t in listed["items"]] == [opened.json()["id"]]
    manager = rs256(keycloak_claims(idp, tenant, ["uma_authorization", "manager"]))
    assert keycloak_client.get(f"/api/v1/tickets/{opened.json()['id']}", headers=bearer(manager)).status_code == 200


def test_a_known_caller_without_the_right_is_403(keycloak_client, idp, tenant):
    reporter = rs256(keycloak_claims(idp, tenant, ["reporter"]))
    opened = keycloak_client.post("/api/v1/tickets", json=TICKET, headers=bearer(reporter))
    response = keycloak_client.patch(f"/api/v1/tickets/{opened.json()['id']}/status", json={"status": "closed"}, headers=bearer(reporter))
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "role_not_allowed"


def test_a_good_token_with_no_docket_role_is_403(keycloak_client, idp, tenant):
    token = rs256(keycloak_claims(idp, tenant, ["default-roles-city", "offline_access"]))
    response = keycloak_client.get("/api/v1/tickets", headers=bearer(token))
    assert response.status_code == 403
    assert "realm_access.roles" in response.json()["message"]


def test_keys_are_fetched_once_and_the_fetch_is_logged(app, engine, tmp_path, caplog):
    with JWKSServer() as idp:
        env = {"DOCKET_JWT_JWKS_URL": idp.base + CERTS, "DOCKET_JWT_ISSUER": idp.issuer, "DOCKET_JWT_AUDIENCE": AUDIENCE}
        with caplog.at_level(logging.INFO, logger="api.auth"), docket_client(app, engine, tmp_path, **env) as client:
            for _ in range(3):
                assert client.get("/api/v1/tickets", headers=bearer(rs256(claims(idp, "city")))).status_code == 200
            # An unknown kid may trigger a refetch, but not one per request.
            for _ in range(3):
                assert client.get("/api/v1/tickets", headers=bearer(rs256(claims(idp, "city"), kid="nope"))).status_code == 401
    assert idp.fetches <= 2
    assert f"fetching signing keys from {idp.base}{CERTS}" in caplog.text
    assert "fetched signing keys rsa-1, ec-1, enc-1" in caplog.text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_jwks_is_401_and_logged_as_a_warning(app, engine, tmp_path, caplog):
    idp_issuer = f"http://127.0.0.1:{free_port()}/realms/city"
    env = {"DOCKET_JWT_JWKS_URL": idp_issuer + "/protocol/openid-connect/certs"}
    with caplog.at_level(logging.INFO, logger="api.auth"), docket_client(app, engine, tmp_path, **env) as client:
        token = rs256({"sub": "ann", "tenant": "city", "role": "manager", "exp": int(time.time()) + 60})
        response = client.get("/api/v1/tickets", headers=bearer(token))
    assert response.status_code == 401
    assert "signing keys could not be fetched" in response.json()["message"]
    assert any(r.levelno == logging.WARNING and "could not fetch signing keys" in r.getMessage() for r in caplog.records)


def test_a_jwks_file_that_is_no_jwks_is_a_settings_error(tmp_path):
    (tmp_path / "jwks.json").write_text("<html>login</html>")
    settings = load_settings({"DOCKET_DATA_DIR": str(tmp_path), "DOCKET_JWT_JWKS_FILE": str(tmp_path / "jwks.json")})
    with pytest.raises(SettingsError, match="DOCKET_JWT_JWKS_FILE: .* is not a usable JWKS"):
        token_verifier(settings)


def test_docket_token_explains_that_tokens_come_from_the_identity_provider(tmp_path):
    (tmp_path / "jwks.json").write_text(json.dumps(JWKS))
    env = {"PATH": "/usr/bin:/bin", "DOCKET_DATA_DIR": str(tmp_path), "DOCKET_JWT_JWKS_FILE": str(tmp_path / "jwks.json")}
    command = [sys.executable, "-m", "workers.cli", "token", "--tenant", "city", "--role", "agent", "--sub", "a1"]
    refused = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "tokens come from the identity provider" in refused.stderr
    issued = subprocess.run(
        command,
        env={**env, "DOCKET_JWT_SECRET": SECRET, "DOCKET_JWT_ISSUER": "https://id.example", "DOCKET_JWT_AUDIENCE": AUDIENCE},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert issued.returncode == 0, issued.stderr
    assert (
        jwt.decode(issued.stdout.strip(), SECRET, algorithms=["HS256"], issuer="https://id.example", audience=AUDIENCE)["role"] == "agent"
    )

"""A small OpenID Connect identity provider on loopback, for the operations page's sign-in: an
authorization endpoint that sends the browser back with a code, a token endpoint that gives a
token only for the code_verifier whose S256 challenge came with the code, and its JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

KID = "test-key-1"


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class IdentityProvider:
    def __init__(self, client_id: str, claims: dict[str, Any], page_origin: str) -> None:
        self.client_id, self.claims, self.page_origin = client_id, claims, page_origin
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, dict[str, str]] = {}
        self.log: list[str] = []  # what happened, in order: "authorized", "token", "refused: <why>"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]}

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        wanted = {"response_type": "code", "client_id": self.client_id, "code_challenge_method": "S256"}
        if any(query.get(name) != value for name, value in wanted.items()) or not query.get("code_challenge"):
            return self._refused("a bad authorization request")
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"challenge": query["code_challenge"], "redirect_uri": query["redirect_uri"]}
        self.log.append("authorized")
        return 302, {"Location": f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"}, None

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        issued = self.codes.pop(form.get("code", ""), None)
        if issued is None or form.get("grant_type") != "authorization_code" or form.get("client_id") != self.client_id:
            return self._refused("an unknown code or client")
        if form.get("redirect_uri") != issued["redirect_uri"] or s256(form.get("code_verifier", "")) != issued["challenge"]:
            return self._refused("a code_verifier that does not match the challenge")
        now = int(time.time())
        claims = {**self.claims, "iss": self.url, "aud": self.client_id, "iat": now, "exp": now + 600}
        self.log.append("token")
        return 200, {}, {"access_token": jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID}), "token_type": "Bearer"}

    def _refused(self, why: str) -> tuple[int, dict[str, str], dict[str, Any]]:
        self.log.append(f"refused: {why}")
        return 400, {}, {"error": "invalid_grant", "error_description": why}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/jwks":
                    self._answer(200, {}, provider.jwks())
                elif url.path == "/authorize":
                    self._answer(*provider.authorize(query))
                else:
                    self._answer(404, {}, {"error": "not_found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                status, headers, answer = provider.token(form) if self.path == "/token" else (404, {}, {"error": "not_found"})
                self._answer(status, {**headers, "Access-Control-Allow-Origin": provider.page_origin}, answer)

            def _answer(self, status: int, headers: dict[str, str], body: dict[str, Any] | None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for name, value in {**headers, "Content-Type": "application/json", "Content-Length": str(len(data))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

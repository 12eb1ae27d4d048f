"""Real servers for the notifier to talk to, in the test process: an HTTP server on loopback that
speaks the WhatsApp Cloud API's and Twilio's request shapes and takes webhooks, and an SMTP server
(aiosmtpd) with STARTTLS, AUTH and implicit TLS. Each records what it receives, checks it the way
the real provider would (a malformed request gets the provider's 400), and fails on demand.

Like a provider that honours idempotency keys, the HTTP server answers a request whose
`Idempotency-Key` it accepted before with that first answer and counts it as a repeat, not a new
message: `accepted()` is what recipients got, `received` every request that arrived. Requests
with one key are answered one after another, as a provider does: a retry that arrives while the
first attempt (which its sender gave up waiting for) is still being answered waits for that answer.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from workers.embedded import free_port
from workers.notifier.webhooks import SIGNATURE_HEADER, verify_signature

WHATSAPP_TOKEN = "wa-test-token"
PHONE_NUMBER_ID = "105500000000001"
TWILIO_SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_TOKEN = "twilio-test-token"
SMS_FROM = "+15005550006"
SMTP_USER, SMTP_PASSWORD = "docket", "mail-secret"
MAIL_FROM = "Docket <notify@city.example>"
WEBHOOK_SECRET = "whsec_0123456789abcdef"
E164_DIGITS = re.compile(r"^[1-9][0-9]{7,14}$")


@dataclass
class Received:
    kind: str  # whatsapp, sms, webhook
    path: str
    headers: dict[str, str]
    body: bytes
    payload: Any
    status: int
    repeat: bool  # an Idempotency-Key answered before
    at: float = field(default_factory=time.monotonic)

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key")

    @property
    def to(self) -> str | None:
        """The recipient as E.164 (WhatsApp sends digits without the +)."""
        try:
            if self.kind == "whatsapp":
                return "+" + self.payload["to"]
            if self.kind == "sms":
                return self.payload["To"]
        except (KeyError, TypeError):
            return None
        return None

    @property
    def text(self) -> str:
        if self.kind == "whatsapp":
            parameters = self.payload["template"].get("components", [{}])[0].get("parameters", [])
            return " | ".join(p["text"] for p in parameters)
        if self.kind == "sms":
            return self.payload["Body"]
        return self.body.decode()

    @property
    def template(self) -> str | None:
        return self.payload["template"]["name"] if self.kind == "whatsapp" else None


class QuietHTTPServer(ThreadingHTTPServer):
    request_queue_size = 256  # a notifier opens many connections at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A notifier killed mid-request breaks its connection: nothing to report."""


@dataclass
class Failure:
    status: int
    retry_after: str | None = None
    body: dict[str, Any] | None = None


class Providers:
    """WhatsApp Cloud API at /v21.0, Twilio at /2010-04-01, webhooks at /hooks/<name>."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.failures: dict[str, deque[Failure]] = {"whatsapp": deque(), "sms": deque(), "webhook": deque()}
        self.answers: dict[str, tuple[int, bytes]] = {}
        self.delay = 0.0  # seconds each request takes, as a real provider's round trip would
        self.lock = threading.Lock()
        self.key_locks: dict[str, threading.Lock] = {}  # one per idempotency key: its requests answered in turn
        self.server = QuietHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="providers", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def webhook_url(self, name: str) -> str:
        return f"{self.base_url}/hooks/{name}"

    def fail(self, kind: str, status: int, times: int = 1, retry_after: str | None = None, body: dict[str, Any] | None = None) -> None:
        with self.lock:
            self.failures[kind].extend(Failure(status, retry_after, body) for _ in range(times))

    def accepted(self, kind: str | None = None, to: str | None = None) -> list[Received]:
        """The messages recipients got: one per idempotency key, whatever was repeated."""
        with self.lock:
            return [r for r in self.received if 200 <= r.status < 300 and not r.repeat and kind in (None, r.kind) and to in (None, r.to)]

    def requests(self, kind: str | None = None, to: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if kind in (None, r.kind) and to in (None, r.to)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        providers = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the client died while sending: nothing arrived
                    self.close_connection = True
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                if providers.delay:
                    time.sleep(providers.delay)
                status, answer, payload, kind, extra = providers.answer(self.path, headers, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer)

        return Handler

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, Any, str, dict[str, str]]:
        key = headers.get("idempotency-key")
        if not key:
            return self._answer(path, headers, body, key)
        with self.lock:
            key_lock = self.key_locks.setdefault(key, threading.Lock())
        with key_lock:
            return self._answer(path, headers, body, key)

    def _answer(self, path: str, headers: dict[str, str], body: bytes, key: str | None) -> tuple[int, bytes, Any, str, dict[str, str]]:
        kind = "whatsapp" if path.startswith("/v21.0/") else "sms" if path.startswith("/2010-04-01/") else "webhook"
        with self.lock:
            if key and key in self.answers:
                status, answer = self.answers[key]
                self.received.append(Received(kind, path, headers, body, _parse(kind, body), status, repeat=True))
                return status, answer, None, kind, {}
            failure = self.failures[kind].popleft() if self.failures[kind] else None
        if failure is not None:
            status, answer = failure.status, json.dumps(failure.body or {"error": {"message": "injected failure", "code": 2}}).encode()
            extra = {"Retry-After": failure.retry_after} if failure.retry_after else {}
        else:
            status, answer = {"whatsapp": self._whatsapp, "sms": self._twilio, "webhook": self._webhook}[kind](path, headers, body)
            extra = {}
        payload = _parse(kind, body)
        with self.lock:
            if key and 200 <= status < 300:
                self.answers[key] = (status, answer)
            self.received.append(Received(kind, path, headers, body, payload, status, repeat=False))
        return status, answer, payload, kind, extra

    def _whatsapp(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if path != f"/v21.0/{PHONE_NUMBER_ID}/messages":
            return 404, _graph_error("Unknown path components", 2500)
        if headers.get("authorization") != f"Bearer {WHATSAPP_TOKEN}":
            return 401, _graph_error("Invalid OAuth access token", 190)
        try:
            request = json.loads(body)
            template = request["template"]
            ok = (
                request["messaging_product"] == "whatsapp"
                and request["type"] == "template"
                and E164_DIGITS.match(request["to"])
                and re.match(r"^[a-z0-9_]+$", template["name"])
                and isinstance(template["language"]["code"], str)
                and all(
                    c["type"] == "body" and all(p["type"] == "text" and p["text"] and "\n" not in p["text"] for p in c["parameters"])
                    for c in template.get("components", [])
                )
            )
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            return 400, _graph_error("(#100) Invalid parameter", 100)
        answer = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": request["to"], "wa_id": request["to"]}],
            "messages": [{"id": f"wamid.{uuid.uuid4().hex}"}],
        }
        return 200, json.dumps(answer).encode()

    def _twilio(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if path != f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json":
            return 404, json.dumps({"code": 20404, "message": "The requested resource was not found", "status": 404}).encode()
        expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if headers.get("authorization") != expected:
            return 401, json.dumps({"code": 20003, "message": "Authenticate", "status": 401}).encode()
        form = _parse("sms", body)
        to = form.get("To", "")
        if not re.match(r"^\+[1-9][0-9]{7,14}$", to) or not form.get("From") or not form.get("Body"):
            return 400, json.dumps({"code": 21211, "message": f"The 'To' number {to} is not a valid phone number.", "status": 400}).encode()
        answer = {"sid": "SM" + uuid.uuid4().hex, "status": "queued", "to": to, "from": form["From"], "body": form["Body"]}
        return 201, json.dumps(answer).encode()

    def _webhook(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if not verify_signature(WEBHOOK_SECRET, headers.get(SIGNATURE_HEADER.lower(), ""), body):
            return 401, b'{"error": "bad signature"}'
        return 200, b'{"ok": true}'

    def __enter__(self) -> Providers:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _parse(kind: str, body: bytes) -> Any:
    if kind == "sms":
        return {k: v[0] for k, v in parse_qs(body.decode()).items()}
    try:
        return json.loads(body)
    except ValueError:
        return None


def _graph_error(message: str, code: int) -> bytes:
    return json.dumps({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "test"}}).encode()


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: Any  # email.message.EmailMessage
    tls: bool
    authenticated: bool

    @property
    def to(self) -> str:
        return self.rcpt_tos[0]

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()

    @property
    def html(self) -> str | None:
        part = self.message.get_body(("html",))
        return part.get_content() if part is not None else None


class MailServer:
    """aiosmtpd on loopback: STARTTLS offered and AUTH (LOGIN/PLAIN) required over it; with
    `implicit_tls`, TLS from the first byte (smtps)."""

    def __init__(self, cert: Path, key: Path, implicit_tls: bool = False) -> None:
        self.messages: list[Mail] = []
        self.reject_next: deque[tuple[int, str]] = deque()
        self.lock = threading.Lock()
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        self.implicit_tls = implicit_tls
        # aiosmtpd knows TLS only when it began it (STARTTLS); an smtps connection is TLS from the start.
        options: dict[str, Any] = {"authenticator": _authenticate, "auth_required": True, "auth_require_tls": not implicit_tls}
        if implicit_tls:
            self.controller = QuietController(self, hostname="127.0.0.1", port=free_port(), ssl_context=tls, **options)
        else:
            self.controller = QuietController(
                self, hostname="127.0.0.1", port=free_port(), tls_context=tls, require_starttls=True, **options
            )

    @property
    def url(self) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        return f"{scheme}://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{self.controller.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        with self.lock:
            if self.reject_next:
                code, text = self.reject_next.popleft()
                return f"{code} {text}"
            message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
            tls = self.implicit_tls or session.ssl is not None
            self.messages.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message, tls, session.authenticated))
        return "250 2.0.0 Ok: queued"

    def to(self, address: str) -> list[Mail]:
        with self.lock:
            return [m for m in self.messages if address in m.rcpt_tos]

    def __enter__(self) -> MailServer:
        self.controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.controller.stop()


class QuietController(Controller):
    def factory(self) -> Any:
        with warnings.catch_warnings():  # aiosmtpd warns of AUTH without STARTTLS, not knowing smtps is all TLS
            warnings.simplefilter("ignore", UserWarning)
            return super().factory()


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (SMTP_USER.encode(), SMTP_PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, its own CA, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "docket test mail")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "mail.pem", directory / "mail.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def eventually(check: Callable[[], Any], timeout: float = 20.0, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(every)


@contextmanager
def provider_servers(directory: Path) -> Iterator[tuple[Providers, MailServer, Path]]:
    cert, key = self_signed(directory)
    with Providers() as providers, MailServer(cert, key) as mail:
        yield providers, mail, cert

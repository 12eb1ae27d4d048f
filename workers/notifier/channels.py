"""The channels: WhatsApp (the Cloud API's template messages) and SMS (Twilio's REST API) here,
email in mail.py, webhooks in webhooks.py. Each sends one message and says how it went:
sent (with the provider's message id), or failed, and whether trying again may help.

Every request carries the delivery's id as `Idempotency-Key`: after a notifier dies between a
provider's acceptance and its own record of it, the restarted one sends the same request again,
and a provider (or a proxy in front of one) that honours the key keeps it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import httpx
import msgspec

from workers.notifier.backoff import parse_retry_after
from workers.settings import NotifySettings

MAX_ERROR = 300  # characters of a provider's error kept on the record
MAX_BODY = 64 * 1024  # bytes of a provider's answer read
# Graph API error codes that a 400 carries for throttling and outages: worth trying again.
WHATSAPP_TRANSIENT = {1, 2, 4, 17, 341, 80007, 130429, 131000, 131016, 131048, 131056}
USER_AGENT = "Docket-Notifier/1"


@dataclass(frozen=True, slots=True)
class Sent:
    provider_message_id: str | None


@dataclass(frozen=True, slots=True)
class Failed:
    error: str
    transient: bool  # a timeout, 5xx, 429: try again; else (other 4xx) dead at once
    retry_after: float | None = None  # seconds the provider asked for


Outcome = Sent | Failed


class Refusal(Exception):
    """A request Docket will not make (a webhook to a private address, a password in clear):
    a permanent failure, whatever is tried again."""


class Channel(Protocol):
    name: str

    async def send(self, delivery_id: UUID, message: Mapping[str, Any]) -> Outcome: ...


def classify(
    response: httpx.Response, body: bytes, provider_id: str | None = None, transient_codes: frozenset[int] = frozenset()
) -> Outcome:
    """2xx sent; 408, 425, 429 and 5xx worth another try (after Retry-After, when given); any other
    answer, a redirect included (never followed), a permanent failure."""
    if 200 <= response.status_code < 300:
        return Sent(provider_id)
    said, code = provider_error(body)
    error = f"HTTP {response.status_code}" + (f": {said}" if said else "")
    transient = response.status_code in (408, 425, 429) or response.status_code >= 500 or code in transient_codes
    if 300 <= response.status_code < 400:
        error += " (redirects are not followed)"
    return Failed(error[:MAX_ERROR], transient, parse_retry_after(response.headers.get("retry-after")) if transient else None)


def provider_error(body: bytes) -> tuple[str, int | None]:
    """What a provider said went wrong: Graph's {"error": {"message", "code"}}, Twilio's
    {"message", "code"}, else the start of the body."""
    try:
        answer = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body[:200].decode("utf-8", "replace").strip(), None
    if isinstance(answer, dict):
        inner = answer.get("error") if isinstance(answer.get("error"), dict) else answer
        message, code = inner.get("message"), inner.get("code")
        if isinstance(message, str):
            number = code if isinstance(code, int) and not isinstance(code, bool) else None
            return (f"{message} (code {number})" if number is not None else message), number
    return body[:200].decode("utf-8", "replace").strip(), None


async def read_limited(response: httpx.Response, limit: int = MAX_BODY) -> bytes:
    """At most `limit` bytes of the answer: a receiver cannot make the notifier hold more."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def json_field(body: bytes, *path: str | int) -> str | None:
    """A string deep in a JSON answer, or None wherever the path does not lead to one."""
    try:
        value: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return value if isinstance(value, str) else None


class WhatsApp:
    """POST {url}/{phone_number_id}/messages with a bearer token: a template message, its body
    parameters filled in. Templates must be approved by Meta under their names."""

    name = "whatsapp"

    def __init__(self, settings: NotifySettings, clients: ProviderClients) -> None:
        self.endpoint = f"{settings.whatsapp_url}/{settings.whatsapp_phone_number_id}/messages"
        self.token = settings.whatsapp_token or ""
        self.clients = clients

    async def send(self, delivery_id: UUID, message: Mapping[str, Any]) -> Outcome:
        template: dict[str, Any] = {"name": message["name"], "language": {"code": message["language"]}}
        if message.get("parameters"):
            template["components"] = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in message["parameters"]]}]
        body = {"messaging_product": "whatsapp", "to": message["to"].lstrip("+"), "type": "template", "template": template}
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": str(delivery_id), "User-Agent": USER_AGENT}
        async with self.clients.client() as client, client.stream("POST", self.endpoint, json=body, headers=headers) as response:
            answer = await read_limited(response)
        return classify(response, answer, json_field(answer, "messages", 0, "id"), frozenset(WHATSAPP_TRANSIENT))


class SMS:
    """Twilio's REST API (and those compatible with it): POST
    {url}/2010-04-01/Accounts/{sid}/Messages.json, basic auth, form fields To, From and Body."""

    name = "sms"

    def __init__(self, settings: NotifySettings, clients: ProviderClients) -> None:
        sid = settings.sms_account_sid or ""
        self.endpoint = f"{settings.sms_url}/2010-04-01/Accounts/{sid}/Messages.json"
        self.auth = httpx.BasicAuth(sid, settings.sms_auth_token or "")
        self.sender = settings.sms_from or ""
        self.clients = clients

    async def send(self, delivery_id: UUID, message: Mapping[str, Any]) -> Outcome:
        form = {"To": message["to"], "From": self.sender, "Body": message["body"]}
        headers = {"Idempotency-Key": str(delivery_id), "User-Agent": USER_AGENT}
        async with (
            self.clients.client() as client,
            client.stream("POST", self.endpoint, data=form, auth=self.auth, headers=headers) as response,
        ):
            answer = await read_limited(response)
        return classify(response, answer, json_field(answer, "sid"))


class ProviderClients:
    """Connections to the providers the operator configured (trusted URLs: no proxies from the
    environment, no redirects followed), one client per connection, each lent to one request at a
    time. httpx's own pool weighs every connection against every waiting request each time one
    moves, which with dozens of them cost more than the requests; lending whole clients costs a
    queue operation."""

    def __init__(self, settings: NotifySettings) -> None:
        self.timeout = httpx.Timeout(settings.timeout)
        self.tls = ssl.create_default_context()  # one for all: loading the CA store is costly
        self.size = settings.concurrency
        self.idle: asyncio.LifoQueue[httpx.AsyncClient] = asyncio.LifoQueue()  # the most recently used first: its connection is warm
        self.made: list[httpx.AsyncClient] = []

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        if self.idle.empty() and len(self.made) < self.size:
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            client = httpx.AsyncClient(timeout=self.timeout, verify=self.tls, follow_redirects=False, trust_env=False, limits=limits)
            self.made.append(client)
            self.idle.put_nowait(self.made[-1])
        client = await self.idle.get()
        try:
            yield client
        finally:
            self.idle.put_nowait(client)

    async def aclose(self) -> None:
        for client in self.made:
            await client.aclose()

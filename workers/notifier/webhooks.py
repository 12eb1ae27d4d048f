"""Webhooks: the event's JSON, POSTed to the tenant's URL and signed.

`Docket-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the tenant's secret>`:
the receiver recomputes it, compares in constant time and refuses an old t, so a captured request
cannot be replayed later. `Docket-Delivery` (and `Idempotency-Key`) carry the delivery's id, the
same on every attempt: a receiver keeps each once.

Where the request goes is checked as it is sent (see domain/webhook_urls.py): the host name is
resolved here, every address it resolves to must be public (unless the operator allows private
ones), and the connection goes to the address that was checked, the TLS certificate still
verified for the host name. No proxy from the environment, no redirect followed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
import ssl
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx

from domain.webhook_urls import is_public
from workers.notifier.channels import USER_AGENT, Failed, Outcome, Refusal, classify, read_limited
from workers.settings import NotifySettings

SIGNATURE_HEADER = "Docket-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, header: str, body: bytes, now: float | None = None, tolerance: float = 300) -> bool:
    """What a receiver does (and the tests): the signature matches and is recent."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), f"t={timestamp},v1={fields.get('v1', '')}")


class Webhook:
    name = "webhook"

    def __init__(self, settings: NotifySettings) -> None:
        self.allow_private = settings.webhook_allow_private
        self.timeout = settings.timeout
        self.tls = ssl.create_default_context()

    async def send(self, delivery_id: UUID, message: Mapping[str, Any]) -> Outcome:
        url, body = message["url"], message["body"].encode()
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            address = await self.checked_address(host, port)
        except Refusal as error:
            return Failed(str(error), transient=False)
        except OSError as error:
            return Failed(f"cannot resolve {host}: {error}", transient=True)
        literal = f"[{address}]" if address.version == 6 else str(address)
        pinned = parts._replace(netloc=f"{literal}:{port}").geturl()
        headers = {
            "Content-Type": "application/json",
            "Host": parts.netloc.rpartition("@")[2],
            SIGNATURE_HEADER: signature(message["secret"], int(time.time()), body),
            "Docket-Delivery": str(delivery_id),
            "Idempotency-Key": str(delivery_id),
            "User-Agent": USER_AGENT,
        }
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        async with httpx.AsyncClient(
            verify=self.tls, timeout=httpx.Timeout(self.timeout), follow_redirects=False, trust_env=False
        ) as client:
            request = client.build_request("POST", pinned, content=body, headers=headers, extensions=extensions)
            response = await client.send(request, stream=True)
            try:
                answer = await read_limited(response)
            finally:
                await response.aclose()
        return classify(response, answer)

    async def checked_address(self, host: str, port: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """The address to connect to: the first the host resolves to, if every one it resolves
        to may be reached (a name that resolves to a public and a private address is refused)."""
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
        if not addresses:
            raise OSError("no address")
        if not self.allow_private and not all(is_public(a) for a in addresses):
            raise Refusal(
                f"the webhook's host {host} resolves to a private, loopback or link-local address; webhooks go to public"
                " addresses (DOCKET_WEBHOOK_ALLOW_PRIVATE allows private ones)"
            )
        return addresses[0]

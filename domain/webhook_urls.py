"""Which URLs a tenant's webhook may point at.

A webhook makes Docket send a request wherever a tenant's administrator says: aimed at
127.0.0.1, at a cloud's metadata service (169.254.169.254) or at the private network Docket runs
in, it would reach what only Docket should reach (server-side request forgery). So the URL is
http or https with a host and nothing hidden in it, and an address that is not public is
refused: here when the URL names one outright, and again by the notifier for every address the
host name resolves to, when it sends (a name can be made to resolve anywhere). An operator who
does mean a private receiver (a test, an intranet) sets DOCKET_WEBHOOK_ALLOW_PRIVATE.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from domain.errors import Invalid

MAX_URL = 2_048
# Names that mean this machine or a cloud's metadata service, whatever they resolve to.
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "metadata", "metadata.google.internal")
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")


def check_webhook_url(field: str, url: object, allow_private: bool) -> str:
    """The URL, if a webhook may be sent to it; else a 400 naming the field and why."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        raise Invalid(f"{field} is a URL of at most {MAX_URL} characters without spaces.", code="invalid_webhook_url", field=field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Invalid(f"{field} is not a URL.", code="invalid_webhook_url", field=field) from None
    if parts.scheme not in ("https", "http"):
        raise Invalid(f"{field} must be an https:// (or http://) URL.", code="invalid_webhook_url", field=field)
    if not parts.hostname:
        raise Invalid(f"{field} names no host.", code="invalid_webhook_url", field=field)
    if parts.username is not None or parts.password is not None:
        raise Invalid(f"{field} must not carry credentials: the signature authenticates Docket.", code="invalid_webhook_url", field=field)
    if port == 0:
        raise Invalid(f"{field} names port 0.", code="invalid_webhook_url", field=field)
    if parts.fragment:
        raise Invalid(f"{field} must not have a #fragment.", code="invalid_webhook_url", field=field)
    if not allow_private:
        host = parts.hostname.rstrip(".").lower()
        if host in LOCAL_NAMES or host.endswith(LOCAL_SUFFIXES) or _literal_private(host):
            raise Invalid(
                f"{field} points at a private, loopback or link-local address; webhooks go to public addresses"
                " (an operator may allow private ones with DOCKET_WEBHOOK_ALLOW_PRIVATE).",
                code="private_webhook_url",
                field=field,
            )
    return url


def _literal_private(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return _numeric_host(host)
    return not is_public(address)


def _numeric_host(host: str) -> bool:
    """Hosts such as 2130706433, 0x7f.1 or 127.1, which some resolvers read as IPv4 addresses:
    no public service is named so, and they are a known way round address checks."""
    return all(part.isdigit() or part.lower().startswith("0x") for part in host.split("."))


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """An address on the public internet: not loopback, private, link-local (metadata services),
    shared (carrier NAT), multicast, reserved or unspecified; an IPv4-mapped IPv6 address as the
    IPv4 one it maps."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast

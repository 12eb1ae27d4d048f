"""How the operations page signs a person in with an identity provider: the OpenID Connect
authorization-code flow with PKCE, run by the page itself as a public client (no secret)."""

from __future__ import annotations

from urllib.parse import urlsplit

import msgspec


class IdentityProvider(msgspec.Struct, frozen=True, kw_only=True):
    """What the page needs to send a person to the identity provider and trade the code it gets
    back for a token. Public: the page is served to anyone."""

    authorization_endpoint: str
    token_endpoint: str
    client_id: str
    scope: str = "openid"

    @property
    def token_origin(self) -> str:
        """The origin the page's Content-Security-Policy lets it post the code to."""
        parts = urlsplit(self.token_endpoint)
        return f"{parts.scheme}://{parts.netloc}"


class PageConfig(msgspec.Struct, frozen=True):
    """`GET /ops/config.json`: null when tokens are pasted, not fetched from a provider."""

    identity_provider: IdentityProvider | None = None

"""Bearer tokens: HS256 JWTs with the claims sub, tenant, role and optional ward and team."""

from __future__ import annotations

import re
import time

import jwt
from litestar.exceptions import NotAuthorizedException

from domain.permissions import Actor, Role

TENANT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ALGORITHM = "HS256"
DEFAULT_TTL = 30 * 24 * 3600


class TokenVerifier:
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def actor_from_header(self, authorization: str | None) -> Actor:
        if not authorization:
            raise NotAuthorizedException("No credentials: send 'Authorization: Bearer <token>'.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("The Authorization header must be 'Bearer <token>'.")
        return self.actor_from_token(token.strip())

    def actor_from_token(self, token: str) -> Actor:
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], options={"require": ["sub", "tenant", "role"]})
        except jwt.ExpiredSignatureError:
            raise NotAuthorizedException("The token has expired.") from None
        except jwt.InvalidTokenError as error:
            raise NotAuthorizedException(f"The token is not valid: {error}.") from None
        return actor_from_claims(claims)


def actor_from_claims(claims: dict) -> Actor:
    tenant, role, sub = claims.get("tenant"), claims.get("role"), claims.get("sub")
    if not isinstance(tenant, str) or not TENANT.match(tenant):
        raise NotAuthorizedException("The token's tenant must be 1-64 letters, digits, '-' or '_'.")
    if role not in Role._value2member_map_:
        raise NotAuthorizedException(f"The token's role must be one of: {', '.join(Role)}.")
    if not isinstance(sub, str) or not sub:
        raise NotAuthorizedException("The token's sub must name the caller.")
    return Actor(id=sub, tenant=tenant, role=Role(role), ward=claims.get("ward"), team=claims.get("team"))


def issue_token(
    secret: str,
    *,
    tenant: str,
    role: str,
    sub: str,
    ward: str | None = None,
    team: str | None = None,
    ttl: int = DEFAULT_TTL,
) -> str:
    now = int(time.time())
    claims = {"sub": sub, "tenant": tenant, "role": role, "iat": now, "exp": now + ttl}
    if ward:
        claims["ward"] = ward
    if team:
        claims["team"] = team
    actor_from_claims(claims)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)

"""Bearer tokens: JWTs naming the caller (sub), their tenant and role, and optionally ward and team.

HS256 tokens are verified with Docket's secret; RS256 and ES256 tokens from an identity provider
(Keycloak, say) with the key their `kid` names in a JWKS, fetched from a URL or read from a file.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
import msgspec
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from api.storable import WHAT, is_storable
from domain.permissions import Actor, Role

log = logging.getLogger(__name__)

TENANT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ALGORITHM = "HS256"
# Only these are accepted with a key from a JWKS; an HMAC key there would let a token choose
# to be verified with a secret that is published.
ASYMMETRIC = ("RS256", "ES256")
DEFAULT_TTL = 3600
LEEWAY = 30  # seconds of clock difference tolerated between the identity provider and us
# Token checks run on the event loop: a stalled identity provider must not hold it for long.
JWKS_TIMEOUT = 5
VERIFIED_FOR = 60.0  # seconds a verified token is taken again without verifying it
VERIFIED_MAX = 10_000  # tokens remembered per process; the oldest go first


class TokenConfig(msgspec.Struct, frozen=True, kw_only=True):
    secret: str = ""
    jwks_url: str | None = None
    jwks_file: Path | None = None
    issuer: str | None = None
    audience: str | None = None
    tenant_claim: str = "tenant"
    role_claim: str = "role"


class TokenVerifier:
    """Turns a bearer token into an Actor, or refuses it with a 401 that says why.

    A bare string is taken as the HS256 secret.
    """

    def __init__(self, config: TokenConfig | str) -> None:
        self._config = config if isinstance(config, TokenConfig) else TokenConfig(secret=config)
        self._keys = _signing_keys(self._config)
        if not self._config.secret and self._keys is None:
            raise ValueError("Tokens need a secret (HS256) or a JWKS (RS256, ES256) to be verified with.")
        self.algorithms = ((ALGORITHM,) if self._config.secret else ()) + (ASYMMETRIC if self._keys else ())
        self._verified: dict[str, tuple[Actor, float]] = {}  # token: its Actor, and until when
        self._remembering = threading.Lock()  # tokens are verified in threads

    def actor_from_header(self, authorization: str | None) -> Actor:
        if not authorization:
            raise NotAuthorizedException("No credentials: send 'Authorization: Bearer <token>'.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("The Authorization header must be 'Bearer <token>'.")
        return self.actor_from_token(token.strip())

    def known_actor(self, authorization: str | None) -> Actor | None:
        """The Actor of a token verified before and not yet expired, without verifying it again;
        None for any other header (to be verified, and refused or remembered, by actor_from_header)."""
        scheme, _, token = (authorization or "").partition(" ")
        found = self._verified.get(token.strip()) if scheme.lower() == "bearer" else None
        if found is None or found[1] <= time.time():
            return None
        return found[0]

    def actor_from_token(self, token: str) -> Actor:
        claims, algorithm = self._claims(token)
        if algorithm == ALGORITHM:  # Docket's own tokens (`docket token`) carry its claims at the top level
            actor = actor_from_claims(claims)
        else:
            actor = actor_from_claims(claims, tenant_claim=self._config.tenant_claim, role_claim=self._config.role_claim)
        self._remember(token, actor, claims["exp"])
        return actor

    def _remember(self, token: str, actor: Actor, expires: Any) -> None:
        """Until the token expires, or for VERIFIED_FOR seconds, among at most VERIFIED_MAX tokens.
        (A key withdrawn from the identity provider's set goes on verifying for as long as
        PyJWKClient keeps the set it fetched, five minutes: remembering adds at most a minute.)"""
        if not isinstance(expires, int | float):
            return
        with self._remembering:
            while len(self._verified) >= VERIFIED_MAX:
                self._verified.pop(next(iter(self._verified)), None)
            self._verified[token] = (actor, min(float(expires), time.time() + VERIFIED_FOR))

    def _claims(self, token: str) -> tuple[dict[str, Any], str]:
        config = self._config
        try:
            key, algorithm = self._verification_key(jwt.get_unverified_header(token))
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=config.issuer,
                audience=config.audience,
                leeway=LEEWAY,
                # Without a configured audience the aud claim is not ours to judge (Keycloak always sets one).
                options={"require": ["exp"], "verify_aud": config.audience is not None},
            )
        except jwt.PyJWTError as error:
            raise NotAuthorizedException(f"The token is not valid: {self._reason(error)}.") from None
        return claims, algorithm

    def _verification_key(self, header: Mapping[str, Any]) -> tuple[Any, str]:
        """The key and the one algorithm it verifies. The header only says which source to ask;
        the algorithm comes from the source, so a token cannot pick HS256 with a public key."""
        alg, kid = header.get("alg"), header.get("kid")
        if alg == ALGORITHM and self._config.secret:
            return self._config.secret, ALGORITHM
        if alg in ASYMMETRIC and self._keys is not None:
            if not isinstance(kid, str):
                raise jwt.InvalidTokenError("it names no key id (kid)")
            try:
                jwk = self._keys.get_signing_key(kid)
            except jwt.PyJWKClientConnectionError:
                raise jwt.InvalidTokenError("the identity provider's signing keys could not be fetched") from None
            except (jwt.PyJWKClientError, KeyError):
                raise jwt.InvalidTokenError(f"unknown key id {kid!r}") from None
            if jwk.algorithm_name != alg:
                raise jwt.InvalidAlgorithmError(f"the key {kid!r} is for {jwk.algorithm_name}, not {alg}")
            return jwk.key, jwk.algorithm_name
        raise jwt.InvalidAlgorithmError(f"the algorithm {alg!r} is not accepted here (accepted: {', '.join(self.algorithms)})")

    def _reason(self, error: jwt.PyJWTError) -> str:
        match error:
            case jwt.ExpiredSignatureError():
                return "it has expired"
            case jwt.ImmatureSignatureError():
                return "it is not valid yet"
            case jwt.MissingRequiredClaimError():
                return f"it has no {error.claim!r} claim"
            case jwt.InvalidIssuerError():
                return f"wrong issuer, expected {self._config.issuer!r}"
            case jwt.InvalidAudienceError():
                return f"wrong audience, expected {self._config.audience!r}"
            case jwt.InvalidSignatureError():
                return "its signature does not verify"
            case jwt.DecodeError():
                return f"it is not a well-formed JWT ({error})"
        return str(error)


def _signing_keys(config: TokenConfig) -> _IdentityProviderKeys | _FileKeys | None:
    if config.jwks_url:
        return _IdentityProviderKeys(config.jwks_url, timeout=JWKS_TIMEOUT)
    if config.jwks_file:
        return _FileKeys(config.jwks_file)
    return None


class _IdentityProviderKeys(jwt.PyJWKClient):
    """PyJWKClient caches the key set and refetches it for an unknown kid; this logs each fetch
    and reports any failure to get usable keys (unreachable, not JSON, no keys) as a connection error."""

    def fetch_data(self) -> Any:
        log.info("fetching signing keys from %s", self.uri)
        try:
            data = super().fetch_data()
        except (jwt.PyJWTError, ValueError) as error:
            log.warning("could not fetch signing keys from %s: %s", self.uri, error)
            raise jwt.PyJWKClientConnectionError(str(error)) from error
        log.info("fetched signing keys %s from %s", _key_ids(data.get("keys")), self.uri)
        return data


class _FileKeys:
    """A JWKS file, read once at start: restart to take up a new key."""

    def __init__(self, path: Path) -> None:
        try:
            keys = jwt.PyJWKSet.from_json(path.read_text())
        except (OSError, ValueError, jwt.PyJWTError) as error:
            raise ValueError(f"{path} is not a usable JWKS: {error}") from None
        self._keys = {key.key_id: key for key in keys if key.public_key_use in ("sig", None)}
        log.info("read signing keys %s from %s", _key_ids(self._keys), path)

    def get_signing_key(self, kid: str) -> jwt.PyJWK:
        return self._keys[kid]


def _key_ids(keys: Any) -> str:
    return ", ".join(str(key.get("kid") if isinstance(key, dict) else key) for key in keys or ())


def token_expiry(authorization: str | None) -> float | None:
    """When the bearer token of a header that has been verified expires (its exp claim); None if
    it names none that can be read. Not a verification: only for a token already verified."""
    _, _, token = (authorization or "").partition(" ")
    try:
        expires = jwt.decode(token.strip(), options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return None
    return float(expires) if isinstance(expires, int | float) else None


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by name or by dotted path into nested objects (`realm_access.roles`)."""
    if path in claims:  # namespaced claim names such as "https://example.org/tenant" hold dots
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def role_from(value: Any) -> Role | None:
    """The Docket role a claim names; of a list of roles, the first that is a Docket role."""
    for name in value if isinstance(value, list) else [value]:
        if isinstance(name, str) and name in Role._value2member_map_:
            return Role(name)
    return None


def actor_from_claims(claims: Mapping[str, Any], *, tenant_claim: str = "tenant", role_claim: str = "role") -> Actor:
    tenant, role, sub = claim(claims, tenant_claim), role_from(claim(claims, role_claim)), claims.get("sub")
    if not isinstance(tenant, str) or not TENANT.fullmatch(tenant):
        raise NotAuthorizedException(f"The token's tenant ({tenant_claim}) must be 1-64 letters, digits, '-' or '_'.")
    if not isinstance(sub, str) or not sub.strip():
        raise NotAuthorizedException("The token's sub must be a string naming the caller.")
    ward, team = optional_text_claim(claims, "ward"), optional_text_claim(claims, "team")
    if not is_storable(sub):
        raise NotAuthorizedException(f"The token's sub holds {WHAT}.")
    if role is None:
        # The token is good and names the caller: they are known, but hold no Docket role.
        raise PermissionDeniedException(f"The token's role ({role_claim}) must be one of: {', '.join(Role)}.")
    return Actor(id=sub, tenant=tenant, role=role, ward=ward, team=team)


def optional_text_claim(claims: Mapping[str, Any], name: str) -> str | None:
    """A claim that, when present, is one storable string: the actor's ward and team reach queries and events."""
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise NotAuthorizedException(f"The token's {name} must be a string, not {type(value).__name__}.")
    if not is_storable(value):
        raise NotAuthorizedException(f"The token's {name} holds {WHAT}.")
    return value


def issue_token(
    secret: str,
    *,
    tenant: str,
    role: str,
    sub: str,
    ward: str | None = None,
    team: str | None = None,
    ttl: int = DEFAULT_TTL,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "tenant": tenant, "role": role, "iat": now, "exp": now + ttl}
    optional = {"ward": ward, "team": team, "iss": issuer, "aud": audience}
    claims.update({name: value for name, value in optional.items() if value})
    actor_from_claims(claims)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)

"""A verified token is taken again from memory, but never past its expiry, never under another
scheme, and a token that failed is never remembered."""

from __future__ import annotations

import time

import pytest
from litestar.exceptions import NotAuthorizedException

from api.auth import TokenVerifier, issue_token
from domain.permissions import Role

SECRET = "s" * 48


def test_a_verified_token_is_known_until_it_expires_and_no_longer():
    verifier = TokenVerifier(SECRET)
    token = issue_token(SECRET, tenant="city", role="manager", sub="m1", ttl=1)
    header = f"Bearer {token}"
    assert verifier.known_actor(header) is None  # not verified yet
    actor = verifier.actor_from_header(header)
    assert verifier.known_actor(header) == actor
    assert actor.role is Role.MANAGER and actor.tenant == "city"
    time.sleep(max(int(time.time()) + 1 - time.time(), 0) + 0.05)  # past its exp, within the leeway
    assert verifier.known_actor(header) is None


def test_only_a_bearer_header_finds_a_remembered_token():
    verifier = TokenVerifier(SECRET)
    token = issue_token(SECRET, tenant="city", role="manager", sub="m1")
    verifier.actor_from_header(f"Bearer {token}")
    assert verifier.known_actor(f"bearer  {token} ") is not None
    for header in (f"Basic {token}", token, "", None, f"Bearer {token}x"):
        assert verifier.known_actor(header) is None, header


def test_a_token_that_fails_is_not_remembered():
    verifier = TokenVerifier(SECRET)
    forged = issue_token("another-secret-" * 4, tenant="city", role="admin", sub="a1")
    with pytest.raises(NotAuthorizedException):
        verifier.actor_from_header(f"Bearer {forged}")
    assert verifier.known_actor(f"Bearer {forged}") is None

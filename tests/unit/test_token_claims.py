"""Claims a token carries reach events and read models as the actor: a claim that is not a
storable string of the expected shape is a 401 that says which claim, never a 500 later on."""

from __future__ import annotations

import time

import jwt
import pytest
from litestar.exceptions import NotAuthorizedException

from api.auth import TokenVerifier

SECRET = "s" * 40
GOOD = {"sub": "cllr-3", "tenant": "city", "role": "ward_councillor", "exp": int(time.time()) + 3600}


def bearer(**claims) -> str:
    return "Bearer " + jwt.encode({**GOOD, **claims}, SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"sub": "cllr\u00003"}, "sub holds a character that cannot be stored"),
        ({"sub": "cllr\ud8003"}, "sub holds a character that cannot be stored"),
        ({"sub": 42}, "ubject must be a string"),
        ({"sub": "  "}, "sub must be a string"),
        ({"ward": {"id": "w7"}}, "ward must be a string, not dict"),
        ({"ward": ["w7"]}, "ward must be a string, not list"),
        ({"ward": "w\u00007"}, "ward holds a character that cannot be stored"),
        ({"team": 7}, "team must be a string, not int"),
        ({"team": "\udc00"}, "team holds a character that cannot be stored"),
        ({"tenant": "city\n"}, "tenant"),
    ],
)
def test_a_claim_that_is_malformed_or_unstorable_is_refused_naming_it(claims, reason):
    with pytest.raises(NotAuthorizedException) as refused:
        TokenVerifier(SECRET).actor_from_header(bearer(**claims))
    assert reason in refused.value.detail


def test_string_ward_and_team_claims_make_the_actor():
    actor = TokenVerifier(SECRET).actor_from_header(bearer(ward="w7", team="roads"))
    assert (actor.id, actor.ward, actor.team) == ("cllr-3", "w7", "roads")

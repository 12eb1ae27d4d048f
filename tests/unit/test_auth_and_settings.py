from __future__ import annotations

import time

import jwt
import pytest
from litestar.exceptions import NotAuthorizedException

from api.auth import TokenVerifier, issue_token
from domain.permissions import Role
from workers.settings import SettingsError, load_settings

SECRET = "s" * 40


def test_a_token_names_the_caller_tenant_role_and_ward():
    token = issue_token(SECRET, tenant="city", role="ward_councillor", sub="cllr-3", ward="ward-7")
    actor = TokenVerifier(SECRET).actor_from_header(f"Bearer {token}")
    assert (actor.id, actor.tenant, actor.role, actor.ward) == ("cllr-3", "city", Role.WARD_COUNCILLOR, "ward-7")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "No credentials"),
        ("Basic abc", "Bearer"),
        ("Bearer not-a-jwt", "not valid"),
        (f"Bearer {jwt.encode({'sub': 'x', 'tenant': 'city', 'role': 'admin'}, 'other-secret' * 4, algorithm='HS256')}", "not valid"),
        (f"Bearer {jwt.encode({'sub': 'x', 'tenant': 'city', 'role': 'admin', 'exp': int(time.time()) - 5}, SECRET, algorithm='HS256')}", "expired"),
        (f"Bearer {jwt.encode({'sub': 'x', 'tenant': 'city', 'role': 'mayor'}, SECRET, algorithm='HS256')}", "role"),
        (f"Bearer {jwt.encode({'sub': 'x', 'tenant': 'a.b', 'role': 'admin'}, SECRET, algorithm='HS256')}", "tenant"),
        (f"Bearer {jwt.encode({'tenant': 'city', 'role': 'admin'}, SECRET, algorithm='HS256')}", "sub"),
    ],
)
def test_bad_credentials_are_refused_with_the_reason(header, reason):
    with pytest.raises(NotAuthorizedException) as refused:
        TokenVerifier(SECRET).actor_from_header(header)
    assert reason in refused.value.detail


def test_the_jwt_secret_is_generated_once_and_kept_in_the_data_dir(tmp_path):
    env = {"DOCKET_DATA_DIR": str(tmp_path)}
    first, second = load_settings(env), load_settings(env)
    assert first.jwt_secret == second.jwt_secret and len(first.jwt_secret) >= 32
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o777 == 0o600


def test_settings_default_to_embedded_servers_on_loopback(tmp_path):
    settings = load_settings({"DOCKET_DATA_DIR": str(tmp_path), "DOCKET_JWT_SECRET": SECRET})
    assert (settings.database_url, settings.nats_url) == (None, None)
    assert (settings.http_host, settings.http_port, settings.jwt_secret) == ("127.0.0.1", 8000, SECRET)


@pytest.mark.parametrize(
    "env",
    [{"DOCKET_DATABASE_URL": "mysql://x"}, {"DOCKET_NATS_URL": "http://x"}, {"DOCKET_HTTP_PORT": "eighty"}],
)
def test_a_misconfigured_setting_is_named(env, tmp_path):
    with pytest.raises(SettingsError, match=next(iter(env))):
        load_settings({"DOCKET_DATA_DIR": str(tmp_path), **env})

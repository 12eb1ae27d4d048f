from __future__ import annotations

import time

import jwt
import pytest
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from api.auth import TokenConfig, TokenVerifier, actor_from_claims, claim, issue_token, role_from
from domain.permissions import Role
from workers.settings import SettingsError, load_settings

SECRET = "s" * 40
LATER = int(time.time()) + 3600


def hs256(claims: dict, secret: str = SECRET) -> str:
    return "Bearer " + jwt.encode({"exp": LATER, **claims}, secret, algorithm="HS256")


def test_a_token_names_the_caller_tenant_role_and_ward():
    token = issue_token(SECRET, tenant="city", role="ward_councillor", sub="cllr-3", ward="ward-7")
    actor = TokenVerifier(SECRET).actor_from_header(f"Bearer {token}")
    assert (actor.id, actor.tenant, actor.role, actor.ward) == ("cllr-3", "city", Role.WARD_COUNCILLOR, "ward-7")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "No credentials"),
        ("Basic abc", "Bearer"),
        ("Bearer not-a-jwt", "not a well-formed JWT"),
        (hs256({"sub": "x", "tenant": "city", "role": "admin"}, "other-secret" * 4), "signature does not verify"),
        (hs256({"sub": "x", "tenant": "city", "role": "admin", "exp": int(time.time()) - 120}), "expired"),
        ("Bearer " + jwt.encode({"sub": "x", "tenant": "city", "role": "admin"}, SECRET, algorithm="HS256"), "'exp' claim"),
        ("Bearer " + jwt.encode({"sub": "x", "tenant": "city", "role": "admin", "exp": LATER}, None, algorithm="none"), "algorithm 'none'"),
        (hs256({"sub": "x", "tenant": "a.b", "role": "admin"}), "tenant"),
        (hs256({"tenant": "city", "role": "admin"}), "sub"),
    ],
)
def test_bad_credentials_are_refused_with_the_reason(header, reason):
    with pytest.raises(NotAuthorizedException) as refused:
        TokenVerifier(SECRET).actor_from_header(header)
    assert reason in refused.value.detail


def test_a_good_token_without_a_docket_role_is_forbidden_not_unauthorized():
    with pytest.raises(PermissionDeniedException, match="role"):
        TokenVerifier(SECRET).actor_from_header(hs256({"sub": "x", "tenant": "city", "role": "mayor"}))


def test_issuer_and_audience_are_checked_when_configured():
    verifier = TokenVerifier(TokenConfig(secret=SECRET, issuer="https://id.example/realms/city", audience="docket"))
    good = issue_token(SECRET, tenant="city", role="agent", sub="a", issuer="https://id.example/realms/city", audience="docket")
    assert verifier.actor_from_token(good).role is Role.AGENT
    for token, reason in [
        (issue_token(SECRET, tenant="city", role="agent", sub="a", issuer="https://evil.example", audience="docket"), "wrong issuer"),
        (
            issue_token(SECRET, tenant="city", role="agent", sub="a", issuer="https://id.example/realms/city", audience="other"),
            "wrong audience",
        ),
        (issue_token(SECRET, tenant="city", role="agent", sub="a", audience="docket"), "'iss' claim"),
    ]:
        with pytest.raises(NotAuthorizedException, match=reason):
            verifier.actor_from_token(token)


def test_a_verifier_needs_a_secret_or_a_jwks():
    with pytest.raises(ValueError, match="secret"):
        TokenVerifier(TokenConfig())


def test_claims_are_found_by_name_by_dotted_path_and_by_namespaced_name():
    claims = {"realm_access": {"roles": ["offline_access", "agent"]}, "https://docket.example/tenant": "city", "tenant": "top"}
    assert claim(claims, "realm_access.roles") == ["offline_access", "agent"]
    assert claim(claims, "https://docket.example/tenant") == "city"
    assert claim(claims, "tenant") == "top"
    assert claim(claims, "realm_access.roles.first") is None
    assert claim(claims, "resource_access.docket.roles") is None


def test_of_a_list_of_roles_the_first_docket_role_is_taken():
    assert role_from(["uma_authorization", "manager", "admin"]) is Role.MANAGER
    assert role_from("auditor") is Role.AUDITOR
    assert role_from(["offline_access"]) is None
    assert role_from(None) is None


def test_a_keycloak_shaped_token_maps_to_an_actor():
    claims = {"sub": "f3c1", "docket_tenant": "city", "realm_access": {"roles": ["default-roles-city", "liaison"]}}
    actor = actor_from_claims(claims, tenant_claim="docket_tenant", role_claim="realm_access.roles")
    assert (actor.id, actor.tenant, actor.role) == ("f3c1", "city", Role.LIAISON)


def test_the_jwt_secret_is_generated_once_and_kept_in_the_data_dir(tmp_path):
    env = {"DOCKET_DATA_DIR": str(tmp_path)}
    first, second = load_settings(env), load_settings(env)
    assert first.jwt_secret == second.jwt_secret and len(first.jwt_secret) >= 32
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o777 == 0o600


def test_settings_default_to_embedded_servers_on_loopback(tmp_path):
    settings = load_settings({"DOCKET_DATA_DIR": str(tmp_path), "DOCKET_JWT_SECRET": SECRET})
    assert (settings.database_url, settings.nats_url) == (None, None)
    assert (settings.http_host, settings.http_port, settings.jwt_secret) == ("127.0.0.1", 8000, SECRET)
    assert (settings.jwt_jwks_url, settings.jwt_jwks_file, settings.jwt_issuer, settings.jwt_audience) == (None, None, None, None)
    assert (settings.jwt_tenant_claim, settings.jwt_role_claim) == ("tenant", "role")


def test_the_bounds_on_waiting_and_stopping_are_read_and_have_defaults(tmp_path):
    defaults = load_settings({"DOCKET_DATA_DIR": str(tmp_path)})
    assert (defaults.db_timeout, defaults.db_pool_size, defaults.max_waiting_commands, defaults.stop_timeout) == (5.0, 4, 100, 10.0)
    env = {"DOCKET_DB_TIMEOUT": "1.5", "DOCKET_DB_POOL_SIZE": "8", "DOCKET_MAX_WAITING_COMMANDS": "250", "DOCKET_STOP_TIMEOUT": "30"}
    settings = load_settings({"DOCKET_DATA_DIR": str(tmp_path), **env})
    assert (settings.db_timeout, settings.db_pool_size, settings.max_waiting_commands, settings.stop_timeout) == (1.5, 8, 250, 30.0)


def test_how_far_the_projections_yield_the_cpu_is_read_and_has_a_default(tmp_path):
    assert load_settings({"DOCKET_DATA_DIR": str(tmp_path)}).projection_nice == 0
    for value in (0, 19):
        assert load_settings({"DOCKET_DATA_DIR": str(tmp_path), "DOCKET_PROJECTION_NICE": str(value)}).projection_nice == value


def test_identity_provider_settings_are_read(tmp_path):
    settings = load_settings(
        {
            "DOCKET_DATA_DIR": str(tmp_path),
            "DOCKET_JWT_JWKS_URL": "https://id.example/realms/city/protocol/openid-connect/certs",
            "DOCKET_JWT_ISSUER": "https://id.example/realms/city",
            "DOCKET_JWT_AUDIENCE": "docket",
            "DOCKET_JWT_TENANT_CLAIM": "docket_tenant",
            "DOCKET_JWT_ROLE_CLAIM": "realm_access.roles",
        }
    )
    assert settings.jwt_jwks_url == "https://id.example/realms/city/protocol/openid-connect/certs"
    assert (settings.jwt_issuer, settings.jwt_audience) == ("https://id.example/realms/city", "docket")
    assert (settings.jwt_tenant_claim, settings.jwt_role_claim) == ("docket_tenant", "realm_access.roles")


def test_with_an_identity_provider_no_secret_is_generated_unless_one_is_set(tmp_path):
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    settings = load_settings({"DOCKET_DATA_DIR": str(tmp_path), "DOCKET_JWT_JWKS_FILE": str(jwks)})
    assert (settings.jwt_secret, settings.jwt_jwks_file) == ("", jwks)
    assert not (tmp_path / "jwt_secret").exists()
    both = load_settings({"DOCKET_DATA_DIR": str(tmp_path), "DOCKET_JWT_JWKS_FILE": str(jwks), "DOCKET_JWT_SECRET": SECRET})
    assert both.jwt_secret == SECRET


@pytest.mark.parametrize(
    "env",
    [
        {"DOCKET_DATABASE_URL": "mysql://x"},
        {"DOCKET_NATS_URL": "http://x"},
        {"DOCKET_HTTP_PORT": "eighty"},
        {"DOCKET_JWT_JWKS_URL": "file:///etc/jwks.json"},
        {"DOCKET_JWT_JWKS_FILE": "/nonexistent/jwks.json"},
        {"DOCKET_JWT_ROLE_CLAIM": "realm_access..roles"},
        {"DOCKET_JWT_TENANT_CLAIM": "org."},
        {"DOCKET_DB_TIMEOUT": "0"},
        {"DOCKET_DB_TIMEOUT": "soon"},
        {"DOCKET_DB_POOL_SIZE": "none"},
        {"DOCKET_MAX_WAITING_COMMANDS": "0"},
        {"DOCKET_STOP_TIMEOUT": "-1"},
        {"DOCKET_PROJECTION_NICE": "20"},
        {"DOCKET_PROJECTION_NICE": "-5"},
        {"DOCKET_PROJECTION_NICE": "low"},
    ],
)
def test_a_misconfigured_setting_is_named(env, tmp_path):
    with pytest.raises(SettingsError, match=next(iter(env))):
        load_settings({"DOCKET_DATA_DIR": str(tmp_path), **env})


def test_a_jwks_url_and_a_jwks_file_together_are_refused_naming_both(tmp_path):
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    env = {"DOCKET_DATA_DIR": str(tmp_path), "DOCKET_JWT_JWKS_URL": "https://id.example/certs", "DOCKET_JWT_JWKS_FILE": str(jwks)}
    with pytest.raises(SettingsError, match="DOCKET_JWT_JWKS_URL or DOCKET_JWT_JWKS_FILE, not both"):
        load_settings(env)


def test_a_secret_kept_in_the_data_dir_is_the_same_whole_one_for_processes_starting_together(tmp_path):
    """Roles started side by side each read the data dir's secret: none may read it half written."""
    import secrets
    import threading

    from workers.settings import _kept_secret

    for attempt in range(20):
        path, start, kept = tmp_path / f"secret-{attempt}", threading.Barrier(8), []

        def keep(path=path, start=start, kept=kept) -> None:
            start.wait()
            kept.append(_kept_secret(path, lambda: secrets.token_urlsafe(32)))

        threads = [threading.Thread(target=keep) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(kept)) == 1 and kept[0] == path.read_text().strip() and len(kept[0]) > 40, kept
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no file left half made

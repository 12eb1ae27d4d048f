"""Settings: the only module that reads the environment."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec


class SettingsError(ValueError):
    pass


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None
    nats_url: str | None = None
    data_dir: Path = Path(".docket")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    jwt_secret: str = ""
    jwt_jwks_url: str | None = None
    jwt_jwks_file: Path | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_tenant_claim: str = "tenant"
    jwt_role_claim: str = "role"
    cipher_key: str = ""
    log_level: str = "INFO"
    api_workers: int = 1  # API processes: `docket api` and `docket serve` default to the machine's cores
    commit_max_batch: int = 200  # commands saved together in one transaction at most
    commit_max_wait_ms: float = 0.0  # how long a batch stays open for more commands after the first
    attachment_max_bytes: int = 10 * 1024 * 1024
    attachment_types: tuple[str, ...] = ()  # empty: the built-in list of photo and document types
    s3_bucket: str | None = None  # set: attachments go to S3-compatible storage, not the data dir
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_prefix: str = "attachments/"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("DOCKET_DATA_DIR") or ".docket").resolve()
    jwks_url, jwks_file = _jwks_source(env)
    settings = Settings(
        database_url=_url(env, "DOCKET_DATABASE_URL", ("postgresql://", "postgres://")),
        nats_url=_url(env, "DOCKET_NATS_URL", ("nats://", "tls://")),
        data_dir=data_dir,
        http_host=env.get("DOCKET_HTTP_HOST") or "127.0.0.1",
        http_port=_port(env.get("DOCKET_HTTP_PORT") or "8000"),
        log_level=(env.get("DOCKET_LOG_LEVEL") or "INFO").upper(),
        api_workers=_positive(env, "DOCKET_API_WORKERS", os.cpu_count() or 1),
        commit_max_batch=_positive(env, "DOCKET_COMMIT_MAX_BATCH", 200),
        commit_max_wait_ms=_milliseconds(env, "DOCKET_COMMIT_MAX_WAIT_MS", 0.0),
        jwt_jwks_url=jwks_url,
        jwt_jwks_file=jwks_file,
        jwt_issuer=env.get("DOCKET_JWT_ISSUER") or None,
        jwt_audience=env.get("DOCKET_JWT_AUDIENCE") or None,
        jwt_tenant_claim=_claim_path(env, "DOCKET_JWT_TENANT_CLAIM", "tenant"),
        jwt_role_claim=_claim_path(env, "DOCKET_JWT_ROLE_CLAIM", "role"),
        attachment_max_bytes=_positive(env, "DOCKET_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024),
        attachment_types=tuple(t.strip() for t in (env.get("DOCKET_ATTACHMENT_TYPES") or "").split(",") if t.strip()),
        s3_bucket=env.get("DOCKET_S3_BUCKET") or None,
        s3_endpoint_url=_url(env, "DOCKET_S3_ENDPOINT_URL", ("https://", "http://")),
        s3_region=env.get("DOCKET_S3_REGION") or None,
        s3_prefix=env.get("DOCKET_S3_PREFIX") or "attachments/",
        s3_access_key_id=env.get("DOCKET_S3_ACCESS_KEY_ID") or None,
        s3_secret_access_key=env.get("DOCKET_S3_SECRET_ACCESS_KEY") or None,
    )
    return msgspec.structs.replace(
        settings,
        jwt_secret=env.get("DOCKET_JWT_SECRET") or _default_jwt_secret(settings),
        # Losing this key loses the events: back it up with the database.
        cipher_key=env.get("DOCKET_CIPHER_KEY") or _kept_secret(data_dir / "cipher_key", _new_cipher_key),
    )


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    value = env.get(name) or None
    if value is not None and not value.startswith(schemes):
        raise SettingsError(f"{name} must start with {' or '.join(schemes)}, got {value!r}")
    return value


def _jwks_source(env: Mapping[str, str]) -> tuple[str | None, Path | None]:
    """Where an identity provider's signing keys are: a URL, a file, or neither."""
    if env.get("DOCKET_JWT_JWKS_URL") and env.get("DOCKET_JWT_JWKS_FILE"):
        raise SettingsError("Set DOCKET_JWT_JWKS_URL or DOCKET_JWT_JWKS_FILE, not both.")
    file = env.get("DOCKET_JWT_JWKS_FILE") or None
    if file is not None and not Path(file).is_file():
        raise SettingsError(f"DOCKET_JWT_JWKS_FILE names no file: {file!r}")
    return _url(env, "DOCKET_JWT_JWKS_URL", ("https://", "http://")), Path(file).resolve() if file else None


def _claim_path(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name) or default
    if not all(value.split(".")):
        raise SettingsError(f"{name} must be a claim name or a dotted path such as realm_access.roles, got {value!r}")
    return value


def _default_jwt_secret(settings: Settings) -> str:
    """With an identity provider, HS256 tokens are accepted only with a secret set explicitly."""
    if settings.jwt_jwks_url or settings.jwt_jwks_file:
        return ""
    return _kept_secret(settings.data_dir / "jwt_secret", lambda: secrets.token_urlsafe(48))


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name) or str(default)
    if not value.isdigit() or int(value) < 1:
        raise SettingsError(f"{name} must be a positive whole number, got {value!r}")
    return int(value)


def _milliseconds(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name) or str(default)
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number <= 1000:
        raise SettingsError(f"{name} must be a number of milliseconds from 0 to 1000, got {value!r}")
    return number


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SettingsError(f"DOCKET_HTTP_PORT must be a port number, got {value!r}")
    return int(value)


def _new_cipher_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _kept_secret(path: Path, make: Callable[[], str]) -> str:
    """A secret generated once and kept in the data dir, so it outlives restarts."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = make()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    return secret

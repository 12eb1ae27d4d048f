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
    cipher_key: str = ""
    log_level: str = "INFO"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("DOCKET_DATA_DIR") or ".docket").resolve()
    settings = Settings(
        database_url=_url(env, "DOCKET_DATABASE_URL", ("postgresql://", "postgres://")),
        nats_url=_url(env, "DOCKET_NATS_URL", ("nats://", "tls://")),
        data_dir=data_dir,
        http_host=env.get("DOCKET_HTTP_HOST") or "127.0.0.1",
        http_port=_port(env.get("DOCKET_HTTP_PORT") or "8000"),
        log_level=(env.get("DOCKET_LOG_LEVEL") or "INFO").upper(),
    )
    return msgspec.structs.replace(
        settings,
        jwt_secret=env.get("DOCKET_JWT_SECRET") or _kept_secret(data_dir / "jwt_secret", lambda: secrets.token_urlsafe(48)),
        # Losing this key loses the events: back it up with the database.
        cipher_key=env.get("DOCKET_CIPHER_KEY") or _kept_secret(data_dir / "cipher_key", _new_cipher_key),
    )


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    value = env.get(name) or None
    if value is not None and not value.startswith(schemes):
        raise SettingsError(f"{name} must start with {' or '.join(schemes)}, got {value!r}")
    return value


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

"""Settings: the only module that reads the environment."""

from __future__ import annotations

import base64
import os
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec


class SettingsError(ValueError):
    pass


class NotifySettings(msgspec.Struct, frozen=True, kw_only=True):
    """The notifier's channels and how it sends (README, Notifications). A channel without its
    settings is off."""

    whatsapp_url: str = "https://graph.facebook.com/v21.0"
    whatsapp_token: str | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_neutral_template: str = "docket_report_update"  # the sensitive notifier's one template
    sms_url: str = "https://api.twilio.com"
    sms_account_sid: str | None = None
    sms_auth_token: str | None = None
    sms_from: str | None = None
    smtp_url: str | None = None  # smtp://user:pass@host:port (STARTTLS when offered) or smtps://
    smtp_from: str | None = None
    smtp_ca_file: Path | None = None  # trust this CA for the SMTP server's certificate too
    max_attempts: int = 8
    backoff_seconds: float = 2.0  # before the second attempt; doubling, with jitter, up to backoff_max_seconds
    backoff_max_seconds: float = 300.0
    timeout: float = 10.0  # seconds one request to a provider may take
    rate_whatsapp: float = 20.0  # messages a second per channel, all notifiers together
    rate_sms: float = 10.0
    rate_email: float = 10.0
    rate_webhook: float = 20.0
    concurrency: int = 32  # requests a notifier has in flight at once
    ack_wait_seconds: float = 30.0  # an event a notifier took and did not record comes again after this
    max_age_seconds: float = 86_400.0  # an event older than this when first read tells nobody
    link: str = "http://127.0.0.1:8000/api/v1/tickets/{tracking_number}"
    phone_country_code: str | None = None  # a national number's trunk 0 stands for +<this>
    webhook_allow_private: bool = False

    @property
    def whatsapp_on(self) -> bool:
        return bool(self.whatsapp_token and self.whatsapp_phone_number_id)

    @property
    def sms_on(self) -> bool:
        return bool(self.sms_account_sid and self.sms_auth_token and self.sms_from)

    @property
    def email_on(self) -> bool:
        return bool(self.smtp_url and self.smtp_from)


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None
    nats_url: str | None = None
    stream_replicas: int = 1  # of the JetStream stream and bucket: 3 on a three-node cluster
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
    # The operations page's sign-in with an identity provider (authorization code with PKCE); all three or none.
    oidc_client_id: str | None = None
    oidc_authorization_url: str | None = None
    oidc_token_url: str | None = None
    oidc_scope: str = "openid"
    cipher_key: str = ""
    log_level: str = "INFO"
    api_workers: int = 1  # API processes: `docket api` and `docket serve` default to the machine's cores
    commit_max_batch: int = 200  # commands saved together in one transaction at most
    commit_max_wait_ms: float = 0.0  # how long a batch stays open for more commands after the first
    db_timeout: float = 5.0  # seconds a command or query waits for the database before a 503
    read_wait: float = 5.0  # seconds a read given `after` waits for its read models before a 503
    db_pool_size: int = 4  # event-store connections a process keeps open (twice as many more under load)
    max_waiting_commands: int = 100  # commands a process holds at once; more are refused with a 503
    stop_timeout: float = 10.0  # seconds SIGTERM gives commands in flight, then the projector and relay
    projection_nice: int = 0  # nice levels the projections' threads run below the API's (workers/priority.py)
    attachment_max_bytes: int = 10 * 1024 * 1024
    attachment_types: tuple[str, ...] = ()  # empty: the built-in list of photo and document types
    s3_bucket: str | None = None  # set: attachments go to S3-compatible storage, not the data dir
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_prefix: str = "attachments/"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    notify: NotifySettings = NotifySettings()
    audit_signing_key: str = ""  # Ed25519, base64 of 32 bytes or PEM: signs audit checkpoints and exports


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("DOCKET_DATA_DIR") or ".docket").resolve()
    jwks_url, jwks_file = _jwks_source(env)
    settings = Settings(
        database_url=_url(env, "DOCKET_DATABASE_URL", ("postgresql://", "postgres://")),
        nats_url=_url(env, "DOCKET_NATS_URL", ("nats://", "tls://")),
        stream_replicas=_positive(env, "DOCKET_STREAM_REPLICAS", 1),
        data_dir=data_dir,
        http_host=env.get("DOCKET_HTTP_HOST") or "127.0.0.1",
        http_port=_port(env.get("DOCKET_HTTP_PORT") or "8000"),
        log_level=(env.get("DOCKET_LOG_LEVEL") or "INFO").upper(),
        api_workers=_positive(env, "DOCKET_API_WORKERS", os.cpu_count() or 1),
        commit_max_batch=_positive(env, "DOCKET_COMMIT_MAX_BATCH", 200),
        commit_max_wait_ms=_milliseconds(env, "DOCKET_COMMIT_MAX_WAIT_MS", 0.0),
        db_timeout=_seconds(env, "DOCKET_DB_TIMEOUT", 5.0),
        read_wait=_seconds(env, "DOCKET_READ_WAIT", 5.0),
        db_pool_size=_positive(env, "DOCKET_DB_POOL_SIZE", 4),
        max_waiting_commands=_positive(env, "DOCKET_MAX_WAITING_COMMANDS", 100),
        stop_timeout=_seconds(env, "DOCKET_STOP_TIMEOUT", 10.0),
        projection_nice=_nice(env, "DOCKET_PROJECTION_NICE", 0),
        jwt_jwks_url=jwks_url,
        jwt_jwks_file=jwks_file,
        jwt_issuer=env.get("DOCKET_JWT_ISSUER") or None,
        jwt_audience=env.get("DOCKET_JWT_AUDIENCE") or None,
        jwt_tenant_claim=_claim_path(env, "DOCKET_JWT_TENANT_CLAIM", "tenant"),
        jwt_role_claim=_claim_path(env, "DOCKET_JWT_ROLE_CLAIM", "role"),
        **_oidc_client(env),
        attachment_max_bytes=_positive(env, "DOCKET_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024),
        attachment_types=tuple(t.strip() for t in (env.get("DOCKET_ATTACHMENT_TYPES") or "").split(",") if t.strip()),
        s3_bucket=env.get("DOCKET_S3_BUCKET") or None,
        s3_endpoint_url=_url(env, "DOCKET_S3_ENDPOINT_URL", ("https://", "http://")),
        s3_region=env.get("DOCKET_S3_REGION") or None,
        s3_prefix=env.get("DOCKET_S3_PREFIX") or "attachments/",
        s3_access_key_id=env.get("DOCKET_S3_ACCESS_KEY_ID") or None,
        s3_secret_access_key=env.get("DOCKET_S3_SECRET_ACCESS_KEY") or None,
        notify=_notify_settings(env),
    )
    return msgspec.structs.replace(
        settings,
        jwt_secret=env.get("DOCKET_JWT_SECRET") or _default_jwt_secret(settings),
        # Losing this key loses the events: back it up with the database.
        cipher_key=env.get("DOCKET_CIPHER_KEY") or _kept_secret(data_dir / "cipher_key", _new_cipher_key),
        audit_signing_key=_audit_signing_key(env, data_dir),
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


def _oidc_client(env: Mapping[str, str]) -> dict[str, str | None]:
    """The operations page's identity provider: its client id and endpoints, all three or none."""
    names = ("DOCKET_OIDC_CLIENT_ID", "DOCKET_OIDC_AUTHORIZATION_URL", "DOCKET_OIDC_TOKEN_URL")
    given = [name for name in names if env.get(name)]
    if given and len(given) < len(names):
        raise SettingsError(f"Set {', '.join(names)} together; missing: {', '.join(n for n in names if n not in given)}.")
    return {
        "oidc_client_id": env.get("DOCKET_OIDC_CLIENT_ID") or None,
        "oidc_authorization_url": _url(env, "DOCKET_OIDC_AUTHORIZATION_URL", ("https://", "http://")),
        "oidc_token_url": _url(env, "DOCKET_OIDC_TOKEN_URL", ("https://", "http://")),
        "oidc_scope": env.get("DOCKET_OIDC_SCOPE") or "openid",
    }


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


def _nice(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name) or str(default)
    if not value.isdigit() or int(value) > 19:
        raise SettingsError(f"{name} must be a whole number from 0 (the API's own priority) to 19 (the lowest), got {value!r}")
    return int(value)


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


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name) or str(default)
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number <= 600:
        raise SettingsError(f"{name} must be a number of seconds above 0 and at most 600, got {value!r}")
    return number


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SettingsError(f"DOCKET_HTTP_PORT must be a port number, got {value!r}")
    return int(value)


def _audit_signing_key(env: Mapping[str, str], data_dir: Path) -> str:
    """The audit key: given, else generated once in the data dir. Checked here, so that a bad one
    stops the process at start, naming the variable, rather than the first checkpoint."""
    from domain.audit_keys import BadKey, new_signing_key_text, signing_key_from_text

    given = env.get("DOCKET_AUDIT_SIGNING_KEY") or ""
    text = given or _kept_secret(data_dir / "audit_signing_key", new_signing_key_text)
    try:
        signing_key_from_text(text)
    except BadKey as error:
        where = "DOCKET_AUDIT_SIGNING_KEY" if given else str(data_dir / "audit_signing_key")
        raise SettingsError(f"{where} is not an Ed25519 private key (base64 of 32 bytes, or PEM): {error}") from None
    return text


def _new_cipher_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _kept_secret(path: Path, make: Callable[[], str]) -> str:
    """A secret generated once and kept in the data dir, so it outlives restarts. Written whole
    beside it, then linked into place: a process starting beside this one reads all of it or
    finds none, never the empty file another has just created."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = make()
    written = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(written, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secret)
        os.link(written, path)
    except FileExistsError:  # another process kept one first
        return path.read_text().strip()
    finally:
        written.unlink()
    return secret


LINK_PLACEHOLDERS = {"tracking_number", "ticket_id"}
NOTIFY_DEFAULTS = NotifySettings()


def _notify_settings(env: Mapping[str, str]) -> NotifySettings:
    country = env.get("DOCKET_PHONE_COUNTRY_CODE") or None
    if country is not None and not (country.isdigit() and len(country) <= 3 and not country.startswith("0")):
        raise SettingsError(f"DOCKET_PHONE_COUNTRY_CODE is a country calling code such as 27, got {country!r}")
    link = env.get("DOCKET_NOTIFY_LINK") or NOTIFY_DEFAULTS.link
    unknown = {name for name in _placeholders(link)} - LINK_PLACEHOLDERS
    if unknown or not link.startswith(("https://", "http://")):
        raise SettingsError(f"DOCKET_NOTIFY_LINK is an http(s) URL with {{tracking_number}} or {{ticket_id}} in it, got {link!r}")
    ca_file = env.get("DOCKET_SMTP_CA_FILE") or None
    if ca_file is not None and not Path(ca_file).is_file():
        raise SettingsError(f"DOCKET_SMTP_CA_FILE names no file: {ca_file!r}")
    return NotifySettings(
        whatsapp_url=(_url(env, "DOCKET_WHATSAPP_URL", ("https://", "http://")) or NOTIFY_DEFAULTS.whatsapp_url).rstrip("/"),
        whatsapp_token=env.get("DOCKET_WHATSAPP_TOKEN") or None,
        whatsapp_phone_number_id=env.get("DOCKET_WHATSAPP_PHONE_NUMBER_ID") or None,
        whatsapp_neutral_template=env.get("DOCKET_WHATSAPP_NEUTRAL_TEMPLATE") or NOTIFY_DEFAULTS.whatsapp_neutral_template,
        sms_url=(_url(env, "DOCKET_SMS_URL", ("https://", "http://")) or NOTIFY_DEFAULTS.sms_url).rstrip("/"),
        sms_account_sid=env.get("DOCKET_SMS_ACCOUNT_SID") or None,
        sms_auth_token=env.get("DOCKET_SMS_AUTH_TOKEN") or None,
        sms_from=env.get("DOCKET_SMS_FROM") or None,
        smtp_url=_url(env, "DOCKET_SMTP_URL", ("smtp://", "smtps://")),
        smtp_from=env.get("DOCKET_SMTP_FROM") or None,
        smtp_ca_file=Path(ca_file).resolve() if ca_file else None,
        max_attempts=_positive(env, "DOCKET_NOTIFY_MAX_ATTEMPTS", 8),
        backoff_seconds=_bounded(env, "DOCKET_NOTIFY_BACKOFF_SECONDS", 2.0, 3600),
        backoff_max_seconds=_bounded(env, "DOCKET_NOTIFY_BACKOFF_MAX_SECONDS", 300.0, 86_400),
        timeout=_seconds(env, "DOCKET_NOTIFY_TIMEOUT", 10.0),
        rate_whatsapp=_bounded(env, "DOCKET_NOTIFY_RATE_WHATSAPP", 20.0, 100_000),
        rate_sms=_bounded(env, "DOCKET_NOTIFY_RATE_SMS", 10.0, 100_000),
        rate_email=_bounded(env, "DOCKET_NOTIFY_RATE_EMAIL", 10.0, 100_000),
        rate_webhook=_bounded(env, "DOCKET_NOTIFY_RATE_WEBHOOK", 20.0, 100_000),
        concurrency=_positive(env, "DOCKET_NOTIFY_CONCURRENCY", 32),
        ack_wait_seconds=_bounded(env, "DOCKET_NOTIFY_ACK_WAIT_SECONDS", 30.0, 3600),
        max_age_seconds=_bounded(env, "DOCKET_NOTIFY_MAX_AGE_SECONDS", 86_400.0, 365 * 86_400),
        link=link,
        phone_country_code=country,
        webhook_allow_private=_switch(env, "DOCKET_WEBHOOK_ALLOW_PRIVATE"),
    )


def _placeholders(template: str) -> list[str]:
    return re.findall(r"\{([^{}]*)\}", template)


def _bounded(env: Mapping[str, str], name: str, default: float, most: float) -> float:
    value = env.get(name) or str(default)
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number <= most:
        raise SettingsError(f"{name} must be a number above 0 and at most {most:g}, got {value!r}")
    return number


def _switch(env: Mapping[str, str], name: str) -> bool:
    value = (env.get(name) or "false").strip().lower()
    if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise SettingsError(f"{name} is true or false, got {value!r}")
    return value in ("1", "true", "yes", "on")

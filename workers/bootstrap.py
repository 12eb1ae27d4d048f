"""The composition root: settings in, servers, application and clients out."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
from nats.aio.client import Client as NATS

from api.auth import TokenConfig, TokenVerifier
from api.dashboard_feed import DashboardFeed
from api.limits import Limits
from api.services import Services
from api.sign_in import IdentityProvider
from commands.app import Docket, eventsourcing_env
from commands.attachments import DEFAULT_TYPES, AttachmentRules, BlobStore, FileBlobStore, S3BlobStore
from commands.deliveries import create_delivery_tables
from commands.relay_stalls import create_relay_stalls_table
from projections.operations import ensure_tables
from projections.sql import engine_for
from workers.embedded import EmbeddedNats, embedded_nats, embedded_postgres, nats_passwords
from workers.relay import connect_nats
from workers.settings import Settings, SettingsError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    nats_url: str | None  # a configured URL names its user (compose gives each role its own)
    cipher_key: str
    # Started here: it admits each role as its own user, and nobody without a password.
    embedded_nats: EmbeddedNats | None = None
    stream_replicas: int = 1  # of the JetStream stream and bucket the relay and projector make

    @property
    def eventsourcing_env(self) -> dict[str, str]:
        return eventsourcing_env(self.database_url, self.cipher_key)

    def nats_url_for(self, user: str) -> str | None:
        """The NATS URL for a role's user (relay, projector, scheduler, ... of authorization.conf)."""
        if self.embedded_nats is not None:
            return self.embedded_nats.url_for(user)
        return self.nats_url

    def as_nats_user(self, user: str) -> Endpoints:
        """These endpoints as one role sees them: NATS as the role's own user."""
        return replace(self, nats_url=self.nats_url_for(user), embedded_nats=None)


@contextmanager
def endpoints(settings: Settings, *, nats: str = "none") -> Iterator[Endpoints]:
    """The servers to use: the configured ones, else embedded ones in the data dir.

    nats is "none" (not needed), "configured" (must be set: a lone role cannot share an
    embedded server with other processes) or "embedded" (started here when not set).
    """
    with ExitStack() as stack:
        database_url = settings.database_url or stack.enter_context(embedded_postgres(settings.data_dir))
        nats_url, embedded = settings.nats_url, None
        if nats_url is None and nats == "configured":
            raise SettingsError("This role needs DOCKET_NATS_URL (nats://host:port); only `docket serve` embeds NATS.")
        if nats_url is None and nats == "embedded":
            embedded = stack.enter_context(embedded_nats(settings.data_dir))
            nats_url = embedded.url  # no user: only a role's own URL (nats_url_for) gets in
        yield Endpoints(database_url, nats_url, settings.cipher_key, embedded, settings.stream_replicas)


@contextmanager
def application(found: Endpoints, settings: Settings | None = None) -> Iterator[Docket]:
    env, limits = found.eventsourcing_env, {}
    if settings is not None:
        env = eventsourcing_env(found.database_url, found.cipher_key, timeout=settings.db_timeout, pool_size=settings.db_pool_size)
        limits = {
            "max_batch": settings.commit_max_batch,
            "max_wait": settings.commit_max_wait_ms / 1000,
            "max_waiting": settings.max_waiting_commands,
            "timeout": settings.db_timeout,
        }
    with setting_up(found.database_url):
        app = Docket(env=env, **limits)
        ensure_tables(app.recorder.datastore)
        create_relay_stalls_table(app.recorder.datastore)
        create_delivery_tables(app.recorder.datastore)
    try:
        yield app
    finally:
        app.close()


def metrics_dir(settings: Settings) -> Path:
    return settings.data_dir / "metrics"


@contextmanager
def setting_up(database_url: str) -> Iterator[None]:
    """One process at a time creates tables: roles started together would otherwise race on
    CREATE TABLE IF NOT EXISTS, which PostgreSQL can refuse ("tuple concurrently updated")."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('docket.setup'))")
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('docket.setup'))")


def api_services(settings: Settings, app: Docket, found: Endpoints) -> Services:
    return Services(
        metrics_dir=str(metrics_dir(settings)),
        app=app,
        engine=engine_for(found.database_url, timeout=settings.db_timeout),
        limits=Limits(db_timeout=settings.db_timeout, max_waiting_commands=settings.max_waiting_commands),
        tokens=token_verifier(settings),
        blobs=blob_store(settings),
        attachment_rules=AttachmentRules(settings.attachment_max_bytes, settings.attachment_types or DEFAULT_TYPES),
        # Only to see that NATS answers (/health/ready): the API neither publishes nor subscribes.
        nats_url=found.nats_url or settings.nats_url,
        webhook_allow_private=settings.notify.webhook_allow_private,
        read_wait=settings.read_wait,
        dashboard_feed=dashboard_feed(settings, found),
        identity_provider=identity_provider(settings),
    )


def identity_provider(settings: Settings) -> IdentityProvider | None:
    if not (settings.oidc_client_id and settings.oidc_authorization_url and settings.oidc_token_url):
        return None
    return IdentityProvider(
        authorization_endpoint=settings.oidc_authorization_url,
        token_endpoint=settings.oidc_token_url,
        client_id=settings.oidc_client_id,
        scope=settings.oidc_scope,
    )


def dashboard_feed(settings: Settings, found: Endpoints) -> DashboardFeed:
    """What tells the dashboard's streams of new figures: a watch of the bucket as the NATS user
    `dashboard`, who may read and watch it and change nothing. On the embedded server every API
    process finds that user's password in the data dir; a configured URL names its user itself."""
    url = settings.nats_url or found.nats_url
    if url is None:  # `docket api` without NATS: the streams send figures on connecting, and heartbeats
        return DashboardFeed(None)
    if settings.nats_url is None:
        url = EmbeddedNats(url, nats_passwords(settings.data_dir)).url_for("dashboard")

    async def connect() -> NATS:
        return await connect_nats(url, "docket-dashboard-stream", inbox_prefix="_INBOX_dashboard")

    return DashboardFeed(connect)


def blob_store(settings: Settings) -> BlobStore:
    """Attachments in S3-compatible storage when a bucket is configured, else in the data dir."""
    if settings.s3_bucket is None:
        return FileBlobStore(settings.data_dir / "attachments")
    import boto3  # only deployments that use S3 pay for importing it

    client = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
    )
    log.info("attachments go to bucket %s at %s", settings.s3_bucket, settings.s3_endpoint_url or "AWS S3")
    return S3BlobStore(client, settings.s3_bucket, settings.s3_prefix)


def token_verifier(settings: Settings) -> TokenVerifier:
    config = TokenConfig(
        secret=settings.jwt_secret,
        jwks_url=settings.jwt_jwks_url,
        jwks_file=settings.jwt_jwks_file,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        tenant_claim=settings.jwt_tenant_claim,
        role_claim=settings.jwt_role_claim,
    )
    try:
        return TokenVerifier(config)
    except ValueError as error:  # an unreadable JWKS file
        raise SettingsError(f"DOCKET_JWT_JWKS_FILE: {error}") from None

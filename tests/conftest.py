"""Fixtures on real servers: one fresh database and one owned NATS server per test session."""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
from litestar.testing import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from api.auth import TokenVerifier, issue_token
from api.services import Services
from commands.app import Docket, eventsourcing_env
from commands.attachments import FileBlobStore
from domain.permissions import Actor, Role
from projections.operations import PROJECTIONS, ensure_tables, head_of
from projections.runner import ProjectionLoop
from projections.sql import engine_for
from tests.servers import OwnedNats, fresh_database, owned_nats
from workers.settings import load_settings

JWT_SECRET = "test-secret-" + "x" * 32
CIPHER_KEY = base64.b64encode(b"k" * 32).decode()


@pytest.fixture(scope="session")
def settings():
    return load_settings()


@pytest.fixture(scope="session")
def database_url(settings, tmp_path_factory) -> Iterator[str]:
    with fresh_database(settings.database_url, tmp_path_factory.mktemp("pg")) as url:
        yield url


@pytest.fixture(scope="session")
def nats_server(settings, tmp_path_factory) -> Iterator[OwnedNats]:
    """The session's NATS server; `nats_server.url_for("relay")` reaches it as a role's user."""
    with owned_nats(settings.nats_url, tmp_path_factory.mktemp("nats")) as server:
        yield server


@pytest.fixture(scope="session")
def nats_url(nats_server) -> str:
    """The session's NATS server as `admin`, who may do anything: for tests that watch or set up."""
    return nats_server.admin_url


@pytest.fixture(scope="session")
def es_env(database_url) -> dict[str, str]:
    return eventsourcing_env(database_url, CIPHER_KEY)


@pytest.fixture(scope="session")
def app(es_env) -> Iterator[Docket]:
    application = Docket(env=es_env)
    ensure_tables(application.recorder.datastore)
    yield application
    application.close()


@pytest.fixture(scope="session")
def projectors(app) -> Iterator[dict[str, ProjectionLoop]]:
    """Every projection following the event store in a thread, as the projector runs them."""
    halt = threading.Event()
    loops = {name: ProjectionLoop(app, projection) for name, projection in PROJECTIONS.items()}
    threads = [threading.Thread(target=loop.run, args=(halt,), name=f"projection-{name}") for name, loop in loops.items()]
    for thread in threads:
        thread.start()
    yield loops
    halt.set()
    for thread in threads:
        thread.join()


@pytest.fixture(scope="session")
def engine(database_url) -> Iterator[Engine]:
    eng = engine_for(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def projected(projectors, app) -> Callable[[], None]:
    """Waits until every projection has applied every event stored so far that it applies."""

    def wait() -> None:
        for name, runner in projectors.items():
            head = head_of(app, PROJECTIONS[name].topics)
            if head:
                runner.wait(head, timeout=10)

    return wait


@pytest.fixture
def tenant() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def actor(tenant) -> Callable[..., Actor]:
    def make(role: str = "manager", sub: str | None = None, ward: str | None = None, tenant_: str | None = None) -> Actor:
        # An agent reads the whole tenant here, as in `agents_see_all`; what an agent's reading
        # reaches has its own tests (test_agent_scope.py).
        return Actor(id=sub or f"{role}-1", tenant=tenant_ or tenant, role=Role(role), ward=ward, agent_scope="all")

    return make


@pytest.fixture
def agents_see_all(client, auth, projected) -> None:
    """The tenant's agents read every ticket of it: for tests of what agents do, not of which
    tickets their reading reaches (the tenant's agent_scope; see test_agent_scope.py)."""
    response = client.put("/api/v1/tenant-settings", json={"agent_scope": "all"}, headers=auth("admin"))
    assert response.status_code == 200, response.text
    projected()  # the API reads the setting from the read model


@pytest.fixture(scope="session")
def client(app, engine, tmp_path_factory) -> Iterator[TestClient]:
    services = Services(app=app, engine=engine, tokens=TokenVerifier(JWT_SECRET), blobs=FileBlobStore(tmp_path_factory.mktemp("blobs")))
    with TestClient(create_app(services)) as test_client:
        yield test_client


@pytest.fixture
def auth(tenant) -> Callable[..., dict[str, str]]:
    """Authorization headers for a caller in this test's tenant (or another)."""

    def headers(role: str = "manager", sub: str | None = None, ward: str | None = None, tenant_: str | None = None) -> dict[str, str]:
        token = issue_token(JWT_SECRET, tenant=tenant_ or tenant, role=role, sub=sub or f"{role}-1", ward=ward)
        return {"Authorization": f"Bearer {token}"}

    return headers

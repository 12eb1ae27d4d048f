"""GET /metrics in Prometheus' text format.

Commands by use case and outcome, their latency and the sizes of the batches that saved them (of
every API process, when several share a metrics directory); and, read from the database at each
scrape, so that any process answers alike: each projection's and the relay's position and lag
behind the event store, how long the relay has been stalled, and the SLA deadlines the scheduler
holds timers for.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from litestar import Response, get
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from api.services import Services
from commands.app import TICKET_TOPICS
from commands.relay_stalls import relay_stalls
from projections.operations import RELAY, head_of, status, tracking_recorder
from projections.sla_queries import count_open_deadlines


@get("/metrics", operation_id="metrics", summary="Prometheus metrics of commands, projections, relay and SLA timers", sync_to_thread=True)
def metrics(services: NamedDependency[Services]) -> Response[bytes]:
    read_models = CollectorRegistry(auto_describe=True)
    read_models.register(ReadModelCollector(services))
    body = generate_latest(command_registry(services.metrics_dir)) + generate_latest(read_models)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def command_registry(metrics_dir: str | None) -> CollectorRegistry:
    if metrics_dir is None:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=metrics_dir)
    return registry


class ReadModelCollector(Collector):
    def __init__(self, services: Services) -> None:
        self.app = services.app
        self.engine = services.engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        head = GaugeMetricFamily("docket_event_store_head", "The last notification id in the event store")
        head.add_metric([], self.app.recorder.max_notification_id() or 0)
        yield head
        position = GaugeMetricFamily("docket_projection_position", "The last notification id a projection applied", labels=["projection"])
        lag = GaugeMetricFamily("docket_projection_lag_events", "Events a projection has yet to apply", labels=["projection"])
        for projection in status(self.app):
            position.add_metric([projection.name], projection.position)
            lag.add_metric([projection.name], projection.lag)
        relayed = tracking_recorder(self.app.recorder.datastore, RELAY).max_tracking_id(self.app.name) or 0
        relay_lag = max(head_of(self.app, TICKET_TOPICS) - relayed, 0)
        position.add_metric(["relay"], relayed)
        lag.add_metric(["relay"], relay_lag)
        yield position
        yield lag
        yield GaugeMetricFamily("docket_relay_position", "The last notification id JetStream acknowledged to the relay", value=relayed)
        yield GaugeMetricFamily("docket_relay_lag_events", "Ticket events the relay has yet to publish to JetStream", value=relay_lag)
        yield GaugeMetricFamily(
            "docket_relay_stalled_seconds",
            "How long the relay has been unable to publish; 0 while it publishes",
            value=stalled_for(self.engine),
        )
        timers = GaugeMetricFamily("docket_sla_timers", "Open SLA deadlines: the scheduler holds a timer for each")
        timers.add_metric([], count_open_deadlines(self.engine))
        yield timers


def stalled_for(engine: Engine) -> float:
    """Seconds since the relay's stall began; 0 when it is not stalled."""
    with engine.connect() as conn:
        stalls = relay_stalls(conn)
    return max((datetime.now(UTC) - stall.since).total_seconds() for stall in stalls) if stalls else 0.0

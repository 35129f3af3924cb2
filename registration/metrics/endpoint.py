"""The `/metrics` endpoint: who may scrape, and what a scrape collects."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import CollectorRegistry
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector

from registration.config import Settings
from registration.database import Database
from registration.metrics.counters import counter_collectors, http_response
from registration.metrics.facts import DatabaseFacts
from registration.metrics.multiprocess import MULTIPROCESS
from registration.metrics.pool import pool_collectors, watch_pool
from registration.session import get_db, get_settings

METRICS_ENDPOINT = "metrics.metrics"

bp = Blueprint("metrics", __name__)


def process_collectors() -> list[Collector]:
    """This process's metrics, for a scrape without multiprocess mode."""
    return [*counter_collectors(), *pool_collectors()]


def parse_networks(
    entries: Iterable[str],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def address_allowed(
    address: str | None,
    networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> bool:
    """Whether a client address lies in an allowed network; an IPv4 client seen on an
    IPv6 socket (::ffff:a.b.c.d) counts as its IPv4 address."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return any(
        candidate in network
        for candidate in candidates
        for network in networks
        if candidate.version == network.version
    )


def scrape_allowed(settings: Settings) -> bool:
    """A bearer token, when one is sent, must be the configured one (compared in
    constant time); without one, the client address must be allowed. The address is
    REMOTE_ADDR after ProxyFix: a request through the proxy carries the real client's."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, presented = header.partition(" ")
        expected = settings.metrics_token
        return (
            bool(expected)
            and scheme.lower() == "bearer"
            and hmac.compare_digest(presented.strip().encode(), expected.encode())
        )
    networks = current_app.extensions["gastregister.metrics_networks"]
    return address_allowed(request.remote_addr, networks)


def scrape_registry(database: Database, settings: Settings) -> CollectorRegistry:
    registry = CollectorRegistry()
    if MULTIPROCESS:
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # unannotated in prometheus_client
    else:
        for collector in process_collectors():
            registry.register(collector)
    registry.register(DatabaseFacts(database, settings))
    return registry


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format; a 404 like any unknown page for everyone not allowed."""
    settings = get_settings()
    if not scrape_allowed(settings):
        abort(404)
    body = generate_latest(scrape_registry(get_db(), settings))
    response = Response(body, mimetype=None, content_type=CONTENT_TYPE_PLAIN_0_0_4)
    response.headers["Cache-Control"] = "no-store"
    return response


def count_response(response: Response) -> Response:
    if request.endpoint != METRICS_ENDPOINT:
        http_response(response.status_code)
    return response


def register_metrics(app: Flask, settings: Settings) -> None:
    """The endpoint, the response counter, and the pool gauges of this app's engine."""
    from registration.extensions import csrf, limiter

    app.extensions["gastregister.metrics_networks"] = parse_networks(settings.metrics_allow)
    csrf.exempt(bp)
    limiter.exempt(bp)
    app.register_blueprint(bp)
    app.after_request(count_response)

    database: Database = app.extensions["gastregister.db"]
    pool = database.engine.pool

    # Watched from the first request on: a process that never serves (the CLI) never
    # writes a pool gauge, whose file would outlive it in the multiprocess folder.
    @app.before_request
    def watch_pool_once() -> None:
        watch_pool(pool)

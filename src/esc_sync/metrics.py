"""Prometheus metrics and a health check for `esc-sync run --metrics-port N`.

`/metrics` is the Prometheus text format; `/healthz` answers 200 while the last successful
cycle of every connector is recent, and 503 once one is older than the bound (3 poll intervals
by default) — or when none has succeeded within the bound since start.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from esc_sync.apply.results import CycleReport
from esc_sync.connectors.base import Connector, ObservableConnector, Page

NS = "esc_sync"


class Metrics:
    """The worker's counters and gauges, in a registry of their own."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.started = clock()
        self.registry = CollectorRegistry()
        r, c = self.registry, ["connector"]
        self.tickets_read = Counter(
            f"{NS}_tickets_read", "Tickets read from the change feed", c, registry=r
        )
        self.decisions = Counter(
            f"{NS}_decisions", "Tickets decided, by outcome", [*c, "outcome"], registry=r
        )
        self.escalations = Counter(
            f"{NS}_escalations",
            "Rules fired, by rule and target tier",
            [*c, "rule", "tier"],
            registry=r,
        )
        self.writes = Counter(
            f"{NS}_writes", "Writes, by kind and outcome", [*c, "kind", "outcome"], registry=r
        )
        self.notifications = Counter(
            f"{NS}_notifications",
            "Messages to notification channels, by event and outcome (sent, failed, withheld)",
            ["channel", "event", "outcome"],
            registry=r,
        )
        self.api_calls = Counter(
            f"{NS}_api_calls", "Helpdesk API requests, by endpoint", [*c, "endpoint"], registry=r
        )
        self.rate_limited = Counter(
            f"{NS}_api_rate_limited", "Helpdesk API answers 429 Too Many Requests", c, registry=r
        )
        self.cycles = Counter(f"{NS}_cycles", "Successful cycles", c, registry=r)
        self.deferred = Counter(
            f"{NS}_deferred_tickets",
            "Tickets whose write failed for now, left to the next cycle",
            c,
            registry=r,
        )
        self.bookmark_lag = Gauge(
            f"{NS}_bookmark_lag_seconds",
            "How far behind the change feed the last page read was (0 when caught up)",
            c,
            registry=r,
        )
        self.due_index = Gauge(f"{NS}_due_index_size", "Tickets in the due index", c, registry=r)
        self.last_success = Gauge(
            f"{NS}_last_success_timestamp_seconds",
            "Unix time the last successful cycle ended",
            c,
            registry=r,
        )
        self.webhooks = Counter(
            f"{NS}_webhook_deliveries",
            "Webhook deliveries, by the status answered (202 accepted)",
            [*c, "status"],
            registry=r,
        )
        self._success: dict[str, float] = {}
        self._lock = threading.Lock()

    def register(self, connectors: Iterable[Connector]) -> None:
        """Create every per-connector series at 0, so a scrape shows them before a cycle."""
        for conn in connectors:
            self.tickets_read.labels(conn.name)
            self.rate_limited.labels(conn.name)
            self.cycles.labels(conn.name)
            self.deferred.labels(conn.name)
            self.bookmark_lag.labels(conn.name)
            self.due_index.labels(conn.name).set(0)
            watch_rate_limits(conn, self.rate_limited.labels(conn.name).inc)

    def on_page(self, connector: Connector, page: Page) -> None:
        """A page of the change feed: count tickets, and how old its newest change is."""
        name = connector.name
        self.tickets_read.labels(name).inc(len(page.tickets))
        stamps = [t.updated_at for t in page.tickets if t.updated_at is not None]
        if page.end_of_stream or not stamps:
            self.bookmark_lag.labels(name).set(0)
        else:
            newest = max(stamps)
            self.bookmark_lag.labels(name).set(max(self.clock() - newest.timestamp(), 0.0))

    def on_record(self, record: dict[str, Any]) -> None:
        """An audit record: a decision, and the rules it fired."""
        name = str(record.get("connector"))
        outcome = str(record.get("outcome"))
        message = record.get("notification")
        if isinstance(message, dict):  # one message to a channel, sent or failed
            sent = outcome.removeprefix("notification-")
            self.notifications.labels(message["channel"], message["event"], sent).inc()
            return
        self.decisions.labels(name, outcome).inc()
        if outcome == "deferred":
            self.deferred.labels(name).inc()
        tier = str(record.get("tier_to") or "none")
        if outcome in ("applied", "dry-run"):
            for rule in record.get("rules") or []:
                self.escalations.labels(name, str(rule.get("rule")), tier).inc()
        withheld = (record.get("calls") or {}).get("withheld") or []
        for call in withheld:
            if str(call).startswith("NOTIFY "):  # "NOTIFY <channel> <event>" in a dry run
                _, channel, event = str(call).split(" ", 2)
                self.notifications.labels(channel, event, "withheld").inc()
                continue
            kind = "task" if str(call).startswith("POST task") else "ticket_update"
            self.writes.labels(name, kind, "withheld").inc()

    def on_webhook(self, connector: str, status: int) -> None:
        """Count one webhook delivery by its answer (unknown connectors under "")."""
        self.webhooks.labels(connector, str(status)).inc()

    def on_cycle(self, report: CycleReport, due_index_size: int = 0) -> None:
        """A cycle ended well: writes, API calls, the due index and the success time."""
        name = report.connector
        self.writes.labels(name, "ticket_update", "applied").inc(report.updates)
        self.writes.labels(name, "task", "applied").inc(report.tasks_created)
        self.writes.labels(name, "ticket_update", "conflict").inc(report.conflicts)
        self.writes.labels(name, "ticket", "skipped").inc(report.skipped)
        for endpoint, count in report.calls.items():
            self.api_calls.labels(name, endpoint).inc(count)
        self.due_index.labels(name).set(due_index_size)
        now = self.clock()
        self.cycles.labels(name).inc()
        self.last_success.labels(name).set(now)
        with self._lock:
            self._success[name] = now

    def health(
        self, bound_seconds: float, connectors: Iterable[str]
    ) -> tuple[bool, dict[str, Any]]:
        """Healthy when every connector succeeded within the bound (or start is that recent)."""
        now = self.clock()
        detail: dict[str, Any] = {"bound_seconds": bound_seconds, "connectors": {}}
        healthy = True
        with self._lock:
            for name in connectors:
                last = self._success.get(name)
                age = now - (last if last is not None else self.started)
                ok = age <= bound_seconds
                healthy = healthy and ok
                detail["connectors"][name] = {
                    "ok": ok,
                    "last_success": _iso(last),
                    "age_seconds": round(age, 1),
                }
        detail["status"] = "ok" if healthy else "unhealthy"
        return healthy, detail

    def exposition(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self.registry)


def _iso(ts: float | None) -> str | None:
    """A Unix time as ISO-8601 UTC."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def watch_rate_limits(connector: Connector, on_429: Callable[[], None]) -> bool:
    """Count 429 answers (retried ones included) with a response hook, if the connector has one."""
    if not isinstance(connector, ObservableConnector):
        return False

    def hook(status: int, method: str, path: str) -> None:
        """Count a 429."""
        if status == 429:
            on_429()

    connector.add_response_hook(hook)
    return True


class MetricsServer:
    """`/metrics` and `/healthz` on a background thread."""

    def __init__(
        self,
        metrics: Metrics,
        connectors: list[str],
        *,
        port: int,
        host: str = "127.0.0.1",
        bound_seconds: float = 90.0,
    ) -> None:
        self.metrics = metrics
        self.connectors = connectors
        self.bound = bound_seconds
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="metrics", daemon=True)

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return int(self.httpd.server_address[1])

    def start(self) -> MetricsServer:
        """Serve in the background."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        """A request handler bound to this server's metrics."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            """GET /metrics, GET /healthz."""

            def do_GET(self) -> None:
                """Serve one scrape or health check."""
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, server.metrics.exposition(), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    ok, detail = server.metrics.health(server.bound, server.connectors)
                    body = json.dumps(detail).encode()
                    self._send(200 if ok else 503, body, "application/json")
                else:
                    self._send(404, b"not found: try /metrics or /healthz\n", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                """Write a response."""
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Scrapes are not worth a log line."""

        return Handler

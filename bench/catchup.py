"""End-to-end catch-up (the tick use case over real adapters) and emission alone."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from dagster import DagsterInstance
from openlineage.client import OpenLineageClient
from openlineage.client.transport.http import HttpConfig, HttpTransport

from ol_dagster.adapters.asset_catalog import AssetCatalog
from ol_dagster.adapters.dagster_events import DagsterEventSource
from ol_dagster.adapters.http_batch import HttpBatchConfig, HttpBatchTransport
from ol_dagster.adapters.json_cursor import JsonCursorStore
from ol_dagster.adapters.openlineage_emitter import OpenLineageEmitter
from ol_dagster.app.tick import TickBudget, TickReport, run_tick
from ol_dagster.domain.lineage import Emittable, LineageEvent
from ol_dagster.domain.ports import EmitResult, Emitter, EventSource
from ol_dagster.domain.translate import Translator

ENGINE_VERSION = "bench"
MAX_TICKS = 10_000


class DiscardEmitter:
    """Accepts everything and sends nothing: the cost of ol-dagster without a backend."""

    batch_size = 1

    def __init__(self) -> None:
        self.accepted = 0

    def emit(self, events: Sequence[Emittable], *, deadline: float = math.inf) -> EmitResult:
        self.accepted += len(events)
        return EmitResult(accepted=len(events))

    def emit_encoded(self, events: Sequence[str], *, deadline: float = math.inf) -> EmitResult:
        return EmitResult(accepted=len(events))


@dataclass(slots=True)
class StringCursor:
    """The sensor's cursor string, held in memory."""

    text: str | None = None

    def store(self, source: EventSource) -> JsonCursorStore:
        return JsonCursorStore(
            read=lambda: self.text, write=self._write, positions=source.position_from_json
        )

    def _write(self, text: str) -> None:
        self.text = text


@dataclass(slots=True)
class CatchUp:
    records: int = 0
    events: int = 0
    ticks: int = 0
    reports: list[TickReport] = field(default_factory=list)


def tick(
    instance: DagsterInstance, cursor: StringCursor, emitter: Emitter, budget: TickBudget
) -> TickReport:
    """One sensor tick as the sensor wires it, with the cursor carried in `cursor`."""
    source = DagsterEventSource(instance, AssetCatalog(None))
    return run_tick(
        source=source,
        cursor=cursor.store(source),
        emitter=emitter,
        translator=Translator("default"),
        budget=budget,
    )


def catch_up(
    instance: DagsterInstance, emitter: Emitter, page: int, cursor: StringCursor | None = None
) -> CatchUp:
    """Ticks from `cursor` (a fresh one by default) until a tick reports it caught up."""
    cursor = cursor if cursor is not None else StringCursor()
    budget = TickBudget(page_size=page, seconds=10**9)
    done = CatchUp()
    while done.ticks < MAX_TICKS:
        report = tick(instance, cursor, emitter, budget)
        done.ticks += 1
        done.records += report.records_read
        done.events += report.events_emitted
        done.reports.append(report)
        if report.failure is not None:
            raise RuntimeError(f"the catch-up failed: {report.summary()}")
        if report.caught_up:
            return done
    raise RuntimeError(f"not caught up after {MAX_TICKS} ticks")


# -- clients ----------------------------------------------------------------------------------


def stock_client(url: str) -> OpenLineageClient:
    return OpenLineageClient(transport=HttpTransport(HttpConfig.from_dict({"url": url})))


BATCH_SIZE = HttpBatchConfig(url="http://127.0.0.1").batch_size
"""The batch transport's default events per request, which the benchmark uses."""


def batch_client(url: str) -> OpenLineageClient:
    """A client over ol-dagster's HttpBatchTransport with its default batch size."""
    return OpenLineageClient(transport=HttpBatchTransport(HttpBatchConfig(url=url)))


def emitter_of(client: OpenLineageClient) -> OpenLineageEmitter:
    return OpenLineageEmitter(client, ENGINE_VERSION)


# -- emission alone ---------------------------------------------------------------------------


def run_key(event: LineageEvent) -> str:
    """The Dagster run an event belongs to: its job run's id, for a step as for the job."""
    return event.parent.root_run_id if event.parent is not None else event.run_id


def emit_in_threads(events: Sequence[LineageEvent], clients: Sequence[OpenLineageClient]) -> int:
    """Emits with one thread per client, each taking whole runs, so each run's order is kept."""
    shares: list[list[LineageEvent]] = [[] for _ in clients]
    owner: dict[str, int] = {}
    for event in events:
        share = owner.setdefault(run_key(event), len(owner) % len(clients))
        shares[share].append(event)
    results: list[EmitResult] = []

    def send(client: OpenLineageClient, share: list[LineageEvent]) -> None:
        results.append(emitter_of(client).emit(share))

    # Daemon threads: an interrupted benchmark exits without waiting for their retries.
    threads = [
        threading.Thread(target=send, args=(client, share), daemon=True)
        for client, share in zip(clients, shares, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failures = [r.failure for r in results if r.failure is not None]
    if failures or len(results) != len(clients):
        raise RuntimeError(f"threaded emission failed: {failures}")
    return sum(r.accepted for r in results)


def emit_all(emitter: Emitter, events: Sequence[LineageEvent]) -> int:
    result = emitter.emit(events)
    if result.failure is not None:
        raise RuntimeError(f"emission failed: {result.failure}")
    return result.accepted

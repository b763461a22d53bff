"""The throughput sections: per storage, reading versus catching up; then emission alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from openlineage.client import OpenLineageClient

from bench.backend_process import BackendProcess
from bench.backlog import Backlog
from bench.catchup import (
    BATCH_SIZE,
    CatchUp,
    DiscardEmitter,
    StringCursor,
    batch_client,
    catch_up,
    emit_all,
    emit_in_threads,
    emitter_of,
    stock_client,
)
from bench.measure import Rate, median_rate, python_peak_bytes
from bench.reading import raw_read, source_read
from bench.translation import lineage_events
from ol_dagster.domain.ports import Emitter

PAGE = 500
"""The page size of the headline figures."""
SENSOR_PAGE = 30
"""The sensor's default `record_filter_limit`."""
EMIT_THREADS = 4
REMOTE_SECONDS = 0.005
"""How long the backend takes to answer in the emission figures of a remote backend."""


def _line(label: str, rate: Rate, unit: str, versus: Rate | None = None, base: str = "") -> None:
    """`versus`: the rate the ratio is to, unless `rate` was paired with it (`median_rate`)."""
    paired = rate.paired
    value = paired if paired is not None else rate.ratio(versus) if versus is not None else None
    ratio = f"  {value:5.2f} x {base}" if value is not None else ""
    reps = f"  (median of {rate.repeat})" if rate.repeat > 1 else "  (1 run)"
    print(f"  {label:<58} {rate.per_second:>7,.0f} {unit}{ratio}{reps}")


class _Checked:
    """Catch-ups whose every repetition must send exactly the events a discarding one counted."""

    def __init__(self, backlog: Backlog, backend: BackendProcess, expected: CatchUp) -> None:
        self.backlog, self.backend, self.expected = backlog, backend, expected

    def rate(
        self, emitter: Callable[[], Emitter], page: int, repeat: int, raw: Callable[[], int]
    ) -> Rate:
        def action() -> int:
            return catch_up(self.backlog.instance, emitter(), page).records

        def check(records: int) -> None:
            received = self.backend.received()
            self.backend.reset()
            if (received, records) != (self.expected.events, self.expected.records):
                raise RuntimeError(
                    f"{self.backlog.name}: the backend received {received:,} events for "
                    f"{records:,} records; expected {self.expected.events:,} for "
                    f"{self.expected.records:,}"
                )

        self.backend.reset()
        return median_rate(action, repeat, check, raw)


def storage_figures(
    backlog: Backlog, backend: BackendProcess, repeat: int, slow_repeat: int
) -> None:
    instance = backlog.instance
    expected = catch_up(instance, DiscardEmitter(), PAGE)  # warms caches, counts the events
    print(
        f"\n== {backlog.name}: {expected.records:,} records to catch up, "
        f"{expected.events:,} events, pages of {PAGE}; each ratio to the raw read is the median "
        "of each repetition's over a raw read just before it"
    )

    def read_raw() -> int:
        return raw_read(instance, PAGE)

    raw = median_rate(read_raw, repeat)
    if raw.count != expected.records:
        print(f"  note: raw read found {raw.count:,} records, the catch-up {expected.records:,}")
    _line("raw read (Dagster API, EVENT_TYPES filter)", raw, "records/s")
    raw_page = median_rate(lambda: raw_read(instance, SENSOR_PAGE), repeat, reference=read_raw)
    _line(
        f"raw read, page {SENSOR_PAGE}: the ceiling of any reader at the default",
        raw_page,
        "records/s",
        raw,
        "raw",
    )
    _line(
        "DagsterEventSource.read alone",
        median_rate(lambda: source_read(instance, PAGE), repeat, reference=read_raw),
        "records/s",
        raw,
        "raw",
    )
    _line(
        "catch-up (run_tick), discarding emitter",
        median_rate(
            lambda: catch_up(instance, DiscardEmitter(), PAGE).records, repeat, reference=read_raw
        ),
        "records/s",
        raw,
        "raw",
    )
    discard_page = median_rate(
        lambda: catch_up(instance, DiscardEmitter(), SENSOR_PAGE).records,
        repeat,
        reference=read_raw,
    )
    _line(
        f"catch-up, discarding emitter, page {SENSOR_PAGE}", discard_page, "records/s", raw, "raw"
    )
    print(
        f"  one page of {SENSOR_PAGE}: {_page_ms(raw_page):.1f} ms the raw read, "
        f"{_page_ms(discard_page):.1f} ms read, translated and its cursor saved "
        f"(of {PAGE}: {_page_ms(raw, PAGE):.1f} ms raw)"
    )
    checked = _Checked(backlog, backend, expected)

    def stock() -> Emitter:
        return emitter_of(stock_client(backend.url))

    _line(
        "catch-up, stock HttpTransport",
        checked.rate(stock, PAGE, slow_repeat, read_raw),
        "records/s",
        raw,
        "raw",
    )
    _line(
        f"catch-up, stock HttpTransport, page {SENSOR_PAGE} (sensor default)",
        checked.rate(stock, SENSOR_PAGE, slow_repeat, read_raw),
        "records/s",
        raw,
        "raw",
    )

    def batched() -> Emitter:
        return emitter_of(batch_client(backend.url))

    _line(
        f"catch-up, HttpBatchTransport ({BATCH_SIZE} events a request)",
        checked.rate(batched, PAGE, repeat, read_raw),
        "records/s",
        raw,
        "raw",
    )
    _line(
        f"catch-up, HttpBatchTransport, page {SENSOR_PAGE} (sensor default: {BATCH_SIZE} sent)",
        checked.rate(batched, SENSOR_PAGE, slow_repeat, read_raw),
        "records/s",
        raw,
        "raw",
    )
    _memory(backlog)


def _page_ms(rate: Rate, page: int = SENSOR_PAGE) -> float:
    return 1000 * page / rate.per_second


def _memory(backlog: Backlog) -> None:
    cursor = StringCursor()
    peak = python_peak_bytes(lambda: catch_up(backlog.instance, DiscardEmitter(), PAGE, cursor))
    size = len(cursor.text or "")
    print(
        f"  peak Python memory of one catch-up (tracemalloc, discarding emitter, untimed): "
        f"{peak / 2**20:.1f} MiB; cursor once caught up: {size:,} bytes"
    )


def emission_figures(backend: BackendProcess, runs: int, repeat: int) -> None:
    events = lineage_events(runs, steps=10)
    print(
        f"\n== emission alone: {len(events):,} prebuilt events of {runs} runs of a 10-op job, "
        f"to the backend process"
    )

    def rate(action: Callable[[], int]) -> Rate:
        return rate_of(events, action)

    def rate_of(sent: Sequence[object], action: Callable[[], int]) -> Rate:
        def check(count: int) -> None:
            received = backend.received()
            backend.reset()
            if received != count or count != len(sent):
                raise RuntimeError(f"emitted {len(sent):,} events, the backend has {received:,}")

        backend.reset()
        return median_rate(action, repeat, check)

    one = emitter_of(stock_client(backend.url))
    single = rate(lambda: emit_all(one, events))
    _line("one by one, stock http", single, "events/s")
    clients: list[OpenLineageClient] = [stock_client(backend.url) for _ in range(EMIT_THREADS)]
    threaded = rate(lambda: emit_in_threads(events, clients))
    _line(
        f"{EMIT_THREADS} threads, an emitter each, runs split among them",
        threaded,
        "events/s",
        single,
        "one by one",
    )
    remote = events[: len(events) // 4]
    backend.answer_after(REMOTE_SECONDS)
    try:
        _line(
            f"one by one, stock http, a backend answering after {REMOTE_SECONDS * 1000:.0f} ms",
            rate_of(remote, lambda: emit_all(one, remote)),
            "events/s",
            single,
            "one by one",
        )
        _line(
            f"batched, a backend answering after {REMOTE_SECONDS * 1000:.0f} ms",
            rate_of(remote, lambda: emit_all(emitter_of(batch_client(backend.url)), remote)),
            "events/s",
            single,
            "one by one",
        )
    finally:
        backend.answer_after(0)
    batched = emitter_of(batch_client(backend.url))
    _line(
        f"batched, HttpBatchTransport ({BATCH_SIZE} a request)",
        rate(lambda: emit_all(batched, events)),
        "events/s",
        single,
        "one by one",
    )

"""Steady-state lag: how far the sensor trails an instance that keeps executing runs.

A child process executes runs of the 10-op job back to back against the instance while this one
ticks the sensor's use case every `interval` seconds, with the sensor's defaults (30 records a
page, a 30 s tick budget, openlineage-python's stock HTTP transport), the cursor carried from
tick to tick. Around each tick: what the event log holds beyond the cursor.
"""

from __future__ import annotations

import json
import time

from dagster import DagsterInstance

from bench.backlog import Backlog, child, workload_command
from bench.catchup import DiscardEmitter, StringCursor, catch_up, emitter_of, stock_client, tick
from bench.reading import unread
from ol_dagster.adapters.asset_catalog import AssetCatalog
from ol_dagster.adapters.dagster_events import DagsterEventSource
from ol_dagster.adapters.json_cursor import Positions, decode
from ol_dagster.app.tick import TickBudget
from ol_dagster.domain.ports import Emitter

SENSOR_PAGE = 30
SENSOR_BUDGET_SECONDS = 30.0
# The load stops by itself this long after the last tick was due: long enough to cover that
# tick, bounded whatever happens to this process.
LOAD_MARGIN_SECONDS = 15.0


def _trail(instance: DagsterInstance, cursor: StringCursor, positions: Positions) -> str:
    assert cursor.text is not None
    behind = unread(instance, decode(cursor.text, time.time(), positions).position)
    if behind.oldest is None:
        return "0 records unread"
    records = f"{behind.records:,} record{'s' if behind.records > 1 else ''}"
    return f"{records} unread, oldest {time.time() - behind.oldest:.1f} s old"


def steady_state_lag(backlog: Backlog, url: str, interval: float, ticks: int) -> None:
    instance = backlog.instance
    cursor = StringCursor()
    catch_up(instance, DiscardEmitter(), SENSOR_PAGE, cursor)  # the backlog is not the point
    emitter = emitter_of(stock_client(url))
    budget = TickBudget(page_size=SENSOR_PAGE, seconds=SENSOR_BUDGET_SECONDS)
    stop_file = backlog.home / "stop-load"
    limit = interval * ticks + LOAD_MARGIN_SECONDS
    with child(workload_command(backlog.home, 10**6, 0, limit, stop_file)) as load:
        assert load.stdout is not None
        load.stdout.readline()  # the child has opened the instance and starts executing runs
        start = time.monotonic()
        for number in range(1, ticks + 1):
            time.sleep(max(0.0, start + number * interval - time.monotonic()))
            _tick(number, time.monotonic() - start, instance, cursor, emitter, budget)
        stop_file.touch()
        load.wait(timeout=LOAD_MARGIN_SECONDS + 60)
        summary = json.loads(load.stdout.read().strip().splitlines()[-1])
    print(
        f"  the load executed {summary['runs']} runs in {summary['seconds']:.0f} s "
        f"({summary['runs'] / summary['seconds']:.1f} runs/s, start-up included)"
    )


def _tick(
    number: int,
    at: float,
    instance: DagsterInstance,
    cursor: StringCursor,
    emitter: Emitter,
    budget: TickBudget,
) -> None:
    positions = DagsterEventSource(instance, AssetCatalog(None)).position_from_json
    before = _trail(instance, cursor, positions)
    began = time.perf_counter()
    report = tick(instance, cursor, emitter, budget)
    took = time.perf_counter() - began
    after = _trail(instance, cursor, positions)
    print(
        f"  tick {number} due at {at:5.1f} s: before: {before}\n"
        f"      the tick read {report.records_read:,} records in {report.pages} pages, emitted "
        f"{report.events_emitted:,} events in {took:.1f} s "
        f"({'caught up' if report.caught_up else 'more to read'}); after: {after}"
    )

"""Reading the event log with Dagster's API alone, the way DagsterEventSource does, without
translating: the floor any catch-up is measured against."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from dagster import (
    DagsterEventType,
    DagsterInstance,
    EventLogEntry,
    RunStatusChangeRecordsFilter,
)

from ol_dagster.adapters.asset_catalog import AssetCatalog
from ol_dagster.adapters.dagster_compat import run_records_cursor
from ol_dagster.adapters.dagster_events import (
    EVENT_TYPES,
    DagsterEventSource,
    GlobalPosition,
    PerRunPosition,
)
from ol_dagster.domain.ports import Position


def _all_runs_pages(instance: DagsterInstance, after: int, page: int) -> Iterator[list[float]]:
    """Global storage id: pages of the timestamps of every record of EVENT_TYPES after `after`."""
    storage = instance.event_log_storage
    while True:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            entries = storage.get_logs_for_all_runs_by_log_id(
                after_cursor=after, dagster_event_type=set(EVENT_TYPES), limit=page
            )
        yield [entry.timestamp for entry in entries.values()]
        if len(entries) < page:
            return
        after = max(entries)


def _started_runs(instance: DagsterInstance, after: int, page: int) -> Iterator[str]:
    """Run-sharded storage: the runs the run-status index saw start after `after`."""
    while True:
        result = instance.fetch_run_status_changes(
            RunStatusChangeRecordsFilter(DagsterEventType.RUN_START, after_storage_id=after),
            limit=page,
            ascending=True,
        )
        yield from (record.run_id for record in result.records)
        if not result.has_more or not result.records:
            return
        after = result.records[-1].storage_id


def _run_pages(
    instance: DagsterInstance, run_id: str, after: int, page: int
) -> Iterator[list[EventLogEntry]]:
    """Run-sharded storage: pages of one run's records of EVENT_TYPES after storage id `after`."""
    while True:
        connection = instance.get_records_for_run(
            run_id,
            cursor=run_records_cursor(after),
            of_type=set(EVENT_TYPES),
            limit=page,
        )
        yield [record.event_log_entry for record in connection.records]
        if not connection.has_more or not connection.records:
            return
        after = connection.records[-1].storage_id


def raw_read(instance: DagsterInstance, page: int) -> int:
    """Reads every record of EVENT_TYPES page after page; returns how many."""
    if instance.event_log_storage.is_run_sharded:
        return sum(
            len(entries)
            for run_id in _started_runs(instance, 0, page)
            for entries in _run_pages(instance, run_id, 0, page)
        )
    return sum(len(stamps) for stamps in _all_runs_pages(instance, 0, page))


def source_read(instance: DagsterInstance, page: int) -> int:
    """DagsterEventSource.read page after page from the start: reading plus conversion."""
    source = DagsterEventSource(instance, AssetCatalog(None))
    position, total = source.initial_position(0), 0
    while True:
        batch = source.read(position, page)
        total += len(batch.records)
        if len(batch.records) < page:
            return total
        position = batch.position_after(len(batch.records))


@dataclass(frozen=True, slots=True)
class Unread:
    records: int
    oldest: float | None
    """Timestamp of the oldest unread record."""


def unread(instance: DagsterInstance, position: Position, page: int = 500) -> Unread:
    """What the event log holds of EVENT_TYPES beyond a cursor's position, read with Dagster's
    API rather than through the source under test."""
    stamps: list[float] = []
    if isinstance(position, PerRunPosition):
        for run_id, last in position.runs.items():
            for entries in _run_pages(instance, run_id, last, page):
                stamps.extend(entry.timestamp for entry in entries)
        for run_id in _started_runs(instance, position.index, page):
            for entries in _run_pages(instance, run_id, 0, page):
                stamps.extend(entry.timestamp for entry in entries)
    else:
        assert isinstance(position, GlobalPosition)
        for page_stamps in _all_runs_pages(instance, position.after, page):
            stamps.extend(page_stamps)
    return Unread(len(stamps), min(stamps, default=None))

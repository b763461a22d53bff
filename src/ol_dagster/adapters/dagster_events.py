"""EventSource over a DagsterInstance, with one reading strategy per kind of event-log storage.

- Storages with one global, increasing storage id (consolidated SQLite, PostgreSQL, MySQL) are
  read in storage-id order across all runs: the position is the last storage id done with.
- Dagster's default SQLite storage keeps one database per run and mirrors only run-status events
  into an index shard, so a global storage id misses every step event. There the source learns of
  runs from the run-status index and reads each open run's own records: the position is the
  index's storage id plus, for each run still open, the last storage id read in its shard.
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Literal, TypeGuard, TypeVar

from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    EventLogEntry,
    RunsFilter,
    RunStatusChangeRecordsFilter,
    deserialize_value,
)
from dagster_shared.error import SerializableErrorInfo

from ol_dagster.adapters.asset_catalog import AssetCatalog
from ol_dagster.adapters.dagster_compat import (
    UNREADABLE_RECORD,
    commits_out_of_id_order,
    committed_among,
    committed_ids,
    event_rows,
    run_event_rows,
    run_records_cursor,
    warn_once,
)
from ol_dagster.domain.datasets import Dataset
from ol_dagster.domain.errors import CursorError, OlDagsterError
from ol_dagster.domain.ports import Batch
from ol_dagster.domain.positions import (
    GAP_WAIT_SECONDS,
    GIVEN_UP_WATCH_SECONDS,
    LEGACY_STRATEGY,
    MAX_STORAGE_ID,
    JsonValue,
    Position,
)
from ol_dagster.domain.records import (
    NO_RUN_FACTS,
    RUN_END_KINDS,
    DagsterRecord,
    ErrorDetail,
    JobDocs,
    RecordKind,
    RunFacts,
    RunLink,
)

logger = logging.getLogger("ol_dagster")

EVENT_TYPES = frozenset(DagsterEventType[kind.value] for kind in RecordKind)
_EVENT_TYPE_VALUES = frozenset(event_type.value for event_type in EVENT_TYPES)
"""As the event log's `dagster_event_type` column stores them (RUN_START is PIPELINE_START)."""
_TYPE_VALUES = sorted(_EVENT_TYPE_VALUES)
_RUN_END_NAMES = frozenset(kind.value for kind in RUN_END_KINDS)
# Dagster names the repository of a code location built from `Definitions` like this; the name the
# user chose is then the code location's.
_PLACEHOLDER_REPOSITORY = "__repository__"

GLOBAL = "storage_id"
PER_RUN = "per_run"
_P = TypeVar("_P", "GlobalPosition", "PerRunPosition")


def location_of(run: DagsterRun | None) -> str | None:
    """The run's repository name, or its code location's when the repository has no real name."""
    origin = run.remote_job_origin if run is not None else None
    if origin is None:
        return None
    repository = origin.repository_origin.repository_name
    if repository and repository != _PLACEHOLDER_REPOSITORY:
        return repository
    return origin.repository_origin.code_location_origin.location_name or None


def _error_of(entry: EventLogEntry) -> ErrorDetail | None:
    event = entry.dagster_event
    error = getattr(event.event_specific_data, "error", None) if event is not None else None
    if not isinstance(error, SerializableErrorInfo):
        return None
    message = error.message.strip()
    cause = error.cause
    while cause is not None:  # Dagster wraps user errors (retries, ...): name the root cause too
        text = cause.message.strip()
        # Dagster's message of an exception already begins with its class name, mostly
        named = text if text.startswith(f"{cause.cls_name}:") else f"{cause.cls_name}: {text}"
        message = f"{message} (caused by {named})"
        cause = cause.cause
    return ErrorDetail(message=message, stack_trace=error.to_string())


_PLAIN_TYPES = {
    event_type.value: event_type
    for event_type in (
        DagsterEventType.RUN_START,
        DagsterEventType.RUN_SUCCESS,
        DagsterEventType.STEP_START,
        DagsterEventType.STEP_SUCCESS,
    )
}
"""Event types whose records the source needs nothing of beyond the fields every record has (run,
job, step, time): 9 in 10 of a job's records, read from their JSON without Dagster's objects."""


@dataclass(frozen=True, slots=True)
class _Entry:
    """A record of the event log as the source reads it: the fields every record has, and for a
    record whose event-specific data is read (errors, assets), Dagster's own `EventLogEntry`."""

    run_id: str
    job_name: str
    step_key: str | None
    timestamp: float
    event_type: DagsterEventType | None
    full: EventLogEntry | None = None

    @classmethod
    def of(cls, entry: EventLogEntry) -> _Entry:
        return cls(
            entry.run_id,
            entry.job_name or "",
            entry.step_key,
            entry.timestamp,
            entry.dagster_event_type,
            entry,
        )


def _decode(storage_id: int, text: str, stored_type: str) -> _Entry:
    """A record from the JSON Dagster stored (`stored_type`: its `dagster_event_type` column): a
    record of `_PLAIN_TYPES` as its JSON reads (at a fifth of the cost); any other, or one whose
    JSON is not as expected, through Dagster's own `deserialize_value`, as Dagster's API reads
    it. The plain records' event-specific data and error are not read: where Dagster would turn
    a record whose data it cannot read into an ENGINE_EVENT, the record keeps its type here. One
    that Dagster cannot read at all (from a newer Dagster, say) comes out with no event type:
    the tick skips it, naming it."""
    if stored_type in _PLAIN_TYPES:
        try:
            plain = _plain(json.loads(text))
        except ValueError:
            plain = None
        if plain is not None:
            return plain
    try:
        return _Entry.of(deserialize_value(text, EventLogEntry))
    except UNREADABLE_RECORD as error:
        logger.warning("ol-dagster: Dagster cannot read storage id %d: %s", storage_id, error)
        return _unreadable(text)


def _unreadable(text: str) -> _Entry:
    """A record with no event type, of the run and time its JSON names, if it can be read."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    run_id, at = (data.get("run_id"), data.get("timestamp")) if isinstance(data, dict) else ("", 0)
    return _Entry(
        run_id if isinstance(run_id, str) else "",
        "",
        None,
        float(at) if isinstance(at, (int, float)) and not isinstance(at, bool) else 0.0,
        None,
    )


def _plain(data: object) -> _Entry | None:
    """The record that `data`, an `EventLogEntry` as Dagster's serdes writes it, holds if it is
    of `_PLAIN_TYPES` and its fields are all there with their types; else None. Dagster stores an
    entry's `job_name` as `pipeline_name`; the names of the stored format are kept by Dagster
    from release to release, since every release reads the records older ones wrote."""
    if not isinstance(data, dict) or data.get("__class__") != "EventLogEntry":
        return None
    event = data.get("dagster_event")
    if not isinstance(event, dict) or event.get("__class__") != "DagsterEvent":
        return None
    type_value = event.get("event_type_value")
    event_type = _PLAIN_TYPES.get(type_value) if isinstance(type_value, str) else None
    run_id, at = data.get("run_id"), data.get("timestamp")
    job_name, step_key = data.get("pipeline_name", 0), data.get("step_key", 0)
    if (
        event_type is None
        or not isinstance(run_id, str)
        or not isinstance(at, float)
        or not (job_name is None or isinstance(job_name, str))
        or not (step_key is None or isinstance(step_key, str))
    ):
        return None
    return _Entry(run_id, job_name or "", step_key, at, event_type)


@dataclass(frozen=True, slots=True)
class _RunFacts:
    location: str | None
    started_at: float | None
    facts: RunFacts = NO_RUN_FACTS


_DiscoveryType = Literal[
    DagsterEventType.RUN_START, DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED
]
_DISCOVERY_TYPES: tuple[_DiscoveryType, ...] = (
    DagsterEventType.RUN_START,
    DagsterEventType.RUN_FAILURE,
    DagsterEventType.RUN_CANCELED,
)
_GAPS_KEPT = 1_000
"""At most this many missing ids are remembered; the ones after wait their turn."""
_KNOWN_RUNS_KEPT = 10_000
"""Runs whose facts a source keeps between pages; beyond, it forgets them all and fetches again."""
RUNS_AHEAD = 100
"""Runs fetched in one query ahead of the page that meets the first of them: the runs created
after it that have started. With pages of 30, nearly every page meets a new run; one query per
run was a third of a page's time (`make bench`)."""
COMMITTED_AHEAD = 5_000
"""Storage ids listed ahead of a page, in one query, to tell that none is in flight below the
pages after it: one query per this many ids rather than one per page (a new connection each on
Dagster's PostgreSQL storage)."""
_RUN_PAGE = 5_000
"""Records of one run read in one query when a run is read whole (a dead letter's)."""
_STARTED_STATUSES = [
    DagsterRunStatus.STARTED,
    DagsterRunStatus.SUCCESS,
    DagsterRunStatus.FAILURE,
    DagsterRunStatus.CANCELING,
    DagsterRunStatus.CANCELED,
]
_SCHEDULED_TIME_TAG = ".dagster/scheduled_execution_time"
_PARTITION_TAG = "dagster/partition"
_DATA_VERSION_TAG = "dagster/data_version"


def _nominal_time(tags: Mapping[str, str]) -> float | None:
    scheduled = tags.get(_SCHEDULED_TIME_TAG)
    if not scheduled:
        return None
    try:
        return datetime.fromisoformat(scheduled).timestamp()
    except (ValueError, OverflowError):  # a tag anyone can set: not a time ol-dagster can use
        return None


class DagsterEventSource:
    """Reads the records ol-dagster translates from a DagsterInstance's event log."""

    def __init__(
        self,
        instance: DagsterInstance,
        catalog: AssetCatalog,
        until_storage_id: int | None = None,
        gap_wait_seconds: float = GAP_WAIT_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`until_storage_id` bounds what is read (a replay of history): records after it, or on
        run-sharded storage runs that started after it in the run-status index, are left out.
        `gap_wait_seconds`: how long a storage id that has not appeared holds the reader back."""
        self._instance = instance
        self._gap_wait = gap_wait_seconds
        self._clock = clock
        self._catalog = catalog
        self._until = until_storage_id
        self._storage = instance.event_log_storage
        self._known_facts: dict[str, _RunFacts] = {}
        self._upcoming: dict[str, DagsterRun] = {}
        """Started runs fetched ahead (`RUNS_AHEAD`), by id, until a page meets them."""
        self._listed: tuple[int, int, list[int]] = (0, 0, [])
        """(first, last, ids): the storage ids in (first, last] committed when last listed,
        in order."""
        self.strategy = PER_RUN if self._storage.is_run_sharded else GLOBAL
        self._gaps_possible = self.strategy == GLOBAL and commits_out_of_id_order(self._storage)
        logger.info(
            "ol-dagster reads %s with the %s strategy",
            type(self._storage).__name__,
            "per-run (run-sharded storage)" if self.strategy == PER_RUN else "global storage id",
        )

    def initial_position(self, after_storage_id: int) -> GlobalPosition | PerRunPosition:
        if self.strategy == PER_RUN:
            return PerRunPosition(after_storage_id, {})
        return GlobalPosition(after_storage_id)

    def position_from_json(self, value: JsonValue) -> GlobalPosition | PerRunPosition:
        if self.strategy == PER_RUN:
            return _per_run_position(value)
        return _global_position(value)

    def read(self, after: Position, limit: int) -> Batch:
        if self.strategy == PER_RUN:
            position = _own(after, PerRunPosition)
            return self._read_per_run(position.index, position.runs, limit)
        return self._read_global(_own(after, GlobalPosition), limit)

    def run_records(self, run_id: str) -> list[DagsterRecord]:
        entries: list[tuple[int, _Entry]] = []
        while True:
            found = self._run_entries(run_id, entries[-1][0] if entries else 0, _RUN_PAGE)
            entries.extend(found)
            if len(found) < _RUN_PAGE:
                return self._to_records(entries)

    def forget_runs(self, position: Position, run_ids: Sequence[str]) -> Position:
        if self.strategy != PER_RUN:
            return position  # a global storage id keeps nothing per run
        own, forgotten = _own(position, PerRunPosition), set(run_ids)
        return PerRunPosition(own.index, {k: v for k, v in own.runs.items() if k not in forgotten})

    # -- global storage id ------------------------------------------------------------------
    def _entries_after(self, after: int, limit: int) -> list[tuple[int, _Entry]]:
        """Up to `limit` records of EVENT_TYPES after storage id `after`, in id order."""
        rows = event_rows(self._storage, after, _TYPE_VALUES, limit)
        if rows is not None:
            return [(row[0], _decode(*row)) for row in rows]
        with warnings.catch_warnings():
            # Dagster has flagged several types in one call as deprecated since 1.8 yet keeps it:
            # it is one indexed `IN` query, where one call per type would be nine.
            warnings.filterwarnings(
                "ignore", message=".*multiple event types", category=DeprecationWarning
            )
            entries = self._storage.get_logs_for_all_runs_by_log_id(
                after_cursor=after, dagster_event_type=set(EVENT_TYPES), limit=limit
            )
        return [(i, _Entry.of(entry)) for i, entry in entries.items()]

    def _read_global(self, position: GlobalPosition, limit: int) -> _GlobalBatch:
        after, now = position.after, self._clock()
        until = self._until
        kept = [(i, e) for i, e in self._entries_after(after, limit) if until is None or i <= until]
        waiting: dict[int, float] = {}
        given_up = {
            gap: at
            for gap, at in position.given_up.items()
            if now - at < GIVEN_UP_WATCH_SECONDS or gap > after
        }
        if self._gaps_possible and kept:
            kept, waiting, released = self._before_gaps(after, kept, position, now)
            given_up.update(released)
        # Looked for after the page: a record committed before one of the page is seen now.
        # Only ids below `after`: the ones above it are the page's to read.
        late: list[tuple[int, _Entry]] = []
        if self._gaps_possible and any(gap <= after for gap in given_up):
            late, resolved = self._committed_late([gap for gap in given_up if gap <= after])
            for gap in resolved:
                del given_up[gap]
        records = self._to_records(late + kept, late={i for i, _ in late})
        return _GlobalBatch(records, after, waiting, dict(list(given_up.items())[-_GAPS_KEPT:]))

    def _before_gaps(
        self,
        after: int,
        kept: list[tuple[int, _Entry]],
        position: GlobalPosition,
        now: float,
    ) -> tuple[list[tuple[int, _Entry]], dict[int, float], dict[int, float]]:
        """The records before the first storage id that may still appear; the ids not seen yet,
        each with when it was first missed; the ids given up on now, each with the time.

        On PostgreSQL a storage id is drawn when a row is inserted and shows when its transaction
        commits: an id missing below committed ones is an insert still in flight, or one rolled
        back (or a run deleted), which never appears. The reader does not pass a missing id until
        it has been missing for `gap_wait_seconds` by the sensor's clock, or until the record
        after it is an hour old (history: no insert stays in flight that long; clocks that far
        apart are not expected). An id given up on after waiting is still looked for, for
        GIVEN_UP_WATCH_SECONDS, and read if it appears.
        """
        if self._all_committed(after, kept[-1][0], {i for i, _ in kept}):
            return kept, {}, {}  # nothing in flight below the page: nothing to wait on
        committed = committed_ids(self._storage, after, kept[-1][0])
        if committed is None:  # pragma: no cover - a storage that is not SQL
            warn_once("cannot list the event log's storage ids: gaps are not waited on")
            return kept, {}, {}
        kept_ids = [i for i, _ in kept]
        read = set(kept_ids)
        # Missing: not committed yet, or committed between the page's query and this one (a
        # record of a type read here that the page lacks: read again next time).
        unread = [(i, i) for i, t in committed.items() if t in _EVENT_TYPE_VALUES and i not in read]
        spans = sorted(_missing_spans(after, kept_ids[-1], sorted(committed)) + unread)
        released: dict[int, float] = {}
        for index, (first, last) in enumerate(spans):
            successor = kept[bisect.bisect_right(kept_ids, last)][1]
            if now - successor.timestamp >= GIVEN_UP_WATCH_SECONDS:
                continue  # history: never coming, and not worth watching
            if first in position.given_up or now - position.gaps.get(first, now) >= self._gap_wait:
                watched = range(first, min(last, first + _GAPS_KEPT - 1) + 1)
                released.update((gap, now) for gap in watched)
                continue
            waiting = {
                gap: position.gaps.get(gap, now)
                for gap in itertools.islice(_ids_of(spans[index:]), _GAPS_KEPT)
            }
            return kept[: bisect.bisect_left(kept_ids, first)], waiting, released
        if released:
            logger.warning(
                "ol-dagster: storage ids %s never appeared within %g s (rolled-back inserts, "
                "or transactions still open): reading on past them, and reading them if they "
                "appear within %g s",
                _id_ranges(sorted(released)),
                self._gap_wait,
                GIVEN_UP_WATCH_SECONDS,
            )
        return kept, {}, released

    def _all_committed(self, after: int, upto: int, read: AbstractSet[int]) -> bool:
        """Whether every storage id in (`after`, `upto`] is committed and each of a type read
        here is in `read` (the page): from what was listed before the page's query (committed
        then, so the page has it), or from one query that lists `COMMITTED_AHEAD` ids past
        `upto` too, kept for the pages after. An id once committed stays so (or is deleted
        with its run, and never read); one missing (a hole a deleted run left, an insert in
        flight) sends the page the slow way, one small query, as before the listing."""
        first, last, ids = self._listed
        if not (first <= after and upto <= last):
            listed = committed_ids(self._storage, after, upto + COMMITTED_AHEAD)
            if listed is None:  # pragma: no cover - a storage that is not SQL
                return False
            self._listed = (after, upto + COMMITTED_AHEAD, sorted(listed))
            ids = self._listed[2]
            # listed after the page's query: one committed in between is not in the page
            if any(
                t in _EVENT_TYPE_VALUES and i not in read
                for i, t in listed.items()
                if after < i <= upto
            ):
                return False
        committed = bisect.bisect_right(ids, upto) - bisect.bisect_right(ids, after)
        return committed == upto - after

    def _committed_late(self, given_up: Sequence[int]) -> tuple[list[tuple[int, _Entry]], set[int]]:
        """The records, of the types read here, of storage ids given up on that have appeared;
        and the ids that appeared with a type not read here (nothing more to look for)."""
        found = committed_among(self._storage, given_up) or {}
        late = []
        for storage_id, event_type in sorted(found.items()):
            if event_type not in _EVENT_TYPE_VALUES:
                continue
            entry = self._storage.get_logs_for_all_runs_by_log_id(
                after_cursor=storage_id - 1,
                dagster_event_type=DagsterEventType(event_type),
                limit=1,
            ).get(storage_id)
            if entry is not None:
                logger.warning("ol-dagster: storage id %d appeared late; sending it", storage_id)
                late.append((storage_id, _Entry.of(entry)))
        return late, {i for i, t in found.items() if t not in _EVENT_TYPE_VALUES}

    def ahead_of_log(self, position: Position, log_time: float) -> str | None:
        """Why `position` claims records the log does not hold as sent; None when it does not.

        The record at the position's storage id is one the sensor read, so it is no newer than
        the newest record read (`log_time`). If it is newer, or if the log now ends below the
        position with a newer record, storage ids were used again: the event log was restored
        from an older backup, or (SQLite, whose ids are not AUTOINCREMENT) its newest rows were
        deleted. Records written since sit at or below the position: they would never be read.
        Two indexed reads; on run-sharded storage (ids per run) and before the first record is
        read, nothing is checked.
        """
        if self.strategy != GLOBAL or not log_time:
            return None
        after = _own(position, GlobalPosition).after
        newest = self._storage.get_maximum_record_id() or 0
        probe = min(after, newest)
        if probe <= 0:
            return None
        entry = self._storage.get_logs_for_all_runs_by_log_id(after_cursor=probe - 1, limit=1).get(
            probe
        )
        if entry is None or entry.timestamp <= log_time + _SAME_TIME:
            return None  # as it was read (or deleted since: nothing to tell from it)
        written = datetime.fromtimestamp(entry.timestamp, timezone.utc).isoformat(" ", "seconds")
        sent = datetime.fromtimestamp(log_time, timezone.utc).isoformat(" ", "seconds")
        where = "ends at" if newest < after else "holds"
        return (
            f"the cursor is ahead of the event log: it has read through storage id {after}, yet "
            f"the log {where} storage id {probe} written at {written}, after the newest record "
            f"the sensor read ({sent}). The event log was restored from an older backup, or its "
            "newest runs were deleted and their storage ids used again: records written since "
            "would never be sent"
        )

    def gaps_waited_on(self, position: Position) -> list[tuple[int, float]]:
        """The storage ids a position waits on, each with when it was first missed."""
        if self.strategy != GLOBAL:
            return []
        return sorted(_own(position, GlobalPosition).gaps.items())

    def gaps_note(self, position: Position) -> str | None:
        """What a position waits on, for people; None when it waits on nothing."""
        gaps = self.gaps_waited_on(position)
        if not gaps:
            return None
        first, missed = gaps[0]
        waited = max(self._clock() - missed, 0)
        ids = "storage id" if len(gaps) == 1 else "storage ids"
        return (
            f"waiting on {len(gaps)} {ids} not committed yet (the first, {first}, for "
            f"{waited:,.1f} s of at most {self._gap_wait:,.0f} s)"
        )

    @staticmethod
    def storage_id_done(position: Position) -> int | None:
        """The storage id a position has read through (of the run-status index on run-sharded
        storage, where runs still open are read on top); None for a position of no strategy."""
        if isinstance(position, GlobalPosition):
            return position.after
        if isinstance(position, PerRunPosition):
            return position.index
        return None

    def storage_ids_behind(self, position: Position) -> int | None:
        """How far `position` trails the log, in storage ids."""
        done = self.storage_id_done(position)
        return None if done is None else max(self.latest_storage_id() - done, 0)

    def latest_storage_id(self) -> int:
        """The newest storage id of the log (of its run-status index on run-sharded storage)."""
        if self.strategy == GLOBAL:
            return self._storage.get_maximum_record_id() or 0
        newest = [
            self._instance.fetch_run_status_changes(
                RunStatusChangeRecordsFilter(event_type), limit=1, ascending=False
            ).records
            for event_type in _DISCOVERY_TYPES
        ]
        return max((records[0].storage_id for records in newest if records), default=0)

    # -- run-sharded: the run-status index, then each open run's shard ------------------------
    def _read_per_run(self, index: int, runs: Mapping[str, int], limit: int) -> _PerRunBatch:
        index, runs = self._discover_runs(index, runs, limit)
        found: list[tuple[int, _Entry]] = []
        for run_id, last in runs.items():
            if len(found) >= limit:
                break
            found.extend(self._run_entries(run_id, last, limit - len(found)))
        return _PerRunBatch(self._to_records(found), index, runs)

    def _run_entries(self, run_id: str, last: int, limit: int) -> list[tuple[int, _Entry]]:
        """Up to `limit` of one run's records of EVENT_TYPES after storage id `last`."""
        rows = run_event_rows(self._storage, run_id, last, _TYPE_VALUES, limit)
        if rows is not None:
            return [(row[0], _decode(*row)) for row in rows]
        connection = self._instance.get_records_for_run(
            run_id, cursor=run_records_cursor(last), of_type=set(EVENT_TYPES), limit=limit
        )
        return [(r.storage_id, _Entry.of(r.event_log_entry)) for r in connection.records]

    def _discover_runs(
        self, index: int, runs: Mapping[str, int], limit: int
    ) -> tuple[int, dict[str, int]]:
        """Runs that started (or ended without starting) after `index` in the run-status index."""
        pages = [
            self._instance.fetch_run_status_changes(
                RunStatusChangeRecordsFilter(event_type, after_storage_id=index),
                limit=limit,
                ascending=True,
            )
            for event_type in _DISCOVERY_TYPES
        ]
        # A type with more to read bounds how far the index is known for every type.
        cutoff = min(
            (p.records[-1].storage_id for p in pages if p.has_more and p.records), default=None
        )
        if self._until is not None:
            cutoff = self._until if cutoff is None else min(cutoff, self._until)
        seen = sorted(
            (r for p in pages for r in p.records if cutoff is None or r.storage_id <= cutoff),
            key=lambda r: r.storage_id,
        )
        if not seen:
            return index, dict(runs)
        started = {
            r.run_id
            for r in seen
            if r.event_log_entry.dagster_event_type is DagsterEventType.RUN_START
        }
        ended_only = {r.run_id for r in seen} - started - set(runs)
        facts = self._run_facts(ended_only)
        merged = dict(runs)
        for record in seen:
            run_id = record.run_id
            if run_id in merged:
                continue
            # A run ending without a start in this page either never started (launch failure,
            # cancelled in the queue) or started earlier and was already read to its end.
            # (A run with no run record was deleted: its records are gone with it.)
            never_started = run_id in facts and facts[run_id].started_at is None
            if run_id in started or never_started:
                merged[run_id] = 0
        return seen[-1].storage_id, merged

    # -- both --------------------------------------------------------------------------------
    def _run_facts(self, run_ids: Iterable[str]) -> dict[str, _RunFacts]:
        wanted = list(set(run_ids))
        if not wanted:
            return {}
        records = self._instance.get_run_records(filters=RunsFilter(run_ids=wanted))
        links = self._ancestor_links([r.dagster_run for r in records])
        return {
            r.dagster_run.run_id: _facts_of(r.dagster_run, r.start_time, links, self._catalog)
            for r in records
        }

    def _page_facts(self, entries: Sequence[tuple[int, _Entry]]) -> dict[str, _RunFacts]:
        """Facts of the runs of a page's records, kept from page to page.

        A run's start time is its RUN_START record's timestamp, which is what Dagster's run
        storage stores too; only runs whose records begin before their RUN_START (on the first
        page a source reads) need the run records' start time. The others are fetched as plain
        runs: one query, where run records cost two on PostgreSQL plus a look at the schema.
        """
        first: dict[str, _Entry] = {}
        for _, entry in entries:
            first.setdefault(entry.run_id, entry)
        known = self._known_facts
        new = [run_id for run_id in first if run_id not in known]
        if not new:
            return known
        if len(known) + len(new) > _KNOWN_RUNS_KEPT:
            known.clear()
            new = list(first)
        starting = {
            run_id: first[run_id].timestamp
            for run_id in new
            if first[run_id].event_type is DagsterEventType.RUN_START
        }
        known.update(self._run_facts(r for r in new if r not in starting))
        if starting:
            runs = self._started_runs(list(starting))
            links = self._ancestor_links(runs)
            known.update(
                (run.run_id, _facts_of(run, starting[run.run_id], links, self._catalog))
                for run in runs
            )
        return known

    def _started_runs(self, run_ids: list[str]) -> list[DagsterRun]:
        """The runs of `run_ids` (met in this order), taken from those fetched ahead; when one
        is missing, fetched with the started runs created after the last of them."""
        upcoming = self._upcoming
        missing = [run_id for run_id in run_ids if run_id not in upcoming]
        if missing:
            if len(upcoming) > _KNOWN_RUNS_KEPT:
                upcoming.clear()  # runs fetched ahead that no page met (deleted, say)
            fetched = self._instance.get_runs(filters=RunsFilter(run_ids=missing))
            upcoming.update((run.run_id, run) for run in fetched)
            if len(fetched) == len(missing):  # else the cursor run may be gone: no read-ahead
                ahead = self._instance.get_runs(
                    filters=RunsFilter(statuses=_STARTED_STATUSES),
                    cursor=run_ids[-1],
                    limit=RUNS_AHEAD,
                    ascending=True,
                )
                upcoming.update((run.run_id, run) for run in ahead)
        return [upcoming.pop(run_id) for run_id in run_ids if run_id in upcoming]

    def _ancestor_links(self, runs: Sequence[DagsterRun]) -> dict[str, RunLink]:
        ancestors = {
            link: None for run in runs for link in (run.parent_run_id, run.root_run_id) if link
        }
        return self._run_links(list(ancestors)) if ancestors else {}

    def _run_links(self, run_ids: list[str]) -> dict[str, RunLink]:
        records = self._instance.get_run_records(filters=RunsFilter(run_ids=run_ids))
        return {
            r.dagster_run.run_id: RunLink(
                r.dagster_run.run_id,
                r.dagster_run.job_name,
                _timestamp(r.start_time) or r.create_timestamp.timestamp(),
            )
            for r in records
        }

    def _to_records(
        self, entries: Iterable[tuple[int, _Entry]], late: AbstractSet[int] = frozenset()
    ) -> list[DagsterRecord]:
        entries = list(entries)
        facts = self._page_facts(entries)
        unknown = _RunFacts(None, None)
        records = []
        for storage_id, entry in entries:
            run = facts.get(entry.run_id, unknown)
            try:
                record = self._record(storage_id, entry, run, storage_id in late)
            except OlDagsterError:  # a neighbour's failure (the webserver): the read waits on it
                raise
            except Exception as error:  # noqa: BLE001  (a defect costs this record's assets alone)
                why = f"{type(error).__name__}: {str(error)[:300]}"
                logger.warning(
                    "ol-dagster: the assets of storage id %d (run %s) could not be read (%s): a "
                    "run or step event goes without them, an asset event is kept as a dead "
                    "letter that `ol-dagster dead-letters resend` sends once that is fixed",
                    storage_id,
                    entry.run_id,
                    why,
                )
                bare = self._record(storage_id, entry, run, storage_id in late, assets=False)
                record = replace(bare, defect=why)
            records.append(record)
        return records

    def _record(
        self, storage_id: int, entry: _Entry, run: _RunFacts, late: bool, assets: bool = True
    ) -> DagsterRecord:
        """The record of `entry`; of its event-specific data (assets, error) only when `entry`
        carries Dagster's own entry; without anything of the catalog's (assets, docs) when
        not `assets`, so that a defect there cannot fail the record twice."""
        event_type, full = entry.event_type, entry.full
        datasets: tuple[Dataset, ...] = ()
        upstream: tuple[Dataset, ...] = ()
        if full is not None and assets:
            datasets, upstream = self._datasets_of(full, storage_id)
        job_name, step_key = entry.job_name, entry.step_key
        step_datasets = (
            self._catalog.step_datasets(job_name, step_key) if step_key and assets else ()
        )
        return DagsterRecord(
            kind=event_type.name if event_type is not None else "",
            run_id=entry.run_id,
            job_name=job_name,
            timestamp=entry.timestamp,
            storage_id=storage_id,
            step_key=step_key,
            location=run.location,
            run_started_at=run.started_at,
            error=_error_of(full) if full is not None else None,
            datasets=datasets,
            upstream=upstream,
            asset_step=bool(step_datasets),
            step_datasets=step_datasets,
            run=run.facts,
            docs=self._docs_of(job_name, step_key, event_type) if assets else None,
            late=late,
        )

    def _docs_of(
        self, job_name: str, step_key: str | None, event_type: DagsterEventType | None
    ) -> JobDocs | None:
        """Docs of the job the record's START event names: only START records need them."""
        if event_type is DagsterEventType.RUN_START:
            return self._catalog.job_docs(job_name)
        if step_key and event_type is DagsterEventType.STEP_START:
            return self._catalog.step_docs(job_name, step_key)
        return None

    def _datasets_of(
        self, entry: EventLogEntry, storage_id: int
    ) -> tuple[tuple[Dataset, ...], tuple[Dataset, ...]]:
        """The assets an event is about, and for a materialization the assets upstream of it."""
        catalog = self._catalog
        materialization = entry.asset_materialization
        if materialization is not None:
            key, tags = materialization.asset_key, materialization.tags or {}
            dataset = catalog.materialized(
                key, materialization.metadata, materialization.partition, storage_id
            )
            versioned = replace(dataset, version=tags.get(_DATA_VERSION_TAG))
            return (versioned,), catalog.inputs(key, _inputs_logged(tags))
        observation = entry.asset_observation
        if observation is not None:
            version = observation.tags.get(_DATA_VERSION_TAG) if observation.tags else None
            dataset = catalog.observed(
                observation.asset_key,
                observation.metadata,
                observation.partition,
                version,
                storage_id,
            )
            return (dataset,), ()
        check = entry.asset_check_evaluation
        if check is not None:
            severity = check.severity.value if check.severity is not None else None
            return (catalog.checked(check.asset_key, check.check_name, check.passed, severity),), ()
        return (), ()


_INPUT_POINTER_TAG = "dagster/input_event_pointer/"
_INPUT_VERSION_TAG = "dagster/input_data_version/"


def _inputs_logged(tags: Mapping[str, str]) -> dict[AssetKey, str | None]:
    """The upstream assets a materialization read, as its own tags record them (the storage id
    of the upstream materialization, and its data version), whatever code location defines
    them; each with the data version read."""
    keys = {
        tag[len(prefix) :]
        for tag in tags
        for prefix in (_INPUT_POINTER_TAG, _INPUT_VERSION_TAG)
        if tag.startswith(prefix)
    }
    return {
        AssetKey.from_user_string(key): tags.get(_INPUT_VERSION_TAG + key) for key in sorted(keys)
    }


def _facts_of(
    run: DagsterRun, start_time: object, links: Mapping[str, RunLink], catalog: AssetCatalog
) -> _RunFacts:
    tags = {k: v for k, v in run.tags.items() if not k.startswith(".")}  # "." marks internal tags
    partition = run.tags.get(_PARTITION_TAG)
    window = catalog.partition_window(run.job_name, partition) if partition else None
    facts = RunFacts(
        tags=tuple(sorted(tags.items())),
        nominal_time=_nominal_time(run.tags) or (window[0] if window else None),
        nominal_end=window[1] if window else None,
        parent=links.get(run.parent_run_id) if run.parent_run_id else None,
        root=links.get(run.root_run_id) if run.root_run_id else None,
    )
    return _RunFacts(location_of(run), _timestamp(start_time), facts)


def _timestamp(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


@dataclass(frozen=True, slots=True)
class _GlobalBatch:
    records: Sequence[DagsterRecord]
    """Records of storage ids given up on that have appeared (`late`) first, then the page."""
    after: int
    waiting: Mapping[int, float]
    """Storage ids after the records that have not appeared yet, with when each was missed."""
    given_up: Mapping[int, float]
    """Storage ids read past without having appeared, with when they were given up on."""

    def position_after(self, count: int) -> GlobalPosition:
        done = self.records[:count]
        last = max((r.storage_id for r in done if not r.late), default=self.after)
        sent = {r.storage_id for r in done}
        return GlobalPosition(
            last,
            {gap: round(at, 1) for gap, at in self.waiting.items()},
            {gap: round(at, 1) for gap, at in self.given_up.items() if gap not in sent},
        )


@dataclass(frozen=True, slots=True)
class _PerRunBatch:
    records: Sequence[DagsterRecord]
    index: int
    runs: Mapping[str, int]
    """Open runs after discovery, each with the last storage id read before this page."""

    def position_after(self, count: int) -> PerRunPosition:
        runs = dict(self.runs)
        for record in self.records[:count]:
            if record.kind in _RUN_END_NAMES:
                runs.pop(record.run_id, None)
            else:
                runs[record.run_id] = record.storage_id
        return PerRunPosition(self.index, runs)


@dataclass(frozen=True, slots=True)
class GlobalPosition:
    """Global storage id: the last storage id done with, and the ids below the next records
    that have not appeared, with when each was missed (`gaps`) or given up on (`given_up`)."""

    after: int
    gaps: Mapping[int, float] = field(default_factory=dict)
    given_up: Mapping[int, float] = field(default_factory=dict)

    def to_json(self) -> JsonValue:
        value: dict[str, JsonValue] = {"strategy": GLOBAL, "after": self.after}
        if self.gaps:
            value["gaps"] = [[gap, at] for gap, at in self.gaps.items()]
        if self.given_up:
            value["given_up"] = [[gap, at] for gap, at in self.given_up.items()]
        return value


@dataclass(frozen=True, slots=True)
class PerRunPosition:
    """Run-sharded storage: the run-status index's storage id done with, and each run still
    open with the last storage id read in its own shard."""

    index: int
    runs: Mapping[str, int]

    def to_json(self) -> JsonValue:
        runs: dict[str, JsonValue] = dict(self.runs)
        return {"strategy": PER_RUN, "index": self.index, "runs": runs}


def _own(position: Position, kind: type[_P]) -> _P:
    """`position` as the kind of this source's strategy: a position is checked when it is read
    from a cursor (`position_from_json`), so another kind here is a position of another source."""
    if isinstance(position, kind):
        return position
    raise _wrong_strategy(position.to_json(), GLOBAL if kind is GlobalPosition else PER_RUN)


def _wrong_strategy(position: JsonValue, expected: str) -> CursorError:
    found = position.get("strategy") if isinstance(position, dict) else type(position).__name__
    return CursorError(
        f"the cursor's position was written for the {found!r} reading strategy, but this "
        f"instance's event-log storage needs {expected!r} (did the storage change?)"
    )


def _legacy_position(position: JsonValue) -> tuple[int, list[str]] | None:
    """openlineage-dagster's last storage id and in-flight runs, from a taken-over cursor."""
    if not (isinstance(position, dict) and position.get("strategy") == LEGACY_STRATEGY):
        return None
    after, runs = position.get("after"), position.get("runs")
    if _is_int(after) and -1 <= after <= MAX_STORAGE_ID and isinstance(runs, list):
        return after, [run_id for run_id in runs if isinstance(run_id, str)]
    raise _wrong_strategy(position, LEGACY_STRATEGY)


_SAME_TIME = 0.001
"""Seconds within which two reads of a record's timestamp are the same time."""


def _global_position(position: JsonValue) -> GlobalPosition:
    legacy = _legacy_position(position)
    if legacy is not None:
        return GlobalPosition(legacy[0])
    if isinstance(position, dict) and position.get("strategy") == GLOBAL:
        after = position.get("after")
        gaps, given_up = _gaps(position.get("gaps", [])), _gaps(position.get("given_up", []))
        if (
            _is_int(after)
            and -1 <= after <= MAX_STORAGE_ID
            and gaps is not None
            and given_up is not None
        ):
            return GlobalPosition(after, gaps, given_up)
        raise CursorError(
            "the cursor's position is not valid: `after` must be a storage id (-1 to 2^63-1), "
            "`gaps` and `given_up` lists of at most 1,000 [storage id, POSIX time] pairs"
        )
    raise _wrong_strategy(position, GLOBAL)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _gaps(value: JsonValue) -> dict[int, float] | None:
    """[[storage id, when first missed (POSIX seconds)], ...], or None if that is not it."""
    if not isinstance(value, list) or len(value) > _GAPS_KEPT:
        return None
    gaps: dict[int, float] = {}
    for gap in value:
        if not (isinstance(gap, list) and len(gap) == 2):
            return None
        storage_id, missed = gap
        if not (_is_int(storage_id) and 0 <= storage_id <= MAX_STORAGE_ID):
            return None
        if not (_is_int(missed) or isinstance(missed, float)):
            return None
        try:
            when = float(missed)  # an integer beyond a float's range overflows
        except OverflowError:
            return None
        if not math.isfinite(when):
            return None
        gaps[storage_id] = when
    return gaps


def _missing_spans(after: int, upto: int, committed: Sequence[int]) -> list[tuple[int, int]]:
    """The ranges of ids in (`after`, `upto`] absent from the sorted `committed`."""
    spans, previous = [], after
    for storage_id in committed:
        if storage_id > previous + 1:
            spans.append((previous + 1, storage_id - 1))
        previous = storage_id
    if upto > previous:
        spans.append((previous + 1, upto))
    return spans


def _ids_of(spans: Iterable[tuple[int, int]]) -> Iterator[int]:
    for first, last in spans:
        yield from range(first, last + 1)


def _id_ranges(ids: Sequence[int]) -> str:
    """`[3, 4, 5, 9]` -> `3-5, 9`"""
    spans: list[list[int]] = []
    for i in ids:
        if spans and spans[-1][1] == i - 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in spans)


def _per_run_position(position: JsonValue) -> PerRunPosition:
    legacy = _legacy_position(position)
    if legacy is not None:
        # openlineage-dagster read only this index on run-sharded storage, never the runs' own
        # records: read the runs it had in flight from their start (its run ids are kept).
        after, in_flight = legacy
        return PerRunPosition(after, dict.fromkeys(in_flight, 0))
    if isinstance(position, dict) and position.get("strategy") == PER_RUN:
        index, runs = position.get("index"), position.get("runs")
        if (
            _is_int(index)
            and -1 <= index <= MAX_STORAGE_ID
            and isinstance(runs, dict)
            and all(_is_int(v) and 0 <= v <= MAX_STORAGE_ID for v in runs.values())
        ):
            return PerRunPosition(index, {k: int(v) for k, v in runs.items() if isinstance(v, int)})
        raise CursorError(
            "the cursor's position is not valid: `index` must be a storage id (-1 to 2^63-1), "
            "`runs` a map of Dagster run ids to storage ids (0 to 2^63-1)"
        )
    raise _wrong_strategy(position, PER_RUN)

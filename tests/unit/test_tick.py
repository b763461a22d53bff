"""The use case against in-memory fakes of the three ports."""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ol_dagster.app.tick import TickBudget, TickReport, run_tick
from ol_dagster.domain.errors import CursorError, UntranslatableRecord
from ol_dagster.domain.lineage import Emittable, LineageEvent
from ol_dagster.domain.ports import EmitResult, Position
from ol_dagster.domain.records import DagsterRecord
from ol_dagster.domain.run_state import RunState
from ol_dagster.domain.translate import Translator
from tests.fakes import (
    FakeBatch,
    FakeClock,
    FakeCursorStore,
    FakeEmitter,
    FakeEventSource,
    FakePosition,
)
from tests.support.records import RunWriter, interleave


class Ports:
    def __init__(self, records: list[DagsterRecord] | None = None) -> None:
        self.source = FakeEventSource(records or [])
        self.cursor = FakeCursorStore()
        self.emitter = FakeEmitter()
        self.clock = FakeClock()

    def tick(
        self, page_size: int = 5, seconds: float = 60.0, read_at_once: int = 1, **kwargs: object
    ) -> TickReport:
        """One tick; by default a read per page (`read_at_once=1`), as a page of the default
        size on a log the default read would hold in one."""
        return run_tick(
            source=self.source,
            cursor=self.cursor,
            emitter=self.emitter,
            translator=Translator("default"),
            budget=TickBudget(page_size=page_size, seconds=seconds, read_at_once=read_at_once),
            clock=self.clock,
            sleep=self.clock.sleep,
            **kwargs,  # type: ignore[arg-type]
        )


def _straight(records: list[DagsterRecord]) -> list[LineageEvent]:
    translator, state, events = Translator("default"), RunState(), []
    for record in records:
        events.extend(translator.translate(state, record))
    return events


def _two_runs() -> list[DagsterRecord]:
    return list(interleave(RunWriter("a").successful(["x", "y"]), RunWriter("b").successful(["z"])))


def test_one_tick_reads_page_after_page_until_caught_up() -> None:
    records = _two_runs()
    ports = Ports(records)
    report = ports.tick(page_size=3)
    assert report.caught_up and report.failure is None
    assert report.records_read == len(records) == 10
    assert report.pages == 4  # 3+3+3+1
    assert ports.emitter.sent == _straight(records)
    assert ports.cursor.saved is not None and ports.cursor.saved.runs.runs == {}
    assert "read 10 records in 4 pages, emitted 10 events" in report.summary()


def test_the_next_tick_resumes_after_the_cursor() -> None:
    first, second = RunWriter("a").successful(["x"]), RunWriter("b").successful(["y"])
    ports = Ports(first)
    ports.tick()
    ports.source.append(*second)
    report = ports.tick()
    assert report.records_read == len(second)
    assert ports.emitter.sent == _straight(first + second)


def test_failed_emit_leaves_cursor_at_the_last_fully_emitted_record() -> None:
    records = RunWriter("a").successful(["x", "y"])
    ports = Ports(records)
    ports.emitter.allowance = 3
    report = ports.tick(page_size=100)
    assert report.failure is not None and report.failure.endswith(ports.emitter.failure)
    assert "was not accepted" in report.failure
    assert report.records_read == 3 and not report.caught_up
    assert ports.cursor.saved is not None
    assert ports.cursor.saved.position == FakePosition(records[2].storage_id)
    assert set(ports.cursor.saved.runs.runs) == {records[0].run_id}  # the open run is kept

    ports.emitter.allowance = None  # the backend is back
    ports.tick(page_size=100)
    assert ports.emitter.sent == _straight(records)


def test_a_backend_that_stays_down_moves_nothing() -> None:
    ports = Ports(_two_runs())
    ports.emitter.allowance = 0
    for _ in range(3):
        report = ports.tick()
        assert report.failure is not None and not report.progressed
    assert ports.cursor.saved is not None and ports.cursor.saved.position == FakePosition(0)
    assert "did not accept events" in report.summary()


def test_records_that_cannot_be_translated_are_skipped_not_blocking() -> None:
    run = RunWriter("a")
    start = run.write("RUN_START")
    unknown = replace(run.write("RUN_START"), kind="FUTURE_EVENT")
    end = run.write("RUN_SUCCESS")
    ports = Ports([start, unknown, end])
    report = ports.tick()
    assert [s.reason for s in report.skipped] == ["unknown event type 'FUTURE_EVENT'"]
    assert len(ports.emitter.sent) == 2 and report.caught_up


def test_after_storage_id_applies_only_without_a_cursor() -> None:
    first = RunWriter("a").successful([])
    ports = Ports(first)
    ports.tick(after_storage_id=first[-1].storage_id)
    assert ports.emitter.sent == []
    second = RunWriter("b").successful([])
    ports.source.append(*second)
    ports.tick(after_storage_id=10**9)  # ignored: the cursor exists now
    assert [e.job.name for e in ports.emitter.sent] == ["b", "b"]


class _SecondPerEmit(FakeEmitter):
    """Each emit takes one second of the tick's clock, or `first` seconds the first time."""

    def __init__(self, clock: FakeClock, first: float = 1.0) -> None:
        super().__init__()
        self.clock, self.first = clock, first
        self.sent_at: list[float] = []
        self.before_first: Callable[[], object] = lambda: None

    def emit(self, events: Sequence[Emittable], *, deadline: float = math.inf) -> EmitResult:
        if not self.sent_at:
            self.before_first()
        self.sent_at.append(self.clock.now)
        self.clock.now += self.first if len(self.sent_at) == 1 else 1.0
        return super().emit(events)  # type: ignore[arg-type]


def test_the_budget_stops_a_tick_between_pages() -> None:
    ports = Ports(_two_runs())
    ports.emitter = emitter = _SecondPerEmit(ports.clock)
    report = ports.tick(page_size=2, seconds=2.5)
    # pages are sent at 0, 1 and 2 s; none starts once the 2.5 s are spent
    assert emitter.sent_at == [0.0, 1.0, 2.0]
    assert report.pages == 3 and not report.caught_up
    assert report.records_read == 6


def test_a_page_read_ahead_is_not_sent_once_the_budget_is_spent() -> None:
    """The next page is read while the one before is sent: if that sending outlasts the budget,
    the page read ahead waits for the next tick instead of starting late."""
    records = _two_runs()
    ports = Ports(records)
    ports.source = source = _WatchedSource(records)
    ports.emitter = emitter = _SecondPerEmit(ports.clock, first=61.0)
    emitter.before_first = lambda: source.second_page_read.wait(timeout=10)
    report = ports.tick(page_size=3, seconds=60.0)
    assert emitter.sent_at == [0.0] and report.pages == 1
    assert report.records_read == 3 and not report.caught_up and report.failure is None
    assert ports.tick(page_size=3, seconds=60.0).caught_up
    assert ports.emitter.sent == _straight(records)


@settings(max_examples=150, deadline=None)
@given(
    runs=st.lists(
        st.lists(st.sampled_from(["x", "y", "z"]), unique=True, max_size=3), min_size=1, max_size=4
    ),
    order=st.randoms(use_true_random=False),
    page_size=st.integers(min_value=1, max_value=8),
    read_at_once=st.integers(min_value=1, max_value=20),
    allowances=st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=6)), max_size=12),
)
def test_no_event_is_lost_or_renamed_whatever_the_pages_and_failures(
    runs: list[list[str]],
    order: object,
    page_size: int,
    read_at_once: int,
    allowances: list[int | None],
) -> None:
    writers = [RunWriter(f"job{i}") for i in range(len(runs))]
    for writer, steps in zip(writers, runs, strict=True):
        writer.successful(steps)
    # interleave the runs in a random order that keeps each run's own records in sequence
    queues = [list(w.records) for w in writers]
    merged: list[DagsterRecord] = []
    while any(queues):
        queue = order.choice([q for q in queues if q])  # type: ignore[attr-defined]
        merged.append(queue.pop(0))
    merged = [replace(r, storage_id=i + 1) for i, r in enumerate(merged)]
    ports = Ports(merged)
    for allowance in allowances:
        ports.emitter.allowance = allowance
        ports.tick(page_size=page_size, read_at_once=read_at_once)
    ports.emitter.allowance = None
    ports.tick(page_size=page_size, read_at_once=read_at_once)

    expected = _straight(merged)
    sent = ports.emitter.sent
    # every expected event arrived, duplicates are exact copies, and first copies keep the order
    first_copies = list(dict.fromkeys(sent))
    assert first_copies == expected
    per_run: dict[str, list[str]] = defaultdict(list)
    for event in first_copies:
        per_run[event.run_id].append(event.event_type.value)
    for types in per_run.values():
        assert types[0] == "START" and len(types) == 2, types
    assert all(e.parent is None or e.parent.run_id in per_run for e in expected)


class _WatchedSource(FakeEventSource):
    """Says when its second page has been read."""

    def __init__(self, records: list[DagsterRecord]) -> None:
        super().__init__(records)
        self.second_page_read = threading.Event()

    def read(self, after: Position, limit: int) -> FakeBatch:
        batch = super().read(after, limit)
        if self.reads == 2:
            self.second_page_read.set()
        return batch


class _WaitingEmitter(FakeEmitter):
    """Holds its first emit until the source has been asked for the page after it."""

    def __init__(self, source: _WatchedSource) -> None:
        super().__init__()
        self.source = source
        self.overlapped: bool | None = None

    def emit(self, events: Sequence[Emittable], *, deadline: float = math.inf) -> EmitResult:
        if self.overlapped is None:
            self.overlapped = self.source.second_page_read.wait(timeout=10)
        return super().emit(events)  # type: ignore[arg-type]


def test_the_next_page_is_read_while_a_page_is_being_emitted() -> None:
    records = _two_runs()
    ports = Ports(records)
    ports.source = source = _WatchedSource(records)
    ports.emitter = emitter = _WaitingEmitter(source)
    report = ports.tick(page_size=3)
    assert emitter.overlapped, "the second page was read only after the first was sent"
    # and the overlap changes nothing of what is sent, or in which order
    assert report.caught_up and emitter.sent == _straight(records)


def test_a_page_read_ahead_is_dropped_unsent_when_the_page_before_fails() -> None:
    records = _two_runs()
    ports = Ports(records)
    ports.emitter.allowance = 2  # the first page's 3 events: the third is refused
    report = ports.tick(page_size=3)
    assert report.failure is not None
    assert ports.source.reads == 2  # the second page was read ahead...
    assert report.pages == 1  # ...and never sent
    assert ports.emitter.sent == _straight(records)[:2]
    assert report.records_read == 2
    saved = ports.cursor.saved
    assert saved is not None and saved.position == FakePosition(records[1].storage_id)


class _FailingOnSecondPage(Translator):
    """A translator with a bug that shows on the second page."""

    def __init__(self) -> None:
        super().__init__("default")
        self.pages = 0

    def translate_all(
        self, state: RunState, records: Iterable[DagsterRecord]
    ) -> tuple[list[Emittable], list[int], list[UntranslatableRecord]]:
        self.pages += 1
        if self.pages >= 2:
            raise RuntimeError("a bug")
        return super().translate_all(state, records)


def test_a_bug_after_progress_is_reported_and_the_progress_kept_then_raised() -> None:
    """Dagster keeps a cursor only from an evaluation that returns: a tick that raised after
    saving a page would lose that save, and every later tick would send the page again."""
    records = _two_runs()
    ports = Ports(records)
    translator = _FailingOnSecondPage()  # from its second page on

    def tick() -> TickReport:
        return run_tick(
            source=ports.source,
            cursor=ports.cursor,
            emitter=ports.emitter,
            translator=translator,
            budget=TickBudget(page_size=3, seconds=60.0),
        )

    report = tick()
    assert report.error == "RuntimeError: a bug"
    assert "stopped: an error, what was sent before it kept: RuntimeError: a bug" in (
        report.summary()
    )
    assert report.position == FakePosition(records[2].storage_id)
    assert ports.emitter.sent == _straight(records[:3])
    saved = ports.cursor.saved
    assert saved is not None and saved.position == FakePosition(records[2].storage_id)
    with pytest.raises(RuntimeError, match="a bug"):  # nothing to keep: the tick fails
        tick()


def test_one_read_is_cut_into_pages_each_sent_and_saved_in_turn() -> None:
    """The event log is read many records at a time (a query of 30 costs Dagster 1.3 to 3.6
    times what 30 records of a query of 500 do); pages are still the unit sent and saved."""
    records = _two_runs()
    ports = Ports(records)
    report = ports.tick(page_size=3, read_at_once=100)
    assert ports.source.reads == 1
    assert report.pages == 4 and report.caught_up
    assert ports.emitter.calls == [3, 3, 3, 1]
    assert ports.cursor.saves == 4
    assert ports.emitter.sent == _straight(records)
    saved = ports.cursor.saved
    assert saved is not None and saved.position == FakePosition(records[-1].storage_id)


def test_the_rest_of_a_read_is_dropped_when_one_of_its_pages_fails() -> None:
    records = _two_runs()
    ports = Ports(records)
    ports.emitter.allowance = 4  # the second page's second event is refused
    report = ports.tick(page_size=3, read_at_once=100)
    assert report.failure is not None and report.pages == 2
    assert report.records_read == 4 and not report.caught_up
    saved = ports.cursor.saved
    assert saved is not None and saved.position == FakePosition(records[3].storage_id)
    ports.emitter.allowance = None
    assert ports.tick(page_size=3, read_at_once=100).caught_up
    assert ports.source.reads == 2  # read again from the last record accepted
    assert list(dict.fromkeys(ports.emitter.sent)) == _straight(records)


def test_no_page_of_a_read_starts_after_the_deadline() -> None:
    records = _two_runs()
    ports = Ports(records)
    ports.emitter = FakeEmitter(ports.clock, seconds=1.0)  # each event takes a second
    report = ports.tick(page_size=3, seconds=3.0, read_at_once=100)  # the first page's time
    assert ports.source.reads == 1 and report.pages == 1 and not report.caught_up
    assert report.records_read == 3 and not report.out_of_time
    assert ports.tick(page_size=3, seconds=60.0, read_at_once=100).caught_up
    assert ports.emitter.sent == _straight(records)


def test_a_read_failure_is_not_called_the_backends() -> None:
    records = _two_runs()
    ports = Ports(records)

    class FailingSecondRead(FakeEventSource):
        def read(self, after: Position, limit: int) -> FakeBatch:
            if self.reads == 1:
                self.reads += 1
                raise OSError("database is locked")
            return super().read(after, limit)

    ports.source = FailingSecondRead(records)
    summary = ports.tick(page_size=3).summary()
    assert "stopped: reading the event log failed: OSError: database is locked" in summary
    assert "backend" not in summary


def test_a_cursor_ahead_of_the_log_is_refused_with_how_to_fix_it() -> None:
    """The newest records deleted, and their storage ids used again by new ones (SQLite), or the
    log restored from an older backup: records at or below the cursor written after it."""
    records = _two_runs()
    ports = Ports(records)
    ports.tick()
    later = RunWriter("c", start=records[-1].timestamp + 60).successful([])
    reused = [replace(r, storage_id=records[-1].storage_id - i) for i, r in enumerate(later)]
    ports.source.log = records[:-2] + reused[::-1]
    with pytest.raises(
        CursorError, match=r"newer than what was read\. Give the sensor an after_storage_id"
    ):
        ports.tick()
    assert ports.emitter.sent == _straight(records)  # nothing more sent


def test_pages_are_as_large_as_the_emitters_requests() -> None:
    """An emitter that sends its events in requests of `batch_size` (the batch transport's,
    500 by default) gets pages of that many records however small the sensor's pages: pages of
    30 would cut every request to 30 events. A failure keeps what was accepted, record by
    record, as in any page."""
    records = _two_runs()
    ports = Ports(records)
    ports.emitter.batch_size = 4
    report = ports.tick(page_size=3, read_at_once=100)
    assert report.pages == 3 and report.caught_up
    assert ports.emitter.calls == [4, 4, 2]
    assert ports.emitter.sent == _straight(records)
    failing = Ports(records)
    failing.emitter.batch_size, failing.emitter.allowance = 4, 6
    report = failing.tick(page_size=3, read_at_once=100)
    assert failing.emitter.calls[:2] == [4, 4]  # the second page is accepted in part
    assert report.records_read == 6 and report.failure is not None
    saved = failing.cursor.saved
    assert saved is not None and saved.position == FakePosition(records[5].storage_id)

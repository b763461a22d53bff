"""Retries inside the tick's budget, and runs that never end."""

from __future__ import annotations

import math
import re

from ol_dagster.app.tick import TickBudget, run_tick
from ol_dagster.domain.dead_letters import DeadLetter
from ol_dagster.domain.errors import OlDagsterError
from ol_dagster.domain.ports import EmitResult
from ol_dagster.domain.records import DagsterRecord
from ol_dagster.domain.translate import Translator
from tests.fakes import (
    FakeClock,
    FakeCursorStore,
    FakeDeadLetters,
    FakeEmitter,
    FakeEventSource,
    FakePosition,
    FlakyEmitter,
)
from tests.support.records import RunWriter

HOUR = 3600.0


def _tick(
    source: FakeEventSource,
    cursor: FakeCursorStore,
    emitter: FakeEmitter,
    clock: FakeClock,
    budget: TickBudget | None = None,
) -> str:
    report = run_tick(
        source=source,
        cursor=cursor,
        emitter=emitter,
        translator=Translator("default"),
        budget=budget or TickBudget(page_size=50, seconds=30.0, open_run_max_age=24 * HOUR),
        clock=clock,
        sleep=clock.sleep,
    )
    return report.summary()


def test_a_transient_failure_is_retried_with_growing_delays_inside_the_tick() -> None:
    records = RunWriter("a").successful(["x"])
    emitter, clock = FlakyEmitter(failures=3), FakeClock()
    summary = _tick(FakeEventSource(records), FakeCursorStore(), emitter, clock)
    assert clock.slept == [0.5, 1.0, 2.0]
    assert len(emitter.sent) == 4
    assert "3 emit retries" in summary and "stopped" not in summary


def test_retries_stop_before_the_budget_runs_out() -> None:
    records = RunWriter("a").successful([])
    emitter, clock = FakeEmitter(), FakeClock()
    emitter.allowance = 0
    cursor = FakeCursorStore()
    summary = _tick(FakeEventSource(records), cursor, emitter, clock)
    assert clock.slept == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]  # 23.5 s; one more 8 s would pass 30 s
    assert "stopped: the OpenLineage backend did not accept events" in summary
    assert cursor.saved is not None and cursor.saved.position == FakePosition(0)


def test_a_run_that_never_ends_is_forgotten_once_the_log_moves_past_its_age() -> None:
    dead, alive = RunWriter("dead"), RunWriter("alive")
    source = FakeEventSource([dead.write("RUN_START"), dead.write("STEP_START", "x")])
    cursor, emitter, clock = FakeCursorStore(), FakeEmitter(), FakeClock()
    _tick(source, cursor, emitter, clock)
    assert cursor.saved is not None and set(cursor.saved.runs.runs) == {dead.run_id}

    alive.clock = dead.clock + 23 * HOUR
    source.append(*alive.successful([]))
    _tick(source, cursor, emitter, clock)
    assert set(cursor.saved.runs.runs) == {dead.run_id}  # 23 hours of log time: not yet

    later = RunWriter("later", start=alive.clock + 2 * HOUR)
    source.append(later.write("RUN_START"))
    summary = _tick(source, cursor, emitter, clock)  # reads past 24 h ...
    summary = _tick(source, cursor, emitter, clock)  # ... and the next tick gives up the run
    assert "gave up 1 runs that never ended" in summary
    assert dead.run_id not in cursor.saved.runs.runs
    assert source.forgotten == [dead.run_id]


def test_old_history_read_in_a_catch_up_does_not_age_its_runs() -> None:
    # A run of long ago, read tick by tick: its age is measured in log time, not wall time.
    old = RunWriter("old", start=1_000_000_000.0)
    records: list[DagsterRecord] = old.successful(["a", "b", "c", "d"])
    source, cursor, emitter, clock = (
        FakeEventSource(records),
        FakeCursorStore(),
        FakeEmitter(),
        FakeClock(),
    )
    budget = TickBudget(page_size=2, seconds=0.0, open_run_max_age=HOUR)
    for _ in range(6):
        _tick(source, cursor, emitter, clock, budget)
    ids = {(e.job.name, e.event_type.value): e.run_id for e in emitter.sent}
    assert ids[("old", "START")] == ids[("old", "COMPLETE")]
    assert len(emitter.sent) == 10


class RejectingEmitter(FakeEmitter):
    """A backend that judges the events themselves unacceptable (an HTTP 400)."""

    def emit(self, events, *, deadline=math.inf):  # type: ignore[no-untyped-def]
        return EmitResult(accepted=0, failure="HTTPError: 400 Client Error", retryable=False)


def test_a_rejection_that_sending_again_cannot_mend_is_not_retried() -> None:
    emitter, clock, cursor = RejectingEmitter(), FakeClock(), FakeCursorStore()
    summary = _tick(FakeEventSource(RunWriter("a").successful([])), cursor, emitter, clock)
    assert clock.slept == []
    assert re.search(
        r"stopped: the OpenLineage backend did not accept events: the START event of job a "
        r"\(Dagster run \S+, storage id \d+\) was not accepted: HTTPError: 400",
        summary,
    ), summary
    assert cursor.saved is not None and cursor.saved.position == FakePosition(0)


def test_a_long_page_stops_at_the_budget_and_resumes_next_tick() -> None:
    """A backend 100 ms an event away: the emitter sends nothing past the deadline, so the
    tick ends at its budget, not a whole page of events later."""
    records = [r for _ in range(200) for r in RunWriter("a").successful(["x"])]  # 800 events
    source, clock, cursor = FakeEventSource(records), FakeClock(), FakeCursorStore()
    emitter = FakeEmitter(clock, seconds=0.1)
    budget = TickBudget(page_size=len(records), seconds=25.0)
    first = _tick(source, cursor, emitter, clock, budget)
    assert emitter.calls == [800]  # the whole page in one call: the emitter keeps the deadline
    assert 25.0 <= clock.now <= 25.1 + 1e-9
    sent = len(emitter.sent)
    assert 249 <= sent <= 251
    # the whole page was read; what was not sent is said, to be sent by the next tick
    assert f"read {len(records)} records in 1 pages, emitted {sent} events" in first
    assert f"{len(records) - sent} records to send again" in first
    assert "more to read (the tick's budget ran out while sending)" in first
    assert cursor.saved is not None
    saved_after = cursor.saved.position
    assert saved_after == FakePosition(records[sent - 1].storage_id)  # 1 event a record here
    while "caught up" not in _tick(source, cursor, emitter, clock, budget):
        pass
    assert emitter.sent == [e for e in _events_of(records)]


def test_retries_and_the_send_share_the_one_deadline() -> None:
    """A backend that fails, then is slow: the retry waits count against the same budget."""
    records = [r for _ in range(100) for r in RunWriter("a").successful([])]  # 200 events
    clock = FakeClock()
    emitter = FlakyEmitter(failures=2)
    emitter.clock, emitter.seconds = clock, 1.0
    _tick(FakeEventSource(records), FakeCursorStore(), emitter, clock, TickBudget(200, 10.0))
    assert clock.slept == [0.5, 1.0]
    # 1.5 s of waits, then 1 s an event: the last starts at 9.5 s, none at 10 s or later
    assert clock.now == 10.5 and len(emitter.sent) == 9


def _events_of(records: list[DagsterRecord]) -> list[object]:
    from ol_dagster.domain.run_state import RunState

    translator, state, events = Translator("default"), RunState(), []
    for record in records:
        events.extend(translator.translate(state, record))
    return events


class FailingSecondRead(FakeEventSource):
    def read(self, after, limit):  # type: ignore[no-untyped-def]
        if self.reads == 1:
            self.reads += 1
            raise OSError("database is locked")
        return super().read(after, limit)


def test_a_read_error_after_some_pages_keeps_their_progress() -> None:
    records = RunWriter("a").successful(["x", "y"])
    source, clock, cursor, emitter = (
        FailingSecondRead(records),
        FakeClock(),
        FakeCursorStore(),
        FakeEmitter(),
    )
    summary = _tick(
        source, cursor, emitter, clock, TickBudget(page_size=2, seconds=30.0, read_at_once=1)
    )
    assert "reading the event log failed: OSError: database is locked" in summary
    assert cursor.saved is not None and cursor.saved.position == FakePosition(records[1].storage_id)
    assert len(emitter.sent) == 2


class _FailsThenOutOfTime(FakeEmitter):
    """A request that times out, then no time left for its retry (what a hanging backend does)."""

    def emit(self, events, *, deadline=math.inf):  # type: ignore[no-untyped-def]
        self.calls.append(len(events))
        if len(self.calls) == 1:
            return EmitResult(accepted=0, failure="ReadTimeout: read timed out")
        return EmitResult(accepted=0)


def test_running_out_of_time_while_retrying_reports_the_failure() -> None:
    emitter, clock, cursor = _FailsThenOutOfTime(), FakeClock(), FakeCursorStore()
    summary = _tick(FakeEventSource(RunWriter("a").successful([])), cursor, emitter, clock)
    assert emitter.calls == [2, 2] and clock.slept == [0.5]
    assert "was not accepted: ReadTimeout: read timed out" in summary
    assert "budget ran out" not in summary


class _FailsAroundProgress(FakeEmitter):
    """Fails, accepts one event, fails again, then accepts the rest."""

    def emit(self, events, *, deadline=math.inf):  # type: ignore[no-untyped-def]
        self.calls.append(len(events))
        if len(self.calls) in (1, 3):
            return EmitResult(accepted=0, failure="HTTPError: 503 Server Error")
        if len(self.calls) == 2:
            return EmitResult(accepted=1, failure="HTTPError: 503 Server Error")
        return super().emit(events)


def test_the_retry_delay_starts_again_after_progress() -> None:
    emitter, clock = _FailsAroundProgress(), FakeClock()
    _tick(FakeEventSource(RunWriter("a").successful(["x"])), FakeCursorStore(), emitter, clock)
    assert clock.slept == [0.5, 0.5, 1.0]


class _Unreadable(FakeDeadLetters):
    def letters(self) -> list[DeadLetter]:
        raise OlDagsterError("the dead letters kept under the instance key 'k' cannot be read")


def test_an_unreadable_dead_letter_store_stops_at_refusals_and_says_why() -> None:
    emitter = FakeEmitter()
    emitter.refused_jobs = {"bad"}
    report = run_tick(
        source=FakeEventSource(RunWriter("good").successful([]) + RunWriter("bad").successful([])),
        cursor=FakeCursorStore(),
        emitter=emitter,
        translator=Translator("default"),
        budget=TickBudget(page_size=50, seconds=30.0),
        dead_letters=_Unreadable(),
        sleep=lambda _: None,
    )
    assert len(emitter.sent) == 2  # the good run, then the refusal stops the tick
    assert report.failure is not None and "the START event of job bad" in report.failure
    assert "dead letters not kept: the dead letters kept under" in report.summary()


class _SlowFirstRead(FakeEventSource):
    """A first read that takes longer than the whole budget (a slow database)."""

    def __init__(self, records: list[DagsterRecord], clock: FakeClock) -> None:
        super().__init__(records)
        self.clock = clock

    def read(self, after, limit):  # type: ignore[no-untyped-def]
        if not self.reads:
            self.clock.now += 40.0
        return super().read(after, limit)


def test_a_first_read_slower_than_the_budget_still_sends_its_page() -> None:
    clock = FakeClock()
    records = RunWriter("a").successful(["x"])
    emitter = FakeEmitter(clock, seconds=0.1)
    summary = _tick(_SlowFirstRead(records, clock), FakeCursorStore(), emitter, clock)
    assert len(emitter.sent) == 4 and "caught up" in summary  # 0.4 s of the first page's 1 s

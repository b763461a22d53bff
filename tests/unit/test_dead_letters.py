"""Events the backend refuses for good set aside as dead letters: no job holds back another."""

from __future__ import annotations

import json

from ol_dagster.app.tick import TickBudget, TickReport, run_tick
from ol_dagster.domain.records import DagsterRecord
from ol_dagster.domain.run_state import TailState
from ol_dagster.domain.translate import Translator
from tests.fakes import (
    FakeCursorStore,
    FakeDeadLetters,
    FakeEmitter,
    FakeEventSource,
    FakePosition,
)
from tests.support.records import RunWriter, interleave


def _tick(
    source: FakeEventSource,
    emitter: FakeEmitter,
    cursor: FakeCursorStore,
    letters: FakeDeadLetters | None,
    page_size: int = 4,
) -> TickReport:
    return run_tick(
        source=source,
        cursor=cursor,
        emitter=emitter,
        translator=Translator("default"),
        budget=TickBudget(page_size=page_size, seconds=30.0),
        dead_letters=letters,
        sleep=lambda _: None,
    )


def _log() -> list[DagsterRecord]:
    return list(
        interleave(RunWriter("good").successful(["x", "y"]), RunWriter("bad").successful(["z"]))
    )


def test_a_refused_job_holds_back_no_other_job() -> None:
    records = _log()
    source, cursor, letters = FakeEventSource(records), FakeCursorStore(), FakeDeadLetters()
    emitter = FakeEmitter()
    emitter.refused_jobs = {"bad"}
    report = _tick(source, emitter, cursor, letters)
    assert report.caught_up and report.failure is None
    assert {e.job.name.split(".")[0] for e in emitter.sent} == {"good"}
    assert len(emitter.sent) == 6  # the good run's START and COMPLETE, and its steps'
    bad = [r for r in records if r.job_name == "bad"]
    kept = letters.letters()
    assert [(x.job, x.event_type) for x in kept] == [
        ("bad", "START"),
        ("bad.z", "START"),
        ("bad.z", "COMPLETE"),
        ("bad", "COMPLETE"),
    ]
    by_id = {r.storage_id: r for r in bad}
    for letter in kept:
        record = by_id[letter.storage_id]
        assert letter.dagster_run_id == record.run_id
        assert letter.key.startswith(f"{record.run_id}:{record.storage_id}:")
        assert letter.reason == emitter._refusal(0, "").failure
        assert json.loads(letter.event) == {"job": letter.job}
    assert report.events_emitted == 6 and report.dead_letters == 4
    assert "set aside 4 events the backend refused; 4 dead letters kept" in report.summary()


def test_letters_are_kept_before_the_cursor_passes_them() -> None:
    letters = FakeDeadLetters()
    seen: list[int] = []

    class Ordered(FakeCursorStore):
        def save(self, state: TailState) -> None:
            seen.append(len(letters.kept))
            super().save(state)

    emitter = FakeEmitter()
    emitter.refused_jobs = {"bad"}
    _tick(FakeEventSource(_log()), emitter, Ordered(), letters, page_size=100)
    assert seen == [4]  # one page: its letters were kept when its cursor was saved


def test_the_same_refusal_read_again_keeps_one_letter() -> None:
    """A tick that dies after keeping its letters but before its cursor is stored reads the
    same records again: the letters are replaced, not doubled."""
    records = _log()
    letters, emitter = FakeDeadLetters(), FakeEmitter()
    emitter.refused_jobs = {"bad"}
    _tick(FakeEventSource(records), emitter, FakeCursorStore(), letters)
    _tick(FakeEventSource(records), emitter, FakeCursorStore(), letters)  # a lost cursor
    assert len(letters.letters()) == 4


def test_with_dead_letters_off_the_tick_stops_at_the_refused_event_and_names_it() -> None:
    records = _log()
    emitter, cursor = FakeEmitter(), FakeCursorStore()
    emitter.refused_jobs = {"bad"}
    report = _tick(FakeEventSource(records), emitter, cursor, letters=None)
    bad_start = next(r for r in records if r.kind == "RUN_START" and r.job_name == "bad")
    assert report.failure is not None
    assert report.failure.startswith(
        f"the START event of job bad (Dagster run {bad_start.run_id}, storage id "
        f"{bad_start.storage_id}) was not accepted: HTTPError: 400 Client Error; "
        "the backend answered: unknown facet"
    )
    assert cursor.saved is not None
    assert cursor.saved.position == FakePosition(bad_start.storage_id - 1)


def test_a_full_store_stops_the_tick_as_if_off() -> None:
    letters, emitter = FakeDeadLetters(limit=2), FakeEmitter()
    emitter.refused_jobs = {"bad"}
    report = _tick(FakeEventSource(_log()), emitter, FakeCursorStore(), letters)
    assert len(letters.letters()) == 2
    assert report.failure is not None and "the dead-letter store is full" in report.failure
    again = _tick(FakeEventSource(_log()), emitter, FakeCursorStore(), letters)
    assert again.failure is not None and "the dead-letter store is full" in again.failure
    assert "2 dead letters kept" in again.summary()


def test_resent_letters_go_through_the_emitter_as_they_were() -> None:
    letters, emitter = FakeDeadLetters(), FakeEmitter()
    emitter.refused_jobs = {"bad"}
    _tick(FakeEventSource(_log()), emitter, FakeCursorStore(), letters)
    emitter.refused_jobs = set()
    texts = [x.event for x in letters.letters()]
    assert emitter.emit_encoded(texts).accepted == 4
    assert emitter.encoded == texts

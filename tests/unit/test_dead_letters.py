"""Events the backend refuses for good set aside as dead letters: no job holds back another."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from ol_dagster.app.resend import resend_letters
from ol_dagster.app.tick import TickBudget, TickReport, run_tick
from ol_dagster.domain.lineage import Emittable, LineageEvent
from ol_dagster.domain.ports import EmitResult
from ol_dagster.domain.records import DagsterRecord
from ol_dagster.domain.run_state import RunState, TailState
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
    set_aside_after: int = 20,
) -> TickReport:
    return run_tick(
        source=source,
        cursor=cursor,
        emitter=emitter,
        translator=Translator("default"),
        budget=TickBudget(page_size=page_size, seconds=30.0),
        dead_letters=letters,
        set_aside_after=set_aside_after,
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
        assert (letter.dagster_job, letter.set_aside) == ("bad", False)
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


class _CountingEmitter(FakeEmitter):
    """Names the job of each event it tried to send: those it took, and the one it failed at."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def emit(self, events: Sequence[Emittable], *, deadline: float = math.inf) -> EmitResult:
        result = super().emit(events, deadline=deadline)
        tried = events[: result.accepted + (result.failure is not None)]
        self.asked.extend(e.job.name for e in tried if isinstance(e, LineageEvent))
        return result


def test_a_job_refused_too_often_is_set_aside_unsent_and_no_cap_stops_the_tick() -> None:
    bad_runs = [RunWriter("bad").successful(["z"]) for _ in range(3)]
    records = list(interleave(RunWriter("good").successful(["x"]), *bad_runs))
    letters, emitter = FakeDeadLetters(), _CountingEmitter()
    emitter.refused_jobs = {"bad"}
    report = _tick(FakeEventSource(records), emitter, FakeCursorStore(), letters, set_aside_after=3)
    assert report.caught_up and report.failure is None
    assert sum(job.startswith("bad") for job in emitter.asked) == 3  # then none was tried
    kept = letters.letters()
    assert len(kept) == 12  # every event of the 3 bad runs: nothing lost
    assert sum(not x.set_aside for x in kept) == 3
    assert all(x.reason.startswith("not sent: the backend had refused 3") for x in kept[3:])
    assert {e.job.name for e in emitter.sent} == {"good", "good.x"}
    assert report.unsent == 9 and report.jobs_set_aside == ["bad"]
    assert "9 events of jobs the backend refuses set aside unsent (bad)" in report.summary()

    # the next tick sets the job's new run aside at once, and the other jobs' go on
    more = [*RunWriter("bad").successful([]), *RunWriter("other").successful([])]
    asked = len(emitter.asked)
    again = _tick(FakeEventSource(more), emitter, FakeCursorStore(), letters, set_aside_after=3)
    assert emitter.asked[asked:] == ["other", "other"]
    assert again.unsent == 2 and len(letters.letters()) == 14


def test_resent_letters_are_their_events_translated_again_from_the_log() -> None:
    records = _log()
    letters, emitter = FakeDeadLetters(), FakeEmitter()
    emitter.refused_jobs = {"bad"}
    _tick(FakeEventSource(records), emitter, FakeCursorStore(), letters, set_aside_after=2)
    assert sum(x.set_aside for x in letters.letters()) == 2
    emitter.refused_jobs = set()
    sent_before = len(emitter.sent)
    done = resend_letters(
        FakeEventSource(records), Translator("default"), emitter, letters.letters()
    )
    assert len(done.accepted) == 4 and done.refused == done.gone == [] and done.failure is None
    bad = [r for r in records if r.job_name == "bad"]
    expected, _, _ = Translator("default").translate_all(RunState(), bad)
    assert emitter.sent[sent_before:] == expected  # the same events, the same run ids


def test_letters_refused_again_on_resend_are_named_and_the_rest_sent() -> None:
    records = _log()
    letters, emitter = FakeDeadLetters(), FakeEmitter()
    emitter.refused_jobs = {"bad"}
    _tick(FakeEventSource(records), emitter, FakeCursorStore(), letters)
    done = resend_letters(
        FakeEventSource(records), Translator("default"), emitter, letters.letters()
    )
    assert (len(done.accepted), len(done.refused), done.failure) == (0, 4, None)
    gone = resend_letters(FakeEventSource([]), Translator("default"), emitter, letters.letters())
    assert len(gone.gone) == 4


class _DefectOnZ(Translator):
    """A translator with a defect that shows on the start of step `z`."""

    def translate(self, state: RunState, record: DagsterRecord) -> list[Emittable]:
        if record.kind == "STEP_START" and record.step_key == "z":
            raise KeyError("a defect")
        return super().translate(state, record)


def test_a_record_a_defect_kept_from_translation_is_kept_and_sent_once_fixed() -> None:
    records = _log()
    letters, emitter, cursor = FakeDeadLetters(), FakeEmitter(), FakeCursorStore()
    report = run_tick(
        source=FakeEventSource(records),
        cursor=cursor,
        emitter=emitter,
        translator=_DefectOnZ("default"),
        budget=TickBudget(page_size=4, seconds=30.0),
        dead_letters=letters,
        sleep=lambda _: None,
    )
    assert report.caught_up and len(report.skipped) == 1
    [letter] = letters.letters()
    broken = next(r for r in records if r.kind == "STEP_START" and r.step_key == "z")
    assert (letter.event_type, letter.storage_id, letter.dagster_job) == (
        "UNTRANSLATED",
        broken.storage_id,
        "bad",
    )
    assert "KeyError" in letter.reason and "could not be translated" in letter.describe()
    assert cursor.saved is not None and cursor.saved.position == FakePosition(
        records[-1].storage_id
    )

    still = resend_letters(FakeEventSource(records), _DefectOnZ("default"), emitter, [letter])
    assert still.untranslated == [letter] and still.accepted == []
    sent_before = len(emitter.sent)
    fixed = resend_letters(FakeEventSource(records), Translator("default"), emitter, [letter])
    assert fixed.accepted == [letter]
    [start] = emitter.sent[sent_before:]
    assert (start.event_type.value, start.job.name) == ("START", "bad.z")


def test_a_letter_whose_record_no_longer_makes_its_event_is_kept_not_replaced() -> None:
    """A resend after an upgrade that changed a record's events sends no other event in the
    letter's place: the letter is kept and named."""
    records = _log()
    letters, emitter = FakeDeadLetters(), FakeEmitter()
    emitter.refused_jobs = {"bad"}
    _tick(FakeEventSource(records), emitter, FakeCursorStore(), letters)
    start = next(x for x in letters.letters() if (x.job, x.event_type) == ("bad", "START"))
    moved = replace(start, index=5)  # its place taken by nothing: found by its type and job
    changed = replace(start, event_type="FAIL")  # the record makes no such event now
    emitter.refused_jobs = set()
    sent_before = len(emitter.sent)
    done = resend_letters(
        FakeEventSource(records), Translator("default"), emitter, [moved, changed]
    )
    assert done.accepted == [moved] and done.gone == [changed]
    [resent] = emitter.sent[sent_before:]
    assert (resent.event_type.value, resent.job.name) == ("START", "bad")

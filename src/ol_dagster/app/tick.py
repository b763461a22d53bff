"""The use case one sensor tick runs.

Load the state, then page after page: read records, translate them, emit the events, and save
the state, in that order, so the saved position never passes an event the backend did not accept.
Records are read `READ_AT_ONCE` a query and cut into pages; a page is cut and translated while
the page before it is being emitted (see `run_tick`).
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import accumulate

from ol_dagster.domain.dead_letters import (
    SET_ASIDE_AFTER,
    DeadLetter,
    event_names,
    refusals_by_job,
    untranslated,
)
from ol_dagster.domain.errors import (
    AHEAD_OF_LOG_HINT,
    CursorError,
    OlDagsterError,
    TranslationDefect,
    UntranslatableRecord,
)
from ol_dagster.domain.lineage import Emittable
from ol_dagster.domain.ports import (
    Batch,
    CursorStore,
    DeadLetters,
    EmitResult,
    Emitter,
    EventSource,
    Position,
)
from ol_dagster.domain.records import DagsterRecord
from ol_dagster.domain.run_state import RunState, TailState
from ol_dagster.domain.translate import Translator

logger = logging.getLogger("ol_dagster")


DEFAULT_OPEN_RUN_MAX_AGE_SECONDS = 7 * 24 * 3600.0
READ_AT_ONCE = 500
"""Records read from the event log in one query when pages are smaller: Dagster's own read of 30
records a query runs at 0.31 to 0.55 of its read of 500 on consolidated SQLite and PostgreSQL
(`make bench`; alike on run-sharded SQLite), a fixed cost per query (a new database connection
each on PostgreSQL) that no reader of small pages avoids."""
FIRST_PAGE_SECONDS = 1.0
"""The least time a tick's first page has to be sent, however long reading it took: without it,
a read slower than the budget would leave every tick with no time to send anything."""


@dataclass(frozen=True, slots=True)
class TickBudget:
    page_size: int
    """Records per page: the sensor's `record_filter_limit`, or the emitter's `batch_size` when
    larger (the batch transport's events a request). A page's events are sent together and the
    cursor moves past it once they are accepted; no page starts after the deadline."""
    seconds: float
    """No new page, request or retry is started after this many seconds, and a request is ended
    by then plus `REQUEST_GRACE_SECONDS` (adapters/openlineage_emitter.py): the tick returns
    within that, a page's read and the cursor's save."""
    first_retry_delay: float = 0.5
    """Wait before retrying a failed emit; doubles with each retry, up to `max_retry_delay`."""
    max_retry_delay: float = 8.0
    open_run_max_age: float = DEFAULT_OPEN_RUN_MAX_AGE_SECONDS
    """A run open for longer than this without any end is given up as dead and forgotten."""
    read_at_once: int = READ_AT_ONCE
    """Records read from the event log in one query, cut into pages; a page at least."""

    def sending(self, batch_size: int) -> TickBudget:
        """This budget for an emitter that sends `batch_size` events a request."""
        return replace(self, page_size=max(self.page_size, batch_size))

    @property
    def read_size(self) -> int:
        return max(self.page_size, self.read_at_once)


@dataclass(slots=True, kw_only=True)
class TickReport:
    position: Position
    """Where the tick left the cursor."""
    records_read: int = 0
    """Records done with: all their events accepted (or none to send)."""
    records_unsent: int = 0
    """Records read but not done with: their events were not all accepted; read again later."""
    events_emitted: int = 0
    pages: int = 0
    skipped: list[UntranslatableRecord] = field(default_factory=list)
    caught_up: bool = False
    failure: str | None = None
    """Why the backend did not accept the events (after those it did)."""
    read_failure: str | None = None
    """Why the event log could not be read (after what was read)."""
    error: str | None = None
    """An error that stopped the tick after some progress (kept: the tick returns)."""
    retries: int = 0
    dead_letters: int = 0
    """Events the backend refused for good, set aside as dead letters by this tick."""
    unsent: int = 0
    """Events of jobs the backend refuses set aside by this tick without being sent."""
    jobs_set_aside: list[str] = field(default_factory=list)
    """Dagster jobs whose events are set aside unsent, refused too often."""
    dead_letters_kept: int = 0
    """Dead letters kept, before this tick and after it set any aside."""
    dead_letters_note: str | None = None
    """Why refused events were not kept this tick."""
    out_of_time: bool = False
    """The budget ran out while a page was being sent: the rest of it goes next tick."""
    open_runs: int = 0
    expired_runs: list[str] = field(default_factory=list)
    log_time: float = 0.0
    """Timestamp of the newest record done with."""

    @property
    def stopped_because(self) -> str | None:
        """Why the tick stopped before it caught up, other than its budget: the backend, the
        event log, or an error (each after what was done before it, which is kept)."""
        if self.failure:
            return f"the OpenLineage backend did not accept events: {self.failure}"
        if self.read_failure:
            return f"reading the event log failed: {self.read_failure}"
        if self.error:
            return f"an error, what was sent before it kept: {self.error}"
        return None

    def settled(self, state: TailState) -> None:
        """The cursor now stands at `state`."""
        self.open_runs = len(state.runs.runs)
        self.position = state.position
        self.log_time = state.log_time

    @property
    def progressed(self) -> bool:
        return self.records_read > 0

    def summary(self) -> str:
        if self.records_read == 0 and self.failure is None and self.caught_up:
            text = "nothing new in the event log since the last tick"
        else:
            text = (
                f"read {self.records_read + self.records_unsent} records in {self.pages} pages, "
                f"emitted {self.events_emitted} events, skipped {len(self.skipped)} records"
            )
            if self.records_unsent:
                text += f", {self.records_unsent} records to send again"
        text += f", {self.open_runs} runs open, " + (
            "caught up" if self.caught_up else "more to read"
        )
        if self.out_of_time:
            text += " (the tick's budget ran out while sending)"
        if self.expired_runs:
            text += f", gave up {len(self.expired_runs)} runs that never ended"
        if self.retries:
            text += f", {self.retries} emit retries"
        if self.dead_letters:
            text += f", set aside {self.dead_letters} events the backend refused"
        if self.jobs_set_aside:
            text += (
                f", {self.unsent} events of jobs the backend refuses set aside unsent ("
                + ", ".join(self.jobs_set_aside[:5])
                + (", ..." if len(self.jobs_set_aside) > 5 else "")
                + ")"
            )
        if self.dead_letters_kept:
            text += (
                f"; {self.dead_letters_kept} dead letters kept "
                "(`ol-dagster dead-letters list`, then `resend`)"
            )
        if self.dead_letters_note:
            text += f"; {self.dead_letters_note}"
        if self.stopped_because:
            text += f"; stopped: {self.stopped_because}"
        return text


def run_tick(
    *,
    source: EventSource,
    cursor: CursorStore,
    emitter: Emitter,
    translator: Translator,
    budget: TickBudget,
    after_storage_id: int = 0,
    dead_letters: DeadLetters | None = None,
    set_aside_after: int = SET_ASIDE_AFTER,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> TickReport:
    """Page after page until caught up, out of budget, or stopped by a failure.

    An event the backend refuses for good is kept in `dead_letters`, and sending goes on; with
    none, the tick stops at it, as at any other failure. Once `set_aside_after` events of one
    Dagster job are kept so (0: never), that job's later events are kept there unsent.

    Pages are pipelined: while one page's events are being sent (on a worker thread), the next
    page is read and translated, as if the pending one were accepted. The next page's events are
    sent only once the pending page is settled: all of it accepted and the cursor saved past it.
    If it is not, the page read ahead is dropped unsent and the tick stops, the cursor after the
    last record whose events all arrived. Nor is it sent once the budget is spent: no page starts
    late. Waits on the database and on the backend overlap.
    """
    deadline = clock() + budget.seconds
    state = cursor.load() or TailState(source.initial_position(after_storage_id), RunState())
    ahead_of_log = source.ahead_of_log(state.position, state.log_time)
    if ahead_of_log is not None:
        raise CursorError(ahead_of_log, hint=AHEAD_OF_LOG_HINT)
    report = TickReport(position=state.position)
    refusals = _Refusals(set_aside_after)
    if dead_letters is not None:
        try:
            refusals.known(dead_letters.letters(), report)
        except OlDagsterError as error:  # refusals then stop the tick, as with none
            report.dead_letters_note = f"dead letters not kept: {error}"
            dead_letters = None
    state = _forget_dead_runs(state, source, budget.open_run_max_age, report)
    report.settled(state)
    budget = budget.sending(emitter.batch_size)
    pages = _Pages(
        source, cursor, emitter, translator, budget, dead_letters, refusals, deadline, clock, sleep
    )
    # Dagster keeps a cursor saved with `update_cursor` only if the evaluation returns: an error
    # after a page was saved is reported, not raised, so that the progress stays.
    try:
        pages.send(state, report)
    except Exception as error:
        if not report.progressed:
            raise
        logger.exception(
            "ol-dagster: the tick stopped on an error after %d records", report.records_read
        )
        report.error = f"{type(error).__name__}: {error}"
    for skip in report.skipped:
        logger.warning("ol-dagster skipped %s", skip)
    return report


@dataclass(slots=True)
class _Pages:
    """What one tick reads, translates and sends its pages with."""

    source: EventSource
    cursor: CursorStore
    emitter: Emitter
    translator: Translator
    budget: TickBudget
    dead_letters: DeadLetters | None
    refusals: _Refusals
    deadline: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    unread: _Unread | None = None
    """The records of the last read not yet cut into pages."""

    def send(self, state: TailState, report: TickReport) -> None:
        """Page after page from `state`; each page settled (the cursor saved) before the next
        is sent, while the one after it is read."""
        ahead = state  # the state once every page read so far is accepted
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ol-dagster-emit") as sender:
            pending: _Page | None = None
            while True:
                page, read_error, bug = self._next(ahead, pending)
                if pending is not None:
                    complete = _settle(
                        pending,
                        self.translator,
                        self.cursor,
                        self.dead_letters,
                        self.refusals,
                        report,
                    )
                    if bug is not None:
                        raise bug
                    if not complete:
                        break  # the page read ahead is dropped: it resumes next tick
                    if page is not None and self.clock() >= self.deadline:
                        break  # out of budget while the pending page was sent: none starts
                if bug is not None:
                    raise bug
                if read_error is not None:
                    if not report.progressed:
                        raise read_error
                    report.read_failure = f"{type(read_error).__name__}: {read_error}"
                    break
                if page is None:
                    report.caught_up = pending is not None and pending.last
                    break
                report.pages += 1
                pending, ahead = page, page.ahead
                page.sent = sender.submit(self._emit, page, report)

    def _next(
        self, ahead: TailState, pending: _Page | None
    ) -> tuple[_Page | None, Exception | None, Exception | None]:
        """The page after `ahead`, cut from the records read last or from a new read, and
        translated, unless none is due; or the error of reading it, or of translating it (a
        bug, raised once the pending page is settled)."""
        if pending is not None and (pending.last or self.clock() >= self.deadline):
            return None, None, None
        if self.unread is None:
            try:
                batch = self.source.read(ahead.position, self.budget.read_size)
            except Exception as error:  # noqa: BLE001  (reported, or raised, by `send`)
                return None, error, None
            self.unread = _Unread(batch, len(batch.records) < self.budget.read_size)
        page = self.unread.cut(self.budget.page_size)
        if self.unread.done == len(self.unread.batch.records):
            self.unread = None
        try:
            return _translated(page, self.translator, ahead), None, None
        except Exception as error:  # noqa: BLE001  (raised by `send` after settling)
            return None, None, error

    def _emit(self, page: _Page, report: TickReport) -> EmitResult:
        """The one retry layer: emit, and retry what was not accepted with a growing delay,
        all before the deadline, which the emitter also keeps (it starts no request past it and
        ends each one by then). A failure that sending again cannot mend is not retried: the
        event is set aside as a dead letter, and sending goes on; with no store, the page stops
        there. Events of jobs refused too often are set aside without being sent. `accepted`
        counts the events set aside."""
        events = page.events
        deadline = self.deadline
        if report.pages == 1:  # a first read that outlasted the budget: the tick still moves
            deadline = max(deadline, self.clock() + FIRST_PAGE_SECONDS)
        accepted, delay = 0, self.budget.first_retry_delay
        failure: EmitResult | None = None  # the failure being retried, until something is accepted
        refusals, store = self.refusals, self.dead_letters is not None
        while accepted < len(events):
            end = refusals.unsent_from(page, accepted) if store else len(events)
            if end == accepted:  # an event of a job set aside: kept unsent
                page.letters.append(refusals.unsent_letter(page, accepted))
                accepted += 1
                continue
            result = self.emitter.emit(events[accepted:end], deadline=deadline)
            accepted += result.accepted
            if result.accepted:
                failure, delay = None, self.budget.first_retry_delay
            if result.failure is None:
                if accepted == end:
                    continue
                if failure is None:  # out of time: the rest goes next tick
                    report.out_of_time = True
                    return EmitResult(accepted=accepted)
                result = failure  # out of time while retrying: that failure is the reason
            if result.refused is not None and store:
                letter = page.letter(accepted, result)
                logger.warning(
                    "ol-dagster: the backend refused %s: %s", letter.describe(), letter.reason
                )
                page.letters.append(letter)
                refusals.refused(letter)
                accepted, failure, delay = accepted + 1, None, self.budget.first_retry_delay
                continue
            if not result.retryable or self.clock() + delay >= deadline or result is failure:
                # named, so that the cursor can be moved past it or the backend fixed
                why = f"{page.letter(accepted, result).describe()} was not accepted"
                return replace(result, accepted=accepted, failure=f"{why}: {result.failure}")
            failure = result
            logger.info("ol-dagster: emit failed (%s); retrying in %.1f s", result.failure, delay)
            self.sleep(delay)
            report.retries += 1
            delay = min(delay * 2, self.budget.max_retry_delay)
        return EmitResult(accepted=accepted)


@dataclass(slots=True)
class _Page:
    """A page read and translated from `base`, and the state it leads to once accepted."""

    base: TailState
    batch: Batch
    events: Sequence[Emittable]
    counts: Sequence[int]
    skipped: list[UntranslatableRecord]
    ahead: TailState
    last: bool
    """Fewer records than a page: the log is read to its end."""
    sent: Future[EmitResult] | None = None
    letters: list[DeadLetter] = field(default_factory=list)
    """Its events the backend refused for good, or set aside unsent, while it was sent."""
    _ends: list[int] | None = None
    """Where each record's events end among the page's (made when first needed)."""

    def record_of(self, index: int) -> tuple[DagsterRecord, int]:
        """The record of its `index`-th event, and which of that record's events it is."""
        if self._ends is None:
            self._ends = list(accumulate(self.counts))
        record = bisect_right(self._ends, index)
        first = self._ends[record - 1] if record else 0
        return self.batch.records[record], index - first

    def letter(self, index: int, refused: EmitResult) -> DeadLetter:
        """The dead letter of its `index`-th event, which the backend refused as `refused`."""
        return self.reference(index, refused.failure or "", set_aside=False)

    def reference(self, index: int, reason: str, *, set_aside: bool) -> DeadLetter:
        dagster, nth = self.record_of(index)
        kind, job = event_names(self.events[index])
        return DeadLetter(
            dagster_run_id=dagster.run_id,
            storage_id=dagster.storage_id,
            index=nth,
            dagster_job=dagster.job_name,
            job=job,
            event_type=kind,
            reason=reason,
            refused_at=time.time(),
            set_aside=set_aside,
        )


@dataclass(slots=True)
class _Unread:
    """Records read in one query, cut into pages in order."""

    batch: Batch
    last: bool
    """Fewer records than asked for: the log is read to its end."""
    done: int = 0
    """Records already cut into pages."""

    def cut(self, size: int) -> _Cut:
        start, self.done = self.done, min(self.done + size, len(self.batch.records))
        return _Cut(
            self.batch,
            start,
            self.batch.records[start : self.done],
            self.last and (self.done == len(self.batch.records)),
        )


@dataclass(frozen=True, slots=True)
class _Cut:
    """A page: consecutive records of a read (a `Batch` of its own)."""

    read: Batch
    start: int
    records: Sequence[DagsterRecord]
    last: bool
    """The read's last page, and the read ended the log."""

    def position_after(self, count: int) -> Position:
        return self.read.position_after(self.start + count)


def _translated(cut: _Cut, translator: Translator, base: TailState) -> _Page:
    records = cut.records
    runs = base.runs.copy()
    events, counts, skipped = translator.translate_all(runs, records)
    log_time = max((r.timestamp for r in records), default=base.log_time)
    ahead = TailState(cut.position_after(len(records)), runs, max(log_time, base.log_time))
    return _Page(base, cut, events, counts, skipped, ahead, cut.last)


def _settle(
    page: _Page,
    translator: Translator,
    cursor: CursorStore,
    dead_letters: DeadLetters | None,
    refusals: _Refusals,
    report: TickReport,
) -> bool:
    """Waits for the page's events to be sent, then keeps its dead letters and saves the state
    after what arrived (or was set aside), in that order, and says whether all of it did."""
    assert page.sent is not None
    result = page.sent.result()
    records = page.batch.records
    complete = result.failure is None and result.accepted == len(page.events)
    state, skipped, done = page.ahead, page.skipped, len(records)
    if not complete:
        # Rebuild the state as it stood after the last record whose events all arrived.
        done = _records_covered(page.counts, result.accepted)
        runs = page.base.runs.copy()
        _, _, skipped = translator.translate_all(runs, records[:done])
        log_time = max((r.timestamp for r in records[:done]), default=page.base.log_time)
        state = TailState(page.batch.position_after(done), runs, max(log_time, page.base.log_time))
    letters = page.letters
    if dead_letters is not None:  # and records a defect kept from being translated
        letters = letters + [
            untranslated(skip.run_id, skip.storage_id, skip.job_name, skip.reason, time.time())
            for skip in skipped
            if isinstance(skip, TranslationDefect)
        ]
    if letters:
        assert dead_letters is not None
        dead_letters.add(letters)  # before the cursor passes them: nothing is dropped
    cursor.save(state)
    report.records_read += done
    report.records_unsent += len(records) - done
    report.events_emitted += result.accepted - len(page.letters)
    report.skipped.extend(skipped)
    report.failure = result.failure
    report.settled(state)
    if letters:
        unsent = sum(letter.set_aside for letter in page.letters)
        report.dead_letters += len(page.letters) - unsent
        report.unsent += unsent
        refusals.kept(letters, report)
    return complete


def _forget_dead_runs(
    state: TailState, source: EventSource, max_age: float, report: TickReport
) -> TailState:
    runs = state.runs.copy()
    expired = runs.expire(started_before=state.log_time - max_age)
    if not expired:
        return state
    logger.warning(
        "ol-dagster gave up %d runs open for too long without an end: %s",
        len(expired),
        ", ".join(expired),
    )
    report.expired_runs.extend(expired)
    return TailState(source.forget_runs(state.position, expired), runs, state.log_time)


class _Refusals:
    """What the tick knows of the letters kept: their keys, and how often the backend refused
    each Dagster job's events; the jobs whose events are set aside unsent."""

    def __init__(self, set_aside_after: int) -> None:
        self._after = set_aside_after
        self._keys: set[str] = set()
        self._by_job: dict[str, int] = {}
        self._aside: set[str] = set()

    def known(self, letters: list[DeadLetter], report: TickReport) -> None:
        """The letters kept when the tick began."""
        self._keys = {letter.key for letter in letters}
        self._by_job = refusals_by_job(letters)
        if self._after > 0:
            self._aside = {job for job, n in self._by_job.items() if n >= self._after}
        report.dead_letters_kept = len(self._keys)
        report.jobs_set_aside = sorted(self._aside)

    def refused(self, letter: DeadLetter) -> None:
        job = letter.dagster_job
        if not job:
            return
        self._by_job[job] = count = self._by_job.get(job, 0) + 1
        if self._after > 0 and count >= self._after and job not in self._aside:
            self._aside.add(job)
            logger.warning(
                "ol-dagster: the backend refused %d events of job %s: its later events are set "
                "aside unsent, the other jobs' lineage goes on; `ol-dagster dead-letters resend` "
                "sends them once the backend takes them",
                count,
                job,
            )

    def unsent_from(self, page: _Page, index: int) -> int:
        """The first event at or after `index` of a job set aside (`len(page.events)`: none)."""
        if not self._aside:
            return len(page.events)
        for at in range(index, len(page.events)):
            if page.record_of(at)[0].job_name in self._aside:
                return at
        return len(page.events)

    def unsent_letter(self, page: _Page, index: int) -> DeadLetter:
        job = page.record_of(index)[0].job_name
        reason = f"not sent: the backend had refused {self._by_job.get(job, 0)} events of job {job}"
        return page.reference(index, reason, set_aside=True)

    def kept(self, letters: list[DeadLetter], report: TickReport) -> None:
        """`letters` are now kept (one refused again replaces its own)."""
        self._keys.update(letter.key for letter in letters)
        report.dead_letters_kept = len(self._keys)
        report.jobs_set_aside = sorted(self._aside)


def _records_covered(counts: Sequence[int], accepted: int) -> int:
    """How many leading records had every one of their events accepted."""
    return sum(1 for emitted_through in accumulate(counts) if emitted_through <= accepted)

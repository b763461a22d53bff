"""The use case one sensor tick runs.

Load the state, then page after page: read records, translate them, emit the events, and save
the state, in that order, so the saved position never passes an event the backend did not accept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from ol_dagster.domain.errors import UntranslatableRecord
from ol_dagster.domain.lineage import Emittable
from ol_dagster.domain.ports import CursorStore, EmitResult, Emitter, EventSource, Position
from ol_dagster.domain.run_state import RunState, TailState
from ol_dagster.domain.translate import Translator

logger = logging.getLogger("ol_dagster")


DEFAULT_OPEN_RUN_MAX_AGE_SECONDS = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class TickBudget:
    page_size: int
    """Records read per page: the sensor's `record_filter_limit`."""
    seconds: float
    """No new page, and no new retry of a failed emit, is started after this many seconds."""
    first_retry_delay: float = 0.5
    """Wait before retrying a failed emit; doubles with each retry, up to `max_retry_delay`."""
    max_retry_delay: float = 8.0
    open_run_max_age: float = DEFAULT_OPEN_RUN_MAX_AGE_SECONDS
    """A run open for longer than this without any end is given up as dead and forgotten."""


@dataclass(slots=True)
class TickReport:
    records_read: int = 0
    events_emitted: int = 0
    pages: int = 0
    skipped: list[UntranslatableRecord] = field(default_factory=list)
    caught_up: bool = False
    failure: str | None = None
    retries: int = 0
    open_runs: int = 0
    expired_runs: list[str] = field(default_factory=list)
    position: Position = None
    """Where the tick left the cursor."""
    log_time: float = 0.0
    """Timestamp of the newest record done with."""

    @property
    def progressed(self) -> bool:
        return self.records_read > 0

    def summary(self) -> str:
        if self.records_read == 0 and self.failure is None and self.caught_up:
            text = "nothing new in the event log since the last tick"
        else:
            text = (
                f"read {self.records_read} records in {self.pages} pages, "
                f"emitted {self.events_emitted} events, skipped {len(self.skipped)} records"
            )
        text += f", {self.open_runs} runs open, " + (
            "caught up" if self.caught_up else "more to read"
        )
        if self.expired_runs:
            text += f", gave up {len(self.expired_runs)} runs that never ended"
        if self.retries:
            text += f", {self.retries} emit retries"
        if self.failure:
            text += f"; stopped: the OpenLineage backend did not accept events: {self.failure}"
        return text


def run_tick(
    *,
    source: EventSource,
    cursor: CursorStore,
    emitter: Emitter,
    translator: Translator,
    budget: TickBudget,
    after_storage_id: int = 0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> TickReport:
    deadline = clock() + budget.seconds
    state = cursor.load() or TailState(source.initial_position(after_storage_id), RunState())
    report = TickReport()
    state = _forget_dead_runs(state, source, budget.open_run_max_age, report)
    while True:
        try:
            batch = source.read(state.position, budget.page_size)
        except Exception as error:
            if not report.progressed:
                raise
            report.failure = f"reading the event log failed: {type(error).__name__}: {error}"
            break
        records = batch.records
        report.pages += 1
        runs = state.runs.copy()
        events, counts, skipped = translator.translate_all(runs, records)
        result = _emit_with_retries(emitter, events, budget, deadline, clock, sleep, report)
        complete = result.failure is None and result.accepted == len(events)
        done = len(records) if complete else _records_covered(counts, result.accepted)
        if done < len(records):
            # Rebuild the state as it stood after the last record whose events all arrived.
            runs = state.runs.copy()
            _, _, skipped = translator.translate_all(runs, records[:done])
        log_time = max((r.timestamp for r in records[:done]), default=state.log_time)
        state = TailState(batch.position_after(done), runs, max(log_time, state.log_time))
        cursor.save(state)
        report.records_read += done
        report.events_emitted += result.accepted
        report.skipped.extend(skipped)
        if result.failure is not None:
            report.failure = result.failure
            break
        if not complete:  # out of time in the middle of the page
            break
        if len(records) < budget.page_size:
            report.caught_up = True
            break
        if clock() >= deadline:
            break
    for skip in report.skipped:
        logger.warning("ol-dagster skipped %s", skip)
    report.open_runs = len(state.runs.runs)
    report.position = state.position
    report.log_time = state.log_time
    return report


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


EMIT_CHUNK = 50
"""Events sent between two looks at the clock, so a page of many events keeps to the budget."""


def _emit_with_retries(
    emitter: Emitter,
    events: Sequence[Emittable],
    budget: TickBudget,
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    report: TickReport,
) -> EmitResult:
    """Emit in chunks while the budget lasts, retrying what was not accepted with a growing
    delay; a failure that sending again cannot mend is not retried."""
    accepted, delay = 0, budget.first_retry_delay
    while accepted < len(events):
        if accepted and clock() >= deadline:
            return EmitResult(accepted=accepted)  # out of time: the rest goes next tick
        result = emitter.emit(events[accepted : accepted + EMIT_CHUNK])
        accepted += result.accepted
        if result.failure is None:
            delay = budget.first_retry_delay
            continue
        if not result.retryable or clock() + delay >= deadline:
            return EmitResult(accepted=accepted, failure=result.failure, retryable=result.retryable)
        logger.info("ol-dagster: emit failed (%s); retrying in %.1f s", result.failure, delay)
        sleep(delay)
        report.retries += 1
        delay = min(delay * 2, budget.max_retry_delay)
    return EmitResult(accepted=accepted)


def _records_covered(counts: Sequence[int], accepted: int) -> int:
    """How many leading records had every one of their events accepted."""
    return sum(1 for emitted_through in accumulate(counts) if emitted_through <= accepted)

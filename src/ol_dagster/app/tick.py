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
from ol_dagster.domain.ports import CursorStore, EmitResult, Emitter, EventSource
from ol_dagster.domain.run_state import RunState, TailState
from ol_dagster.domain.translate import Translator

logger = logging.getLogger("ol_dagster")


@dataclass(frozen=True, slots=True)
class TickBudget:
    page_size: int
    """Records read per page: the sensor's `record_filter_limit`."""
    seconds: float
    """No new page is started after this many seconds."""


@dataclass(slots=True)
class TickReport:
    records_read: int = 0
    events_emitted: int = 0
    pages: int = 0
    skipped: list[UntranslatableRecord] = field(default_factory=list)
    caught_up: bool = False
    failure: str | None = None
    open_runs: int = 0

    @property
    def progressed(self) -> bool:
        return self.records_read > 0

    def summary(self) -> str:
        text = (
            f"read {self.records_read} records in {self.pages} pages, "
            f"emitted {self.events_emitted} events, skipped {len(self.skipped)} records, "
            f"{self.open_runs} runs open, " + ("caught up" if self.caught_up else "more to read")
        )
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
) -> TickReport:
    deadline = clock() + budget.seconds
    state = cursor.load() or TailState(source.initial_position(after_storage_id), RunState())
    report = TickReport()
    while True:
        batch = source.read(state.position, budget.page_size)
        records = batch.records
        report.pages += 1
        runs = state.runs.copy()
        events, counts, skipped = translator.translate_all(runs, records)
        result = emitter.emit(events) if events else EmitResult(accepted=0)
        done = len(records) if result.failure is None else _records_covered(counts, result.accepted)
        if done < len(records):
            # Rebuild the state as it stood after the last record whose events all arrived.
            runs = state.runs.copy()
            _, _, skipped = translator.translate_all(runs, records[:done])
        state = TailState(batch.position_after(done), runs)
        cursor.save(state)
        report.records_read += done
        report.events_emitted += result.accepted
        report.skipped.extend(skipped)
        if result.failure is not None:
            report.failure = result.failure
            break
        if len(records) < budget.page_size:
            report.caught_up = True
            break
        if clock() >= deadline:
            break
    for error in report.skipped:
        logger.warning("ol-dagster skipped %s", error)
    report.open_runs = len(state.runs.runs)
    return report


def _records_covered(counts: Sequence[int], accepted: int) -> int:
    """How many leading records had every one of their events accepted."""
    return sum(1 for emitted_through in accumulate(counts) if emitted_through <= accepted)

"""What the sensor remembers between ticks: open job runs and their steps, and where it is.

Only what cannot be derived from the records is kept: job names and namespaces come with every
record, and run ids are derived from start times; what an open run has materialized is kept
rather than asked of Dagster at its end. Explicit run ids appear only for runs that were
in flight when a cursor of openlineage-dagster was taken over (its ids were random).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ol_dagster.domain.datasets import DatasetId
from ol_dagster.domain.positions import Position


@dataclass(slots=True)
class OpenStep:
    attempt: int
    started_at: float | None
    """Start of the open attempt; None while the step waits for its retry."""
    run_id: str | None = None
    """The attempt's OpenLineage run id when it cannot be derived (taken over from another tool)."""
    asset: bool = False
    """The step computes assets: its events say so even when its run's end closes it."""


@dataclass(slots=True)
class OpenRun:
    started_at: float
    steps: dict[str, OpenStep] = field(default_factory=dict)
    run_id: str | None = None
    """The job run's OpenLineage run id when it cannot be derived."""
    outputs: list[DatasetId] = field(default_factory=list)
    """The datasets the run has materialized so far: the outputs of its terminal event."""

    def copy(self) -> OpenRun:
        steps = {
            key: OpenStep(step.attempt, step.started_at, step.run_id, step.asset)
            for key, step in self.steps.items()
        }
        return OpenRun(self.started_at, steps, self.run_id, list(self.outputs))


@dataclass(slots=True)
class RunState:
    """The Dagster runs that started and have not ended yet, by Dagster run id."""

    runs: dict[str, OpenRun] = field(default_factory=dict)

    def copy(self) -> RunState:
        return RunState({run_id: run.copy() for run_id, run in self.runs.items()})

    def expire(self, started_before: float) -> list[str]:
        """Forget runs that started before `started_before` and never ended; their Dagster ids.

        A run whose process was killed never reports an end: without this, it would stay in the
        cursor for good.
        """
        stale = [run_id for run_id, run in self.runs.items() if run.started_at < started_before]
        for run_id in stale:
            del self.runs[run_id]
        return stale


@dataclass(frozen=True, slots=True)
class TailState:
    """The sensor's whole memory: a position in the event log and the open runs up to it."""

    position: Position
    runs: RunState
    log_time: float = 0.0
    """Timestamp of the newest record done with: the event log's own clock, which a catch-up of
    old history follows, so that a run's age is never measured against the wall clock."""

"""What the sensor remembers between ticks: open job runs and their steps, and where it is."""

from __future__ import annotations

from dataclasses import dataclass, field

from ol_dagster.domain.ports import Position


@dataclass(slots=True)
class OpenStep:
    attempt: int
    started_at: float | None
    """Start of the open attempt; None while the step waits for its retry."""


@dataclass(slots=True)
class OpenRun:
    job_name: str
    namespace: str
    started_at: float
    steps: dict[str, OpenStep] = field(default_factory=dict)

    def copy(self) -> OpenRun:
        steps = {key: OpenStep(step.attempt, step.started_at) for key, step in self.steps.items()}
        return OpenRun(self.job_name, self.namespace, self.started_at, steps)


@dataclass(slots=True)
class RunState:
    """The Dagster runs that started and have not ended yet, by Dagster run id."""

    runs: dict[str, OpenRun] = field(default_factory=dict)

    def copy(self) -> RunState:
        return RunState({run_id: run.copy() for run_id, run in self.runs.items()})


@dataclass(frozen=True, slots=True)
class TailState:
    """The sensor's whole memory: a position in the event log and the open runs up to it."""

    position: Position
    runs: RunState

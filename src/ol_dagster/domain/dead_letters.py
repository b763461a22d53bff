"""Events the backend refused for good: kept, with its answer, to be looked at and sent again.

A backend that judges one event unacceptable (HTTP 400, 422, ...) would refuse it however often
it is sent; waiting for it would hold back every other job's lineage. Such an event is set aside
as a dead letter, and sending goes on. Nothing is dropped: the letter keeps the event as it was
sent, the backend's answer, and the Dagster record it came from.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LIMIT = 1000
"""Letters kept at most; past it, a refusal stops the tick as if dead letters were off."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    key: str
    """`<Dagster run id>:<storage id>:<n>`, the n-th event of that record: the same event
    refused again replaces its letter."""
    dagster_run_id: str
    storage_id: int
    job: str
    """The OpenLineage job (a Dagster job, or `job.step`); empty for a dataset event."""
    event_type: str
    """START, RUNNING, COMPLETE, FAIL, ABORT, or DATASET."""
    reason: str
    """The backend's answer."""
    event: str
    """The event's JSON, as it was sent."""
    refused_at: float
    """POSIX seconds."""

    def describe(self) -> str:
        what = f"the {self.event_type} event of job {self.job}" if self.job else "a dataset event"
        return f"{what} (Dagster run {self.dagster_run_id}, storage id {self.storage_id})"

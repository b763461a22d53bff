"""Events the backend refused for good: kept as references, to be looked at and sent again.

A backend that judges one event unacceptable (HTTP 400, 422, ...) would refuse it however often
it is sent; waiting for it would hold back every other job's lineage. Such an event is set aside
as a dead letter, and sending goes on. Nothing is dropped, and nothing is copied: the event log is
the durable copy of what happened and translation is deterministic, so a letter names the record
the event came from (Dagster run, storage id, which of the record's events) with the backend's
answer, and a resend reads that run again and translates it again, into the same event with the
same run id.

A Dagster job whose events were refused `SET_ASIDE_AFTER` times has its later events set aside
without being sent (letters with `set_aside`): its other events are not tried again and again,
and a resend sends them once the backend takes them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ol_dagster.domain.lineage import Emittable, LineageEvent

SET_ASIDE_AFTER = 20
"""Refusals of one Dagster job's events after which its later events are set aside unsent: a
run of a 10-op job makes 22 events, so a job refused for good is set aside within its first run,
while a backend that refuses a few events of a job (one facet, one oversized event) does not."""
REASON_KEPT = 1000
"""Characters of the backend's answer a letter keeps."""


UNTRANSLATED = "UNTRANSLATED"
"""The event type of a letter that keeps a record a defect kept from being translated: it
stands for every event the record makes once translated."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    dagster_run_id: str
    storage_id: int
    index: int
    """Which of the record's events (the n-th, from 0)."""
    dagster_job: str
    """The Dagster job of the run ("" for a dataset event without a run)."""
    job: str
    """The OpenLineage job (a Dagster job, or `job.step`); empty for a dataset event."""
    event_type: str
    """START, RUNNING, COMPLETE, FAIL, ABORT, DATASET, or `UNTRANSLATED`."""
    reason: str
    """The backend's answer (its first `REASON_KEPT` characters), or why it was set aside."""
    refused_at: float
    """POSIX seconds."""
    set_aside: bool = False
    """Never sent: its Dagster job had been refused `SET_ASIDE_AFTER` times."""

    @property
    def key(self) -> str:
        """`<Dagster run id>:<storage id>:<n>`: the same event refused again replaces its letter."""
        return f"{self.dagster_run_id}:{self.storage_id}:{self.index}"

    def describe(self) -> str:
        if self.event_type == UNTRANSLATED:
            what = "a record that could not be translated"
        elif self.job:
            what = f"the {self.event_type} event of job {self.job}"
        else:
            what = "a dataset event"
        return f"{what} (Dagster run {self.dagster_run_id}, storage id {self.storage_id})"


def untranslated(run_id: str, storage_id: int, job: str, reason: str, at: float) -> DeadLetter:
    """The letter of a record a defect kept from being translated."""
    return DeadLetter(run_id, storage_id, 0, job, "", UNTRANSLATED, reason, at)


def refusals_by_job(letters: list[DeadLetter]) -> dict[str, int]:
    """How many events of each Dagster job the backend refused (set-aside ones not counted)."""
    counts: dict[str, int] = {}
    for letter in letters:
        if not letter.set_aside and letter.dagster_job and letter.event_type != UNTRANSLATED:
            counts[letter.dagster_job] = counts.get(letter.dagster_job, 0) + 1
    return counts


def event_names(event: Emittable) -> tuple[str, str]:
    """An event's type and job, as a letter names them (a dataset event: `DATASET`, no job)."""
    if isinstance(event, LineageEvent):
        return event.event_type.value, event.job.name
    return "DATASET", ""

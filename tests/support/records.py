"""Records as Dagster writes them for a run, for the fakes and the domain tests."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator, Sequence

from ol_dagster.domain.records import DagsterRecord, ErrorDetail

_ids = itertools.count(1)


class RunWriter:
    """Writes the records of one Dagster run, as the event log would hold them."""

    def __init__(self, job: str, *, location: str | None = None, start: float = 1_700_000_000.0):
        self.run_id = str(uuid.uuid4())
        self.job = job
        self.location = location
        self.clock = start
        self.records: list[DagsterRecord] = []

    def write(
        self, kind: str, step_key: str | None = None, error: ErrorDetail | None = None
    ) -> DagsterRecord:
        self.clock += 0.5
        record = DagsterRecord(
            kind=kind,
            run_id=self.run_id,
            job_name=self.job,
            timestamp=self.clock,
            storage_id=next(_ids),
            step_key=step_key,
            location=self.location,
            error=error,
        )
        self.records.append(record)
        return record

    def successful(self, steps: Sequence[str]) -> list[DagsterRecord]:
        self.write("RUN_START")
        for step in steps:
            self.write("STEP_START", step)
            self.write("STEP_SUCCESS", step)
        self.write("RUN_SUCCESS")
        return self.records


def interleave(*runs: Sequence[DagsterRecord]) -> Iterator[DagsterRecord]:
    """Records of several runs merged in storage-id order."""
    yield from sorted(itertools.chain(*runs), key=lambda r: r.storage_id)

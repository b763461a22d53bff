"""The domain's own lineage-event model; the emitter maps it to the OpenLineage client's types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from ol_dagster.domain.datasets import AddedFacet, Dataset
from ol_dagster.domain.records import ErrorDetail, JobDocs


class EventType(str, Enum):
    START = "START"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAIL = "FAIL"
    ABORT = "ABORT"


class JobKind(str, Enum):
    """What a lineage job stands for in Dagster."""

    JOB = "JOB"
    OP = "OP"
    ASSET = "ASSET"


@dataclass(frozen=True, slots=True)
class JobRef:
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class ParentRef:
    """The run that spawned this one, and the root of the hierarchy it belongs to."""

    run_id: str
    job: JobRef
    root_run_id: str
    root_job: JobRef


# Plain frozen dataclasses rather than pydantic models: the translation builds one per record on
# the catch-up hot path, and every field is already checked where the record entered the domain.
@dataclass(frozen=True, slots=True)
class LineageEvent:
    event_type: EventType
    event_time: datetime
    run_id: str
    job: JobRef
    job_kind: JobKind
    parent: ParentRef | None = None
    error: ErrorDetail | None = None
    inputs: tuple[Dataset, ...] = ()
    outputs: tuple[Dataset, ...] = ()
    run_tags: tuple[tuple[str, str], ...] = ()
    nominal_time: datetime | None = None
    nominal_end: datetime | None = None
    job_docs: JobDocs | None = None
    added_run_facets: tuple[AddedFacet, ...] = ()
    """Facets the user's facets hook adds (OL_DAGSTER_FACETS)."""
    added_job_facets: tuple[AddedFacet, ...] = ()


@dataclass(frozen=True, slots=True)
class DatasetObservation:
    """What was observed about a dataset at a moment, outside any lineage run.

    Dagster observes external assets (data it does not produce) to record their state: row
    counts, data versions. That is metadata of the dataset, not something a job read or wrote,
    so it becomes an OpenLineage DatasetEvent rather than a run event: a run event would invent
    an input or output of the observing step.
    """

    event_time: datetime
    dataset: Dataset


Emittable = LineageEvent | DatasetObservation
"""Anything the domain asks an emitter to send."""

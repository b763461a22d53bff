"""The neutral record of a Dagster event, as the domain consumes it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ol_dagster.domain.datasets import Dataset


class RecordKind(str, Enum):
    """The Dagster event types the domain translates, named as Dagster names them."""

    RUN_START = "RUN_START"
    RUN_SUCCESS = "RUN_SUCCESS"
    RUN_FAILURE = "RUN_FAILURE"
    RUN_CANCELED = "RUN_CANCELED"
    STEP_START = "STEP_START"
    STEP_RESTARTED = "STEP_RESTARTED"
    STEP_UP_FOR_RETRY = "STEP_UP_FOR_RETRY"
    STEP_SUCCESS = "STEP_SUCCESS"
    STEP_FAILURE = "STEP_FAILURE"
    ASSET_MATERIALIZATION = "ASSET_MATERIALIZATION"
    ASSET_CHECK_EVALUATION = "ASSET_CHECK_EVALUATION"
    ASSET_OBSERVATION = "ASSET_OBSERVATION"


RUN_END_KINDS = frozenset({RecordKind.RUN_SUCCESS, RecordKind.RUN_FAILURE, RecordKind.RUN_CANCELED})


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """What Dagster recorded about a failure."""

    message: str
    stack_trace: str | None = None


@dataclass(frozen=True, slots=True)
class JobDocs:
    """What the code location says of a job or step: its documentation, owners and source."""

    description: str | None = None
    owners: tuple[str, ...] = ()
    source_url: str | None = None
    source_path: str | None = None


@dataclass(frozen=True, slots=True)
class RunLink:
    """Another Dagster run this one descends from (a re-execution's parent or root)."""

    run_id: str
    job_name: str
    started_at: float


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What the run storage says about the run of a record; shared by its records."""

    tags: tuple[tuple[str, str], ...] = ()
    nominal_time: float | None = None
    """When a schedule meant the run to happen, or where its time partition starts."""
    nominal_end: float | None = None
    parent: RunLink | None = None
    root: RunLink | None = None


NO_RUN_FACTS = RunFacts()


@dataclass(frozen=True, slots=True)
class DagsterRecord:
    """One event from the Dagster event log, stripped of Dagster's types.

    `kind` stays a plain string so that an event type the domain does not know reaches it and is
    rejected with a clear reason instead of failing inside an adapter.
    """

    kind: str
    run_id: str
    job_name: str
    timestamp: float
    """When Dagster recorded the event, in POSIX seconds."""
    storage_id: int
    """Where the record sits in its storage; for logs and error messages only."""
    step_key: str | None = None
    location: str | None = None
    """The name of the run's repository or code location, when Dagster recorded one."""
    run_started_at: float | None = None
    """When the run started, from the run storage: used for runs joined after their start."""
    error: ErrorDetail | None = None
    datasets: tuple[Dataset, ...] = ()
    """The assets the event is about: the one materialized, observed or checked."""
    upstream: tuple[Dataset, ...] = ()
    """The assets a materialized asset is computed from."""
    asset_step: bool = False
    """The step computes assets (or checks) rather than a plain op."""
    step_datasets: tuple[Dataset, ...] = ()
    """The assets the record's step computes or checks (for a step of assets)."""
    run: RunFacts = NO_RUN_FACTS
    docs: JobDocs | None = None
    """Of the lineage job the record's own event belongs to: the Dagster job for run records,
    the step for step records."""
    defect: str | None = None
    """Why the record's assets could not be read (a defect): it was read without them, and an
    event about its assets is kept for a resend rather than sent without them."""
    late: bool = False
    """Committed after records the reader read past it (PostgreSQL commits out of order): its
    run may have moved on, or ended, in the reader's state."""

"""The ports: what the domain and the use case need from the outside world."""

from __future__ import annotations

import math
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeAlias

from ol_dagster.domain.positions import JsonValue as JsonValue
from ol_dagster.domain.positions import Position as Position

if TYPE_CHECKING:
    from ol_dagster.domain.datasets import AssetFacts
    from ol_dagster.domain.dead_letters import DeadLetter
    from ol_dagster.domain.lineage import Emittable
    from ol_dagster.domain.records import DagsterRecord, JobDocs
    from ol_dagster.domain.run_state import TailState


class Batch(Protocol):
    """Records read in one page, in an order that keeps each run's records in sequence."""

    @property
    def records(self) -> Sequence[DagsterRecord]: ...

    def position_after(self, count: int) -> Position:
        """The position to resume from once the first `count` records are done with."""
        ...


class EventSource(Protocol):
    def initial_position(self, after_storage_id: int) -> Position:
        """Where a sensor with no cursor starts: just after `after_storage_id`."""
        ...

    def read(self, after: Position, limit: int) -> Batch:
        """At most `limit` records that follow `after`."""
        ...

    def position_from_json(self, value: JsonValue) -> Position:
        """The position `value` (a position's `to_json()`, or openlineage-dagster's, see
        LEGACY_STRATEGY) holds; CursorError when it is not one of this source's: malformed,
        or written for another kind of event-log storage."""
        ...

    def run_records(self, run_id: str) -> Sequence[DagsterRecord]:
        """Every record of one Dagster run, from its first, in order ("": the records of no run,
        such as runless observations): what a dead letter's event is translated again from."""
        ...

    def forget_runs(self, position: Position, run_ids: Sequence[str]) -> Position:
        """`position` without anything it keeps for these runs (runs given up as dead)."""
        ...

    def storage_ids_behind(self, position: Position) -> int | None:
        """How far `position` trails the log, in storage ids; None when it cannot tell."""
        ...

    def latest_storage_id(self) -> int:
        """The newest storage id of what this source reads (0 for an empty log)."""
        ...

    def storage_id_done(self, position: Position) -> int | None:
        """The storage id `position` has read through; None for a position of no strategy."""
        ...

    def gaps_waited_on(self, position: Position) -> list[tuple[int, float]]:
        """Storage ids below what `position` has read that may still commit, each with when it
        was first missed: a reader caught up to a fixed end waits on these."""
        ...

    def gaps_note(self, position: Position) -> str | None:
        """What `position` waits on (storage ids not committed yet), for people; None when it
        waits on nothing."""
        ...

    def ahead_of_log(self, position: Position, log_time: float) -> str | None:
        """Why `position` is ahead of the log (records at or before it written after the newest
        record read, `log_time`: storage ids used again), so that those records would never be
        read; None when it is not, or when this source cannot tell."""
        ...


class CursorStore(Protocol):
    def load(self) -> TailState | None:
        """The saved state, or None when nothing was ever saved."""
        ...

    def save(self, state: TailState) -> None: ...


@dataclass(frozen=True, slots=True)
class EmitResult:
    """How many events, from the first, the backend accepted; and why it stopped if not all."""

    accepted: int
    failure: str | None = None
    """Why the event after the accepted ones was not: the error, and the backend's answer."""
    retryable: bool = True
    """False when sending the same events again cannot help (the backend rejected them)."""
    refused: str | None = None
    """When the backend judged that one event unacceptable for good (HTTP 400, 422, ...; not a
    refusal of the credentials or the endpoint), that event's JSON as sent: a dead letter."""


class Emitter(Protocol):
    @property
    def batch_size(self) -> int:
        """Events it sends together, in one request (1: one at a time). The tick sends at least
        this many records' events at once, so that small pages do not cut its requests short."""
        ...

    def emit(self, events: Sequence[Emittable], *, deadline: float = math.inf) -> EmitResult:
        """Send events in order; stop at the first the backend does not accept.

        `deadline` is a `time.monotonic()` instant: no event is sent after it, and a request is
        ended by then plus a small grace wherever the transport allows it. Events left unsent
        for lack of time are neither accepted nor failed: `accepted` is short, `failure` None.
        """
        ...


@dataclass(frozen=True, slots=True)
class Confirmation:
    """How the configured transport tells that an event arrived, for people and for the tick."""

    text: str
    """How an event comes to count as sent; or why it cannot, and what to do."""
    confirmed: bool = True
    """An event counted as sent is one the backend took: the cursor passes no other."""
    refused: bool = False
    """Nothing is sent through it (its failures would be lost without a word): `text` names the
    fix."""


PROBE_JOB = "ol_dagster_doctor"
"""The job of the harmless event `Delivery.probe` sends."""


class Delivery(Emitter, Protocol):
    """An emitter that sends to a configured backend (not a dry run's printer)."""

    @property
    def disabled(self) -> bool:
        """The configuration sends nothing (OPENLINEAGE_DISABLED=true, a noop transport)."""
        ...

    @property
    def confirmation(self) -> Confirmation:
        """How the configured transport confirms delivery (`Confirmation`)."""
        ...

    def probe(self, namespace: str) -> str | None:
        """Sends one harmless event (a JobEvent of job PROBE_JOB in `namespace`); None when the
        backend accepted it, else why not, in words that say what to fix."""
        ...


class DeadLetters(Protocol):
    """Where events the backend refused for good are kept (`domain.dead_letters`)."""

    def letters(self) -> list[DeadLetter]:
        """Every letter kept, oldest first."""
        ...

    def add(self, letters: Sequence[DeadLetter]) -> None:
        """Keeps them durably before returning; a letter whose key is kept replaces it. For the
        one writer of refusals (the sensor's ticks, or a replay)."""
        ...

    def remove(self, letters: Sequence[DeadLetter]) -> None:
        """Forgets these letters as they were read: one refused again since (a newer
        `refused_at`) stays. For the commands; it never undoes a concurrent `add`."""
        ...


AssetKeyPath: TypeAlias = "tuple[str, ...]"


@dataclass(frozen=True, slots=True)
class FacetContext:
    """What a facets hook is told of the event it may add facets to."""

    event_type: str
    """START, RUNNING, COMPLETE, FAIL or ABORT."""
    job_namespace: str
    job_name: str
    """The OpenLineage job: the Dagster job, or `job.step_key` for a step."""
    dagster_run_id: str
    dagster_job_name: str
    step_key: str | None
    run_tags: dict[str, str]
    """The Dagster run's tags."""
    datasets: tuple[tuple[str, str], ...]
    """(namespace, name) of the event's inputs and outputs."""


@dataclass(frozen=True, slots=True)
class AddedFacets:
    run: tuple[tuple[str, str], ...] = ()
    job: tuple[tuple[str, str], ...] = ()
    datasets: tuple[tuple[tuple[str, str], tuple[tuple[str, str], ...]], ...] = ()
    """For a (namespace, name) of the event's datasets, its added facets."""


class FacetsHook(Protocol):
    """Facets the user adds to events (name and JSON text of each), from the Dagster run."""

    def facets(self, context: FacetContext) -> AddedFacets: ...


class Catalog(Protocol):
    """How the event source names assets: what it has met that no definition names."""

    @property
    def undefined(self) -> AbstractSet[AssetKeyPath]: ...

    def undefined_note(self, where: str) -> str:
        """For people: which assets are named by their key alone, and the setting that fixes
        it; `where` says which definitions were looked in."""
        ...


class Definitions(Protocol):
    """Definition-time facts of assets and jobs, which the event log does not hold.

    Each method answers None for what this adapter does not know (an asset or job of a code
    location it cannot see), so that another adapter may be asked (`domain.definitions.Layered`).
    """

    def asset(self, key: AssetKeyPath) -> AssetFacts | None: ...

    def job(self, job_name: str) -> JobDocs | None:
        """The job's documentation; an empty `JobDocs` for a job that has none."""
        ...

    def step_assets(self, job_name: str, step_key: str) -> tuple[AssetKeyPath, ...] | None:
        """The assets a step of the job computes or checks; () for a plain op."""
        ...

    def partition_window(self, job_name: str, partition_key: str) -> tuple[float, float] | None:
        """Start and end (POSIX seconds) of a time partition of the job's."""
        ...


class LoadedDefinitions(Definitions, Protocol):
    """Definitions a process loaded itself (a code location, a workspace), with their size."""

    @property
    def locations(self) -> int: ...

    @property
    def assets(self) -> int: ...

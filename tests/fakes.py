"""In-memory fakes of every port, with observable state; the contract suites keep them honest."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ol_dagster.domain.datasets import AssetFacts
from ol_dagster.domain.dead_letters import DeadLetter
from ol_dagster.domain.errors import CursorError
from ol_dagster.domain.lineage import LineageEvent
from ol_dagster.domain.ports import AssetKeyPath, EmitResult, JsonValue, Position
from ol_dagster.domain.records import DagsterRecord, JobDocs
from ol_dagster.domain.run_state import TailState


@dataclass(frozen=True)
class FakePosition:
    """After a storage id, as a global storage id is."""

    after: int

    def to_json(self) -> JsonValue:
        return {"after": self.after}


@dataclass(frozen=True)
class OpaquePosition:
    """Any JSON value as a position, for the tests of a cursor store, which never reads one."""

    value: JsonValue

    def to_json(self) -> JsonValue:
        return self.value


@dataclass(frozen=True)
class FakeBatch:
    records: Sequence[DagsterRecord]
    after: int

    def position_after(self, count: int) -> FakePosition:
        return FakePosition(self.records[count - 1].storage_id if count else self.after)


def _fake(position: Position) -> FakePosition:
    assert isinstance(position, FakePosition), position
    return position


class FakeEventSource:
    """An event log in a list, read in storage-id order."""

    def __init__(self, records: Sequence[DagsterRecord] = ()) -> None:
        self.log: list[DagsterRecord] = list(records)
        self.reads = 0
        self.forgotten: list[str] = []

    def append(self, *records: DagsterRecord) -> None:
        self.log.extend(records)

    def initial_position(self, after_storage_id: int) -> FakePosition:
        return FakePosition(after_storage_id)

    def position_from_json(self, value: JsonValue) -> FakePosition:
        after = value.get("after") if isinstance(value, dict) else None
        if not isinstance(after, int) or isinstance(after, bool):
            raise CursorError(f"the cursor's position is not valid: {value!r}")
        return FakePosition(after)

    def run_records(self, run_id: str) -> list[DagsterRecord]:
        return [r for r in self.log if r.run_id == run_id]

    def forget_runs(self, position: Position, run_ids: Sequence[str]) -> Position:
        self.forgotten.extend(run_ids)
        return position  # like a global storage id: nothing is kept per run

    def storage_ids_behind(self, position: Position) -> int | None:
        return sum(1 for r in self.log if r.storage_id > _fake(position).after)

    def gaps_note(self, position: Position) -> str | None:
        return None

    def latest_storage_id(self) -> int:
        return max((r.storage_id for r in self.log), default=0)

    def storage_id_done(self, position: Position) -> int | None:
        return _fake(position).after

    def gaps_waited_on(self, position: Position) -> list[tuple[int, float]]:
        return []  # a list in memory has no storage ids in flight

    def ahead_of_log(self, position: Position, log_time: float) -> str | None:
        after = _fake(position).after
        held = [r for r in self.log if r.storage_id <= after]
        probe = max(held, key=lambda r: r.storage_id, default=None)
        if log_time and probe is not None and probe.timestamp > log_time:
            return f"storage id {probe.storage_id} is newer than what was read"
        return None

    def read(self, after: Position, limit: int) -> FakeBatch:
        last = _fake(after).after
        self.reads += 1
        return FakeBatch([r for r in self.log if r.storage_id > last][:limit], last)


class FakeCursorStore:
    def __init__(self, state: TailState | None = None) -> None:
        self.saved = state
        self.saves = 0

    def load(self) -> TailState | None:
        if self.saved is None:
            return None
        return TailState(self.saved.position, self.saved.runs.copy(), self.saved.log_time)

    def save(self, state: TailState) -> None:
        self.saved = TailState(state.position, state.runs.copy(), state.log_time)
        self.saves += 1


class FakeEmitter:
    """Records what it accepts; `allowance` makes it refuse everything past that many events.

    With a `clock` (the tick's), none is sent once the deadline has passed, as the real emitter
    keeps it; with a `FakeClock`, each event takes `seconds` of it to send.
    """

    batch_size = 1

    def __init__(
        self, clock: FakeClock | Callable[[], float] | None = None, seconds: float = 0.0
    ) -> None:
        self.sent: list[LineageEvent] = []
        self.allowance: int | None = None
        self.failure = "ConnectionRefusedError: [Errno 111] Connection refused"
        self.clock = clock
        self.seconds = seconds
        self.calls: list[int] = []
        """How many events each call was given."""
        self.refused_jobs: set[str] = set()
        """Jobs whose events (and their steps') the backend refuses for good, as an HTTP 400."""

    @staticmethod
    def _refusal(accepted: int, text: str) -> EmitResult:
        return EmitResult(
            accepted=accepted,
            failure="HTTPError: 400 Client Error; the backend answered: unknown facet",
            retryable=False,
            refused=text,
        )

    def emit(self, events: Sequence[LineageEvent], *, deadline: float = math.inf) -> EmitResult:
        self.calls.append(len(events))
        for index, event in enumerate(events):
            if event.job.name.split(".")[0] in self.refused_jobs:
                accepted = self.emit(events[:index], deadline=deadline)
                if accepted.accepted < index:
                    return accepted
                return self._refusal(index, json.dumps({"job": event.job.name}))
        if self.clock is not None:
            in_time = 0
            while in_time < len(events) and self.clock() < deadline:
                if isinstance(self.clock, FakeClock):
                    self.clock.now += self.seconds
                in_time += 1
            events = events[:in_time]
        if self.allowance is None:
            self.sent.extend(events)
            return EmitResult(accepted=len(events))
        accepted = min(self.allowance, len(events))
        self.allowance -= accepted
        self.sent.extend(events[:accepted])
        if accepted < len(events):
            return EmitResult(accepted=accepted, failure=self.failure)
        return EmitResult(accepted=accepted)


class FakeDeadLetters:
    """Dead letters in a dict, in the order first kept."""

    def __init__(self) -> None:
        self.kept: dict[str, DeadLetter] = {}
        self.adds = 0

    def letters(self) -> list[DeadLetter]:
        return list(self.kept.values())

    def add(self, letters: Sequence[DeadLetter]) -> None:
        self.adds += 1
        self.kept.update((letter.key, letter) for letter in letters)

    def remove(self, letters: Sequence[DeadLetter]) -> None:
        for letter in letters:
            kept = self.kept.get(letter.key)
            if kept is not None and kept.refused_at == letter.refused_at:
                del self.kept[letter.key]


class FakeClock:
    """Monotonic time that moves only when slept on (or told to)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class FlakyEmitter(FakeEmitter):
    """Refuses the first `failures` calls outright, then accepts everything."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.attempts = 0

    def emit(self, events: Sequence[LineageEvent], *, deadline: float = math.inf) -> EmitResult:
        self.attempts += 1
        if self.attempts <= self.failures:
            return EmitResult(accepted=0, failure="HTTPError: 503 Server Error")
        return super().emit(events, deadline=deadline)


class FakeDefinitions:
    """Asset and job definitions in dicts: what the Definitions adapters read from Dagster."""

    def __init__(
        self,
        assets: Sequence[AssetFacts] = (),
        jobs: Mapping[str, JobDocs] | None = None,
        steps: Mapping[tuple[str, str], tuple[AssetKeyPath, ...]] | None = None,
    ) -> None:
        self.assets = {facts.key: facts for facts in assets}
        self.jobs = dict(jobs or {})
        self.steps = dict(steps or {})

    def asset(self, key: AssetKeyPath) -> AssetFacts | None:
        return self.assets.get(key)

    def job(self, job_name: str) -> JobDocs | None:
        return self.jobs.get(job_name)

    def step_assets(self, job_name: str, step_key: str) -> tuple[AssetKeyPath, ...] | None:
        if job_name not in self.jobs:
            return None
        return self.steps.get((job_name, step_key))

    def partition_window(self, job_name: str, partition_key: str) -> tuple[float, float] | None:
        return None

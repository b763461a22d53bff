"""CursorStore over a cursor string (the sensor's), as a versioned pydantic model in JSON.

Dagster writes the cursor to its database on every tick, so the format is compact: short keys,
nothing that can be derived, defaults left out. A cursor written by openlineage-dagster is taken
over: its position and its in-flight runs, with the run ids it had already sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from ol_dagster.domain.datasets import DatasetId
from ol_dagster.domain.errors import CursorError
from ol_dagster.domain.positions import LEGACY_STRATEGY, Position
from ol_dagster.domain.run_ids import v1_job_run_id, v1_step_run_id
from ol_dagster.domain.run_state import OpenRun, OpenStep, RunState, TailState

Positions = Callable[[JsonValue], Position]
"""Reads a cursor's position back: the event source's `position_from_json`."""

CURSOR_VERSION = 2
"""2: step attempts are named after their job run's start, and starts are taken to the microsecond.
Open runs and steps of a version-1 cursor keep the ids they were sent under, written into it."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_MAX_ID = 2**63 - 1
_MAX_TIME = 253402300799.0  # 9999-12-31T23:59:59Z: POSIX times beyond are not run times
MAX_CURSOR_CHARS = 4_000_000
"""Far above any cursor the sensor writes (about 110 bytes per open run), far below trouble."""


class _StepModel(_Model):
    n: int = Field(ge=1, le=_MAX_ID, description="attempt number")
    t: float | None = Field(
        ge=0, le=_MAX_TIME, description="start of the open attempt; null between attempts"
    )
    id: str | None = Field(default=None, description="run id, when it cannot be derived")
    a: bool = Field(default=False, description="the step computes assets")


class _RunModel(_Model):
    t: float = Field(ge=0, le=_MAX_TIME, description="when the Dagster run started")
    s: dict[str, _StepModel] = Field(default_factory=dict, description="open steps by step key")
    id: str | None = Field(default=None, description="run id, when it cannot be derived")
    o: list[tuple[str, str]] = Field(
        default_factory=list, description="datasets materialized so far, as (namespace, name)"
    )


class CursorModel(_Model):
    """What ol-dagster keeps in the sensor's cursor. Bump `v` on any incompatible change."""

    v: Literal[1, 2]
    pos: JsonValue = Field(description="the event source's position, opaque here")
    runs: dict[str, _RunModel] = Field(default_factory=dict, description="open Dagster runs")
    lt: float = Field(
        default=0.0, ge=0, le=_MAX_TIME, description="timestamp of the newest record done with"
    )


class _LegacyStep(BaseModel):
    model_config = ConfigDict(extra="ignore")
    step_run_id: str


class _LegacyPipeline(BaseModel):
    model_config = ConfigDict(extra="ignore")
    running_steps: dict[str, _LegacyStep] = Field(default_factory=dict)


class LegacyCursor(BaseModel):
    """The cursor of openlineage-dagster (its `OpenLineageCursor` as JSON)."""

    model_config = ConfigDict(extra="forbid")
    last_storage_id: int = Field(ge=-1, le=_MAX_ID)
    running_pipelines: dict[str, _LegacyPipeline] = Field(default_factory=dict)


def encode(state: TailState) -> str:
    runs = {
        run_id: _RunModel(
            t=run.started_at,
            s={
                k: _StepModel(n=s.attempt, t=s.started_at, id=s.run_id, a=s.asset)
                for k, s in run.steps.items()
            },
            id=run.run_id,
            o=[(output.namespace, output.name) for output in run.outputs],
        )
        for run_id, run in state.runs.runs.items()
    }
    model = CursorModel(
        v=CURSOR_VERSION, pos=state.position.to_json(), runs=runs, lt=state.log_time
    )
    return model.model_dump_json(exclude_defaults=True)


def decode(text: str, now: float, positions: Positions) -> TailState:
    """The state a cursor holds, its position read by `positions`; raises CursorError for
    anything else, whatever the text."""
    if len(text) > MAX_CURSOR_CHARS:
        raise _not_ours(f"{len(text):,} characters, more than {MAX_CURSOR_CHARS:,}")
    try:
        raw: Any = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise _not_ours("JSON nested too deeply") from None
    except ValueError as error:
        raise _not_ours(f"not JSON: {error}") from None
    if isinstance(raw, dict) and "last_storage_id" in raw:
        return _take_over(raw, now, positions)
    try:
        model = CursorModel.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the cursor"
        raise _not_ours(f"{where}: {first['msg']}") from None
    runs = {
        run_id: OpenRun(
            run.t,
            {k: OpenStep(s.n, s.t, _step_id(model.v, run_id, k, s), s.a) for k, s in run.s.items()},
            run.id
            if run.id is not None
            else (v1_job_run_id(run_id, run.t) if model.v == 1 else None),
            [DatasetId(namespace, name) for namespace, name in run.o],
        )
        for run_id, run in model.runs.items()
    }
    return TailState(positions(model.pos), RunState(runs), model.lt)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _step_id(version: int, run_id: str, key: str, step: _StepModel) -> str | None:
    """The explicit id of an open step: a version-1 cursor's steps were named after their own
    start, and keep that name until they end."""
    if step.id is not None or version >= 2 or step.t is None:
        return step.id
    return v1_step_run_id(run_id, key, step.n, step.t)


def _take_over(raw: dict[str, Any], now: float, positions: Positions) -> TailState:
    """openlineage-dagster's cursor: resume after its last storage id, keeping its run ids.

    It named a job run's OpenLineage run after the Dagster run id and each step attempt with a
    random id it kept in the cursor; runs in flight finish under those ids. Their start times
    are unknown: `now` stands in, for the age after which a run that never ends is dropped, and
    for the event log's clock until the first record is read.
    """
    try:
        legacy = LegacyCursor.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise _not_ours(
            f"an openlineage-dagster cursor with a bad {where}: {first['msg']}"
        ) from None
    runs = {
        run_id: OpenRun(
            now,
            {
                key: OpenStep(1, now, step.step_run_id)
                for key, step in pipeline.running_steps.items()
            },
            run_id,
        )
        for run_id, pipeline in legacy.running_pipelines.items()
    }
    in_flight: list[JsonValue] = list(runs)
    position = positions(
        {"strategy": LEGACY_STRATEGY, "after": legacy.last_storage_id, "runs": in_flight}
    )
    return TailState(position, RunState(runs), now)


def _not_ours(reason: str) -> CursorError:
    return CursorError(
        f"the cursor is not an ol-dagster cursor of version {CURSOR_VERSION} ({reason})"
    )


class JsonCursorStore:
    """Keeps the state as JSON in a string slot: the sensor's cursor, a file, ..."""

    def __init__(
        self,
        read: Callable[[], str | None],
        write: Callable[[str], None],
        positions: Positions,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`positions`: the event source's `position_from_json`, which checks a position."""
        self._read = read
        self._positions = positions
        self._write = write
        self._clock = clock

    def load(self) -> TailState | None:
        text = self._read()
        if not text:
            return None
        return decode(text, self._clock(), self._positions)

    def save(self, state: TailState) -> None:
        self._write(encode(state))

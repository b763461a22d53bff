"""CursorStore over a cursor string (the sensor's), as a versioned pydantic model in JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from ol_dagster.domain.errors import CURSOR_RESET_HINT, CursorError
from ol_dagster.domain.run_state import OpenRun, OpenStep, RunState, TailState

CURSOR_VERSION = 1


class _StepModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    attempt: int = Field(ge=1)
    started_at: float | None


class _RunModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    job: str = Field(min_length=1)
    namespace: str = Field(min_length=1)
    started_at: float
    steps: dict[str, _StepModel] = Field(default_factory=dict)


class CursorModel(BaseModel):
    """What ol-dagster keeps in the sensor's cursor. Bump `version` on any incompatible change."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Literal[1]
    position: JsonValue
    runs: dict[str, _RunModel] = Field(default_factory=dict)


def encode(state: TailState) -> str:
    runs = {
        run_id: _RunModel(
            job=run.job_name,
            namespace=run.namespace,
            started_at=run.started_at,
            steps={
                k: _StepModel(attempt=s.attempt, started_at=s.started_at)
                for k, s in run.steps.items()
            },
        )
        for run_id, run in state.runs.runs.items()
    }
    model = CursorModel(version=CURSOR_VERSION, position=state.position, runs=runs)
    return model.model_dump_json(exclude_defaults=False)


def decode(text: str) -> TailState:
    try:
        model = CursorModel.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the cursor"
        raise CursorError(
            f"the sensor's cursor is not an ol-dagster cursor of version {CURSOR_VERSION} "
            f"({where}: {first['msg']}). {CURSOR_RESET_HINT}"
        ) from None
    runs = {
        run_id: OpenRun(
            run.job,
            run.namespace,
            run.started_at,
            {k: OpenStep(s.attempt, s.started_at) for k, s in run.steps.items()},
        )
        for run_id, run in model.runs.items()
    }
    return TailState(model.position, RunState(runs))


class JsonCursorStore:
    """Keeps the state as JSON in a string slot: the sensor's cursor, a file, ..."""

    def __init__(self, read: Callable[[], str | None], write: Callable[[str], None]) -> None:
        self._read = read
        self._write = write

    def load(self) -> TailState | None:
        text = self._read()
        if not text:
            return None
        return decode(text)

    def save(self, state: TailState) -> None:
        self._write(encode(state))

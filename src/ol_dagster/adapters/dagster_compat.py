"""The two Dagster internals ol-dagster needs, in one place, because Dagster has no public API
for them (checked on dagster 1.11.0 to 1.13.x).

Everything else ol-dagster uses comes from `import dagster` or from methods of the objects it
returns. Each import here is guarded: a Dagster release that moves one does not break the code
location that loads the sensor; the feature that needs it degrades, or fails with a message that
names the Dagster version, and `tests/unit/test_dagster_compat.py` fails in CI's newest-versions
cell before a user meets it.
"""

from __future__ import annotations

from typing import Any

import dagster

DAGSTER_VERSION: str = dagster.__version__

try:
    # Which assets a step computes: `JobDefinition.asset_layer.get_assets_def_for_node` takes a
    # node handle, and a step key is the string form of one. No public API maps a step to its
    # assets. If it moves, asset steps are reported as plain op steps (`jobType` OP, no job
    # documentation from the asset) and a warning is logged once.
    from dagster._core.definitions.dependency import NodeHandle as _NodeHandle
except ImportError:  # pragma: no cover - only on a Dagster release that moved it
    _NodeHandle = None  # type: ignore[assignment,misc]

try:
    # The cursor `DagsterInstance.get_records_for_run(cursor=...)` takes is this class's string
    # form; the documented way to read a run's records after a storage id, which the per-run
    # strategy (Dagster's default run-sharded SQLite storage) needs. No public constructor exists.
    # If it moves, the per-run strategy fails each tick with a message naming the version.
    from dagster._core.event_api import EventLogCursor as _EventLogCursor
except ImportError:  # pragma: no cover - only on a Dagster release that moved it
    _EventLogCursor = None  # type: ignore[assignment,misc]


class UnsupportedDagsterError(RuntimeError):
    """This Dagster release moved an internal that ol-dagster needs."""


def node_handle(step_key: str) -> Any | None:
    """The node handle of a step (`graph.op[mapping_key]` -> `graph.op`), or None if unavailable."""
    if _NodeHandle is None:  # pragma: no cover
        return None
    return _NodeHandle.from_string(step_key.split("[", 1)[0])


def run_records_cursor(after_storage_id: int) -> str:
    """The `get_records_for_run` cursor that reads a run's records after `after_storage_id`."""
    if _EventLogCursor is None:  # pragma: no cover
        raise UnsupportedDagsterError(
            f"dagster {DAGSTER_VERSION} moved EventLogCursor, which ol-dagster needs to read "
            "Dagster's default run-sharded SQLite storage: install a Dagster version that "
            "ol-dagster supports (see its README), or a consolidated SQLite or PostgreSQL "
            "event-log storage."
        )
    return str(_EventLogCursor.from_storage_id(after_storage_id).to_string())

"""The Dagster internals ol-dagster needs, in one place, because Dagster has no public API
for them (checked on dagster 1.11.0 to 1.13.x).

Everything else ol-dagster uses comes from `import dagster` or from methods of the objects it
returns. Each import here is guarded: a Dagster release that moves one does not break the code
location that loads the sensor; the feature that needs it degrades, or fails with a message that
names the Dagster version, and `tests/unit/test_dagster_compat.py` fails in CI's newest-versions
cell before a user meets it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import dagster

DAGSTER_VERSION: str = dagster.__version__

try:
    # Which assets a step computes: `JobDefinition.asset_layer.get_assets_def_for_node` takes a
    # node handle, and a step key is the string form of one. No public API maps a step to its
    # assets. If it (or the asset layer's lookup) moves, asset steps are reported as plain op
    # steps (`jobType` OP, no job documentation from the asset) and a warning is logged once.
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


try:
    # How the `dagster` CLI finds the definitions of `-m module` / `-f file.py` (a `Definitions`
    # object, a repository, a job, ...) and makes a repository of them: for the `ol-dagster`
    # commands, which load a workspace's code locations in their own process. If these move,
    # those commands say so and the GraphQL adapter (OL_DAGSTER_GRAPHQL_URL) still works.
    from dagster._core.definitions.reconstruct import (
        repository_def_from_target_def as _repository_def_from_target_def,
    )
    from dagster._core.workspace.autodiscovery import (
        loadable_targets_from_python_file as _targets_from_file,
    )
    from dagster._core.workspace.autodiscovery import (
        loadable_targets_from_python_module as _targets_from_module,
    )
    from dagster._core.workspace.load import location_origins_from_yaml_paths as _workspace_origins
except ImportError:  # pragma: no cover - only on a Dagster release that moved them
    _repository_def_from_target_def = None  # type: ignore[assignment]

try:
    # What `deserialize_value` raises for a record it cannot read (a class a newer Dagster wrote).
    from dagster_shared.serdes.errors import DeserializationError as _DeserializationError
except ImportError:  # pragma: no cover - only on a Dagster release that moved it
    _DeserializationError = ValueError  # type: ignore[assignment,misc]

UNREADABLE_RECORD: tuple[type[Exception], ...] = (json.JSONDecodeError, _DeserializationError)
"""What Dagster's `deserialize_value` raises for a record it cannot read, as its own reads catch
it: they log such a record and end the read there (all runs) or fail it (a run's records)."""


class UnsupportedDagsterError(RuntimeError):
    """This Dagster release moved an internal that ol-dagster needs."""


def node_handle(step_key: str) -> Any | None:
    """The node handle of a step (`graph.op[mapping_key]` -> `graph.op`), or None if unavailable."""
    if _NodeHandle is None:  # pragma: no cover
        return None
    return _NodeHandle.from_string(step_key.split("[", 1)[0])


def assets_def_of_step(job: Any, step_key: str) -> Any | None:
    """The AssetsDefinition a step of `job` computes, or None for a plain op (or if unknown)."""
    handle = node_handle(step_key)
    layer = getattr(job, "asset_layer", None)
    # Dagster 1.12 renamed AssetLayer.assets_def_for_node to get_assets_def_for_node.
    find = getattr(layer, "get_assets_def_for_node", None) or getattr(
        layer, "assets_def_for_node", None
    )
    if handle is None or find is None:  # pragma: no cover - a release that moved them
        warn_once(
            f"dagster {DAGSTER_VERSION} moved how a step's assets are found: asset steps are "
            "reported as op steps"
        )
        return None
    return find(handle)


_warned: set[str] = set()


def warn_once(message: str) -> None:
    """Logs `message` the first time only: for what degrades on every record."""
    if message not in _warned:
        _warned.add(message)
        logging.getLogger("ol_dagster").warning("ol-dagster: %s", message)


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


# Which storage ids exist, whatever their event type: a reader that filters by type cannot tell a
# record of another type from an insert that has not committed yet. No public API lists them; SQL
# event-log storages (SQLite, PostgreSQL, MySQL) expose `index_connection()` and keep every record
# in the `event_logs` table. If either moves, or for a storage that is not SQL, these return None,
# and the reader logs it once and passes ids in order as it did before gaps were tracked, which is
# exact wherever writers commit in id order.
_IDS = "SELECT id, dagster_event_type FROM event_logs WHERE "


def commits_out_of_id_order(storage: Any) -> bool:
    """Whether a storage's writers may commit a higher storage id before a lower one: SQLite
    serialises its writers (ids commit in order); PostgreSQL and MySQL do not."""
    connect = getattr(storage, "index_connection", None)
    if connect is None:
        return False
    with connect() as connection:
        return str(connection.dialect.name) != "sqlite"


def committed_ids(storage: Any, after: int, upto: int) -> dict[int, str] | None:
    """The storage ids in (`after`, `upto`] that are committed, each with its Dagster event type
    (`""` for a plain log message)."""
    import sqlalchemy  # Dagster's own dependency

    return _ids(storage, sqlalchemy.text(_IDS + "id > :lo AND id <= :hi"), lo=after, hi=upto)


def committed_among(storage: Any, storage_ids: Sequence[int]) -> dict[int, str] | None:
    """Which of `storage_ids` are committed, each with its Dagster event type."""
    import sqlalchemy

    statement = sqlalchemy.text(_IDS + "id IN :ids").bindparams(
        sqlalchemy.bindparam("ids", expanding=True)
    )
    return _ids(storage, statement, ids=list(storage_ids))


# Dagster's own read of the event log (`get_logs_for_all_runs_by_log_id`, `get_records_for_run`)
# runs this same query on every SQL storage, then builds a Python object of each record's JSON
# (`deserialize_value`): 82 of the 97 µs a record takes to read (`make bench`, consolidated SQLite).
# ol-dagster reads the rows and decodes most records itself (adapters/dagster_events.py, `_decode`),
# handing the others to `deserialize_value`. For a storage that is not SQL, these return None and
# the records are read through Dagster's API.
_ROWS = "SELECT id, event, dagster_event_type FROM event_logs WHERE "
_ROWS_END = " AND dagster_event_type IN :types ORDER BY id ASC LIMIT :limit"


Row = tuple[int, str, str]
"""A record of the event log: its storage id, its JSON, and its event type as stored."""


def event_rows(storage: Any, after: int, types: Sequence[str], limit: int) -> list[Row] | None:
    """The records of `types` after storage id `after`, in id order, across all runs: what
    `get_logs_for_all_runs_by_log_id` reads."""
    import sqlalchemy

    statement = sqlalchemy.text(_ROWS + "id > :after" + _ROWS_END)
    return _rows(storage, None, statement, after=after, types=list(types), limit=limit)


def run_event_rows(
    storage: Any, run_id: str, after: int, types: Sequence[str], limit: int
) -> list[Row] | None:
    """One run's records of `types` after storage id `after`, in id order, from the run's own
    shard on run-sharded storage: what `get_records_for_run` reads."""
    import sqlalchemy

    statement = sqlalchemy.text(_ROWS + "run_id = :run AND id > :after" + _ROWS_END)
    return _rows(
        storage, run_id, statement, run=run_id, after=after, types=list(types), limit=limit
    )


def _rows(storage: Any, run_id: str | None, statement: Any, **values: object) -> list[Row] | None:
    import sqlalchemy

    statement = statement.bindparams(sqlalchemy.bindparam("types", expanding=True))
    try:
        opened = storage.index_connection() if run_id is None else storage.run_connection(run_id)
        with opened as connection:
            rows = connection.execute(statement, values)
            return [(int(row[0]), str(row[1]), str(row[2])) for row in rows]
    except (AttributeError, sqlalchemy.exc.ProgrammingError):  # pragma: no cover
        return None


def _ids(storage: Any, statement: Any, **values: object) -> dict[int, str] | None:
    import sqlalchemy

    try:
        with storage.index_connection() as connection:
            rows = connection.execute(statement, values)
            return {int(row[0]): str(row[1] or "") for row in rows}
    except (AttributeError, sqlalchemy.exc.ProgrammingError):  # pragma: no cover
        return None


def workspace_targets(path: object) -> list[tuple[str, str, str | None, str] | None]:
    """Each code location of a workspace file, as Dagster reads the file: (kind, module or
    file, attribute, working directory), or None for a location not loaded from Python code
    (a gRPC server)."""
    if _repository_def_from_target_def is None:  # pragma: no cover
        raise UnsupportedDagsterError(
            f"dagster {DAGSTER_VERSION} moved how workspaces are read: give "
            "OL_DAGSTER_GRAPHQL_URL instead of -w"
        )
    targets: list[tuple[str, str, str | None, str] | None] = []
    for origin in _workspace_origins([str(path)]):
        found = getattr(origin, "loadable_target_origin", None)
        if found is None:
            targets.append(None)
            continue
        directory = found.working_directory or str(getattr(path, "parent", "."))
        if found.python_file:
            targets.append(("file", found.python_file, found.attribute, directory))
        else:
            module = found.module_name or found.package_name
            targets.append(("module", module, found.attribute, directory))
    return targets


def loadable_targets(
    kind: str, name: str, attribute: str | None, working_directory: str
) -> list[dagster.RepositoryDefinition]:
    """The repositories `dagster -m name` (kind "module") or `dagster -f name` ("file") loads,
    imported in this process; only `attribute`'s when given."""
    if _repository_def_from_target_def is None:  # pragma: no cover
        raise UnsupportedDagsterError(
            f"dagster {DAGSTER_VERSION} moved how code locations are loaded: give "
            "OL_DAGSTER_GRAPHQL_URL instead of -w/-m/-f"
        )
    found = (
        _targets_from_module(name, working_directory)
        if kind == "module"
        else _targets_from_file(name, working_directory)
    )
    repositories = [
        _repository_def_from_target_def(target.target_definition)
        for target in found
        if attribute is None or target.attribute == attribute
    ]
    return [repository for repository in repositories if repository is not None]

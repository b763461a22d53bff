"""The `Definitions` port from Dagster definitions loaded in this process.

- The sensor's own code location (`context.repository_def`): no cost, but only its own assets.
- A workspace loaded as the `dagster` CLI loads it (`-w workspace.yaml`, `-m module`,
  `-f file.py`), for the `ol-dagster` commands: every location's code is imported here, once
  per command (Python locations only; a `grpc_server` location is reached through the GraphQL
  adapter instead).

Dagster metadata values become plain `AssetFacts` here; the event source uses the same reading
for the metadata a materialization carries at run time (`facts_of_metadata`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from dagster import (
    AssetKey,
    LocalFileCodeReference,
    RepositoryDefinition,
    TimeWindowPartitionsDefinition,
    UrlCodeReference,
)

from ol_dagster.adapters.dagster_compat import (
    assets_def_of_step,
    loadable_targets,
    workspace_targets,
)
from ol_dagster.domain.datasets import AssetFacts, Column
from ol_dagster.domain.errors import ConfigurationError
from ol_dagster.domain.ports import AssetKeyPath
from ol_dagster.domain.records import JobDocs

STUB_MARKER = "dagster/auto_created_stub_asset"
"""Metadata Dagster puts on an asset a location only depends on (`deps=[...]`) without defining
it: such a location knows nothing of it, another one does."""

KIND_TAG_PREFIX = "dagster/kind/"


class RepositoryDefinitions:
    """Facts from one or more code locations' `RepositoryDefinition`s, the first that defines
    an asset or job answering."""

    def __init__(self, repositories: Sequence[RepositoryDefinition]) -> None:
        self._repositories = tuple(repositories)
        # Definitions do not change while loaded: each fact is looked up once.
        self._assets: dict[AssetKeyPath, AssetFacts | None] = {}

    @property
    def locations(self) -> int:
        return len(self._repositories)

    @property
    def assets(self) -> int:
        """How many assets the locations define (their stubs of others' assets not counted)."""
        return len(
            {
                key
                for repository in self._repositories
                for key in repository.asset_graph.get_all_asset_keys()
                if not metadata_value(repository.asset_graph.get(key).metadata.get(STUB_MARKER))
            }
        )

    def asset(self, key: AssetKeyPath) -> AssetFacts | None:
        if key not in self._assets:
            self._assets[key] = self._find_asset(AssetKey(list(key)))
        return self._assets[key]

    def _find_asset(self, key: AssetKey) -> AssetFacts | None:
        found = [r.asset_graph.get(key) for r in self._repositories if r.asset_graph.has(key)]
        nodes = [node for node in found if not metadata_value(node.metadata.get(STUB_MARKER))]
        if not nodes:
            return None
        # The location that materializes the asset defines it; another may declare it as an
        # external AssetSpec (as the GraphQL adapter chooses, whatever the locations' order).
        node = min(nodes, key=lambda node: not node.is_materializable)
        return replace(
            facts_of_metadata(tuple(key.path), plain_metadata(node.metadata)),
            kinds=tuple(sorted(node.kinds)),
            group=node.group_name,
            description=node.description,
            owners=tuple(node.owners),
            tags=definition_tags(node.tags),
            parents=tuple(sorted(tuple(parent.path) for parent in node.parent_keys)),
        )

    def _jobs(self, job_name: str) -> list[Any]:
        """The job of each location that has one of this name (every asset location has an
        `__ASSET_JOB`)."""
        return [r.get_job(job_name) for r in self._repositories if r.has_job(job_name)]

    def job(self, job_name: str) -> JobDocs | None:
        jobs = self._jobs(job_name)
        if not jobs:
            return None
        return JobDocs(jobs[0].description, tuple(getattr(jobs[0], "owners", None) or ()))

    def step_assets(self, job_name: str, step_key: str) -> tuple[AssetKeyPath, ...] | None:
        # Every asset location has an `__ASSET_JOB`: only a job with the step's node knows it.
        top = step_key.split("[", 1)[0].split(".", 1)[0]
        jobs = [job for job in self._jobs(job_name) if job.graph.has_node_named(top)]
        if not jobs:
            return None
        keys: set[AssetKeyPath] = set()
        for assets in (assets_def_of_step(job, step_key) for job in jobs):
            if assets is not None:
                keys |= {tuple(key.path) for key in assets.keys}
                keys |= {tuple(check.asset_key.path) for check in assets.check_keys}
        return tuple(sorted(keys))

    def partition_window(self, job_name: str, partition_key: str) -> tuple[float, float] | None:
        for job in self._jobs(job_name):
            partitions = job.partitions_def
            if not isinstance(partitions, TimeWindowPartitionsDefinition):
                continue
            try:
                window = partitions.time_window_for_partition_key(partition_key)
            except Exception:  # noqa: BLE001, S112  (a key of another definition: no window)
                continue
            return window.start.timestamp(), window.end.timestamp()
        return None


def load_workspace(
    workspace_files: Sequence[Path] = (),
    modules: Sequence[str] = (),
    python_files: Sequence[Path] = (),
    working_directory: Path | None = None,
) -> RepositoryDefinitions:
    """The code locations of a workspace, imported here as `dagster`'s `-w/-m/-f` name them.

    With none given, `./workspace.yaml` when it exists (as the `dagster` CLI does); else nothing.
    """
    if not (workspace_files or modules or python_files) and Path("workspace.yaml").is_file():
        workspace_files = [Path("workspace.yaml")]
    cwd = str(working_directory or Path.cwd())
    targets: list[tuple[str, str, str | None, str]] = [("module", m, None, cwd) for m in modules]
    targets += [("file", str(f), None, cwd) for f in python_files]
    for path in workspace_files:
        for target in workspace_targets(path):
            if target is None:
                raise ConfigurationError(
                    f"{path}: a gRPC server location cannot be loaded in this process; set "
                    "OL_DAGSTER_GRAPHQL_URL (the webserver's /graphql, which sees every location)."
                )
            targets.append(target)
    repositories = [repository for target in targets for repository in loadable_targets(*target)]
    return RepositoryDefinitions(repositories)


def facts_of_metadata(key: AssetKeyPath, metadata: Mapping[str, Any]) -> AssetFacts:
    """What Dagster's metadata keys say of where an asset lives and what it holds, from
    metadata as plain values (`plain_metadata`; the GraphQL adapter makes the same of its own)."""
    references = _all_of(metadata.get("dagster/code_references"), tuple)
    url, path = references[0] if references else (None, None)
    return AssetFacts(
        key=key,
        uri=_text(metadata.get("dagster/uri")),
        table_name=_text(metadata.get("dagster/table_name"))
        or _text(metadata.get("dagster/relation_identifier")),
        storage_kind=_text(metadata.get("dagster/storage_kind")),
        columns=_all_of(metadata.get("dagster/column_schema"), Column),
        source_url=url,
        source_path=path,
    )


def plain_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Dagster `MetadataValue`s as plain values: a table schema as `Column`s, code references
    as (URL, local path) pairs, anything else as its value."""
    plain: dict[str, Any] = {}
    for label, entry in metadata.items():
        value = metadata_value(entry)
        columns = getattr(value, "columns", None)
        references = getattr(value, "code_references", None)
        if columns is not None:
            value = tuple(Column(c.name, c.type or None, c.description) for c in columns)
        elif references is not None:
            value = tuple(_source(reference) for reference in references)
        plain[label] = value
    return plain


def _all_of(value: Any, kind: type) -> tuple[Any, ...]:
    """`value` when it is a tuple of `kind`s (what `plain_metadata` makes of a column schema or
    of code references); () for anything else a user put under that key."""
    # `type(...) is tuple`: some of Dagster's values are named tuples that refuse iteration
    # (an `AssetKey` given where a schema is expected)
    if type(value) is tuple and all(isinstance(item, kind) for item in value):
        return value
    return ()


def definition_tags(tags: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple(
        (k, v) for k, v in sorted((tags or {}).items()) if not k.startswith(KIND_TAG_PREFIX)
    )


def source_url(file_path: str, line_number: int | None) -> str:
    return f"file://{file_path}" + (f"#L{line_number}" if line_number else "")


def _source(reference: Any) -> tuple[str | None, str | None]:
    if isinstance(reference, LocalFileCodeReference):
        return source_url(reference.file_path, reference.line_number), reference.file_path
    if isinstance(reference, UrlCodeReference):
        return reference.url, None
    return None, None


def metadata_value(entry: Any) -> Any:
    """A metadata entry's plain value (Dagster wraps values in `MetadataValue`s)."""
    return getattr(entry, "value", entry)


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None

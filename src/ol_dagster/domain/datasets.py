"""What the domain knows of a dataset: a Dagster asset, named the OpenLineage way.

Adapters fill these in from the event log (run-time metadata) and from the code location
(definition-time metadata); the domain only places them on the right events.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class DatasetId:
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ColumnSource:
    dataset: DatasetId
    column: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of a Dagster asset check on a dataset."""

    name: str
    passed: bool
    severity: str | None = None


@dataclass(frozen=True, slots=True)
class Dataset:
    id: DatasetId
    asset_key: tuple[str, ...]
    alias: DatasetId | None = None
    """The Dagster-based identity, when `id` names where the data physically lives."""
    partition: str | None = None
    partition_dimensions: tuple[tuple[str, str], ...] = ()
    description: str | None = None
    owners: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    columns: tuple[Column, ...] = ()
    column_lineage: tuple[tuple[str, tuple[ColumnSource, ...]], ...] = ()
    row_count: int | None = None
    size_bytes: int | None = None
    checks: tuple[CheckResult, ...] = field(default=())
    version: str | None = None
    """Dagster's data version of the asset, when it has one."""

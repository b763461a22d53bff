"""Where a reader is in the event log: a value its event source makes, reads and writes."""

from __future__ import annotations

from typing import Protocol, TypeAlias

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"


class Position(Protocol):
    """Where a reader is in the event log, as its event source made it. Opaque to the domain,
    which keeps it (`TailState`) and hands it back: only the source reads it. A cursor holds it
    as `to_json()` and gets it back through the source's `position_from_json`, which is where
    a position is checked, once, when the cursor is loaded."""

    def to_json(self) -> JsonValue: ...


MAX_STORAGE_ID = 2**63 - 1
"""Storage ids are 64-bit integers in every Dagster SQL storage."""

LEGACY_STRATEGY = "openlineage-dagster"
"""The position a cursor taken over from openlineage-dagster gets (`{"strategy": this, ...}`):
the event source maps it onto its own strategy."""

GAP_WAIT_SECONDS = 60.0
"""How long a missing storage id holds the reader back before it is taken as never coming.

Dagster writes each event in a short transaction of its own (one INSERT; asset events add a few
index rows): a healthy commit takes milliseconds, a stalled one (I/O, a descheduled backend, lock
waits) seconds. An id missing for a minute is, in practice, a rolled-back insert or ids a
PostgreSQL restart skipped (up to 32 of its sequence cache), which never appear: waiting longer
would only delay all lineage after such a hole. Set by OL_DAGSTER_GAP_WAIT_SECONDS."""
GIVEN_UP_WATCH_SECONDS = 3600.0
"""How long a storage id given up on is still looked for (one indexed query a tick), and read if it
appears: an insert that stays open past the wait is not lost unless it stays open for an hour."""

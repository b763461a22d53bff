"""Where a reader is in the event log: a JSON value only its event source reads."""

from __future__ import annotations

from typing import TypeAlias

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
Position: TypeAlias = JsonValue
"""Where a reader is in the event log. Opaque to the domain: only its event source reads it."""

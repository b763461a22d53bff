"""Dead letters kept in the Dagster instance's own key-value store.

Why there: it is the instance's database (SQLite beside DAGSTER_HOME, or PostgreSQL), durable and
backed up with the rest of the instance, and every process that opens the instance reaches it:
the sensor's code server, wherever it runs, and the `ol-dagster` commands on another machine.
A file beside DAGSTER_HOME would be on the code server's disk only.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, fields
from typing import Any

from dagster import DagsterInstance

from ol_dagster.domain.dead_letters import DEFAULT_LIMIT, DeadLetter
from ol_dagster.domain.errors import OlDagsterError

KEY_PREFIX = "ol_dagster/dead_letters/"
_VERSION = 1
_FIELDS = {f.name: f.type for f in fields(DeadLetter)}
_TYPES: dict[str, type | tuple[type, ...]] = {"str": str, "int": int, "float": (int, float)}


class DeadLettersUnreadable(OlDagsterError):
    """What is kept under the key is not this version's dead letters."""


class InstanceDeadLetters:
    """The letters of one sensor (or of `ol-dagster replay`), as one JSON value of the
    instance's key-value store (`ol_dagster/dead_letters/<name>`).

    Each change reads and writes the whole value: the sensor's ticks never overlap, and a
    command that resends or drops letters re-reads them just before it writes.
    """

    def __init__(self, instance: DagsterInstance, name: str, limit: int = DEFAULT_LIMIT) -> None:
        self._storage = instance.run_storage
        self._key = KEY_PREFIX + name
        self._limit = limit

    @property
    def limit(self) -> int:
        return self._limit

    def letters(self) -> list[DeadLetter]:
        text = self._storage.get_cursor_values({self._key}).get(self._key)
        return decode_letters(text, self._key) if text else []

    def add(self, letters: Sequence[DeadLetter]) -> None:
        kept = {letter.key: letter for letter in self.letters()}
        kept.update((letter.key, letter) for letter in letters)
        self._write(kept.values())

    def remove(self, keys: Collection[str]) -> None:
        self._write(letter for letter in self.letters() if letter.key not in keys)

    def _write(self, letters: Iterable[DeadLetter]) -> None:
        value = {"v": _VERSION, "letters": [asdict(letter) for letter in letters]}
        self._storage.set_cursor_values({self._key: json.dumps(value, separators=(",", ":"))})


def decode_letters(text: str, key: str) -> list[DeadLetter]:
    try:
        letters = [_letter(item) for item in _versioned(json.loads(text))["letters"]]
    except (ValueError, KeyError, TypeError) as error:
        raise DeadLettersUnreadable(
            f"the dead letters kept under the instance key {key!r} cannot be read ({error}); "
            "they are left as they are. A newer ol-dagster may have written them: use that one"
        ) from None
    return letters


def _versioned(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("v") != _VERSION:
        raise ValueError(f"not version {_VERSION}")
    return value


def _letter(item: Any) -> DeadLetter:
    if not isinstance(item, dict) or set(item) != set(_FIELDS):
        raise TypeError("a letter without the expected fields")
    for name, kind in _FIELDS.items():
        if not isinstance(item[name], _TYPES[str(kind)]):
            raise TypeError(f"a letter whose {name} is not a {kind}")
    return DeadLetter(**item)

"""Dead letters kept in the Dagster instance's own key-value store.

Why there: it is the instance's database (SQLite beside DAGSTER_HOME, or PostgreSQL), durable and
backed up with the rest of the instance, and every process that opens the instance reaches it:
the sensor's code server, wherever it runs, and the `ol-dagster` commands on another machine.
A file beside DAGSTER_HOME would be on the code server's disk only.

The store offers no transaction or compare-and-set, and a tick may add letters while a command
resends or drops others. So no value has two writers:
- each letter is a value of its own (`<prefix>/letter/<key>`), written whole;
- the index of letters (`<prefix>/added`: each key with when it was refused) is written by the
  ticks only, which never overlap;
- what the commands removed (`<prefix>/removed`: each key with the refusal time of the letter
  they removed) is written by the commands only.
A letter is kept unless the commands removed that very refusal: a letter refused again by a
later tick (a new refusal time) is kept again. No clocks are compared. Ticks drop removed keys
from their index, and commands drop tombstones of keys no longer in it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from typing import Any

from dagster import DagsterInstance

from ol_dagster.domain.dead_letters import DEFAULT_LIMIT, DeadLetter
from ol_dagster.domain.errors import OlDagsterError

KEY_PREFIX = "ol_dagster/dead_letters/"
_FIELDS = {f.name: f.type for f in fields(DeadLetter)}
_TYPES: dict[str, type | tuple[type, ...]] = {"str": str, "int": int, "float": (int, float)}


class DeadLettersUnreadable(OlDagsterError):
    """What is kept under the store's keys is not this version's dead letters."""


class InstanceDeadLetters:
    """The letters of one sensor (or of `ol-dagster replay`) in the instance's key-value store.

    `add` is for the sensor's ticks (or the one replay), `remove` for the commands: each writes
    its own index, so neither overwrites what the other wrote (see the module's docstring).
    """

    def __init__(self, instance: DagsterInstance, name: str, limit: int = DEFAULT_LIMIT) -> None:
        self._storage = instance.run_storage
        prefix = KEY_PREFIX + name
        self._added_key, self._removed_key = f"{prefix}/added", f"{prefix}/removed"
        self._letter_prefix = f"{prefix}/letter/"
        self._limit = limit

    @property
    def limit(self) -> int:
        return self._limit

    def count(self) -> int:
        added, removed = self._indexes()
        return len(_kept(added, removed))

    def letters(self) -> list[DeadLetter]:
        added, removed = self._indexes()
        keys = list(_kept(added, removed))
        texts = self._storage.get_cursor_values({self._letter_prefix + k for k in keys})
        letters = []
        for key in keys:
            text = texts.get(self._letter_prefix + key)
            if text:  # a letter whose index entry was written, but not the letter: none
                letters.append(_decode(text, self._letter_prefix + key))
        return letters

    def add(self, letters: Sequence[DeadLetter]) -> None:
        """The letters first, then the index that names them: never an index entry without
        its letter. Keys removed since they were refused leave the index."""
        if not letters:
            return
        for letter in letters:
            # One value a call: Dagster's SQLite store, given several where one exists already,
            # updates the existing ones and silently drops the new ones.
            self._storage.set_cursor_values(
                {self._letter_prefix + letter.key: _encode(asdict(letter))}
            )
        added, removed = self._indexes()
        index = _kept(added, removed)
        index.update((x.key, x.refused_at) for x in letters)
        self._storage.set_cursor_values({self._added_key: _encode(index)})

    def remove(self, letters: Sequence[DeadLetter]) -> None:
        added, removed = self._indexes()
        # tombstones of keys no longer in the index say nothing more: dropped
        kept = {k: t for k, t in removed.items() if k in added}
        kept.update((x.key, x.refused_at) for x in letters)
        self._storage.set_cursor_values({self._removed_key: _encode(kept)})

    def _indexes(self) -> tuple[dict[str, float], dict[str, float]]:
        values = self._storage.get_cursor_values({self._added_key, self._removed_key})
        return (
            _index(values.get(self._added_key), self._added_key),
            _index(values.get(self._removed_key), self._removed_key),
        )


def _kept(added: Mapping[str, float], removed: Mapping[str, float]) -> dict[str, float]:
    return {k: t for k, t in added.items() if removed.get(k) != t}


def _encode(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _unreadable(key: str, why: object) -> DeadLettersUnreadable:
    return DeadLettersUnreadable(
        f"the dead letters kept under the instance key {key!r} cannot be read ({why}); they "
        "are left as they are. A newer ol-dagster may have written them: use that one"
    )


def _index(text: str | None, key: str) -> dict[str, float]:
    if not text:
        return {}
    try:
        value: Any = json.loads(text)
    except ValueError as error:
        raise _unreadable(key, error) from None
    if not isinstance(value, dict) or not all(
        isinstance(t, (int, float)) and not isinstance(t, bool) for t in value.values()
    ):
        raise _unreadable(key, "not a map of keys to times")
    return {str(k): float(t) for k, t in value.items()}


def _decode(text: str, key: str) -> DeadLetter:
    try:
        item: Any = json.loads(text)
    except ValueError as error:
        raise _unreadable(key, error) from None
    if not isinstance(item, dict) or set(item) != set(_FIELDS):
        raise _unreadable(key, "a letter without the expected fields")
    for name, kind in _FIELDS.items():
        if not isinstance(item[name], _TYPES[str(kind)]) or isinstance(item[name], bool):
            raise _unreadable(key, f"a letter whose {name} is not a {kind}")
    return DeadLetter(**item)

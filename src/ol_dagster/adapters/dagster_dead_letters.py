"""Dead letters kept in the Dagster instance's own key-value store.

Why there: it is the instance's database (SQLite beside DAGSTER_HOME, or PostgreSQL), durable and
backed up with the rest of the instance, and every process that opens the instance reaches it:
the sensor's code server, wherever it runs, and the `ol-dagster` commands on another machine.
A file beside DAGSTER_HOME would be on the code server's disk only.

A letter is a reference (`domain.dead_letters`), a row of a few fields; rows are kept in
compressed chunks, so that a store of 100,000 letters is a few MB (`make bench` prints it), and
no value is rewritten as letters accumulate.

The store offers no transaction or compare-and-set, and a tick may add letters while a command
resends or drops others. So no value has two writers:
- each tick that keeps letters writes a new chunk (`<prefix>/chunk/<n>`), then the number of
  chunks (`<prefix>/chunks`): only the ticks write these, and they never overlap;
- what the commands removed (`<prefix>/removed`: each key with the refusal time of the letter
  they removed) is written by the commands only; a chunk whose letters are all removed is
  emptied by them (a tick never writes an old chunk again).
A letter is kept unless the commands removed that very refusal: a letter refused again by a
later tick (a new refusal time, in a newer chunk) is kept again. No clocks are compared.

Letters an earlier release kept (each a value of its own, `<prefix>/letter/<key>`, named by
`<prefix>/added`) are read as references too; they are never written again.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import DagsterInstance

from ol_dagster.domain.dead_letters import REASON_KEPT, DeadLetter
from ol_dagster.domain.errors import OlDagsterError

KEY_PREFIX = "ol_dagster/dead_letters/"
CHUNK_LETTERS = 5_000
"""Letters a chunk holds at most: a tick that keeps more writes several."""
_COMPRESSED = "z1:"
"""Marks a value as zlib-compressed JSON in base64 (the store holds text)."""
_ROW: tuple[type | tuple[type, ...], ...] = (str, int, int, str, str, str, str, (int, float), int)
"""A letter's row: run, storage id, index, Dagster job, job, event type, reason, refused at,
set aside (0 or 1)."""
_LEGACY_FIELDS = {"key", "dagster_run_id", "storage_id", "job", "event_type", "reason"}


class DeadLettersUnreadable(OlDagsterError):
    """What is kept under the store's keys is not this version's dead letters."""


class InstanceDeadLetters:
    """The letters of one sensor (or of `ol-dagster replay`) in the instance's key-value store.

    `add` is for the sensor's ticks (or the one replay), `remove` for the commands: each writes
    its own values, so neither overwrites what the other wrote (see the module's docstring).
    """

    def __init__(self, instance: DagsterInstance, name: str) -> None:
        self._storage = instance.run_storage
        self._prefix = KEY_PREFIX + name
        self._chunks_key, self._removed_key = f"{self._prefix}/chunks", f"{self._prefix}/removed"

    def letters(self) -> list[DeadLetter]:
        """Every letter kept, in the order first kept; a letter refused again as refused last."""
        _, chunks, removed = self._read()
        return list(_visible(chunks, removed).values())

    def add(self, letters: Sequence[DeadLetter]) -> None:
        """A new chunk of the letters, then the count that names it: never a count without
        its chunk."""
        if not letters:
            return
        count = self._chunk_count()
        for start in range(0, len(letters), CHUNK_LETTERS):
            rows = [_row(letter) for letter in letters[start : start + CHUNK_LETTERS]]
            # One value a call: Dagster's SQLite store, given several where one exists already,
            # updates the existing ones and silently drops the new ones.
            self._storage.set_cursor_values({self._chunk_key(count): _pack(rows)})
            count += 1
        self._storage.set_cursor_values({self._chunks_key: str(count)})

    def remove(self, letters: Sequence[DeadLetter]) -> None:
        _, chunks, removed = self._read()
        removed.update((x.key, x.refused_at) for x in letters)
        visible = _visible(chunks, removed)
        # Chunks with no letter left are emptied first; then tombstones of keys in no chunk
        # left say nothing more and are dropped (a crash between the two leaves only spares).
        for number, chunk in chunks.items():
            if chunk and number >= 0 and not any(_shows(x, visible) for x in chunk):
                self._storage.set_cursor_values({self._chunk_key(number): ""})
                chunks[number] = []
        left = {x.key for chunk in chunks.values() for x in chunk}
        kept = {k: t for k, t in removed.items() if k in left}
        self._storage.set_cursor_values({self._removed_key: _pack(kept)})

    def size(self) -> int:
        """Characters of the values the store keeps (what `make bench` prints)."""
        count = self._chunk_count()
        keys = {self._chunk_key(n) for n in range(count)} | {self._removed_key}
        return sum(len(v or "") for v in self._storage.get_cursor_values(keys).values())

    def _chunk_key(self, number: int) -> str:
        return f"{self._prefix}/chunk/{number}"

    def _chunk_count(self) -> int:
        text = self._storage.get_cursor_values({self._chunks_key}).get(self._chunks_key)
        if not text:
            return 0
        if not text.isdigit():
            raise _unreadable(self._chunks_key, "not a number of chunks")
        return int(text)

    def _read(self) -> tuple[int, dict[int, list[DeadLetter]], dict[str, float]]:
        """The number of chunks, each chunk's letters (legacy letters as chunk -1), and the
        tombstones."""
        count = self._chunk_count()
        keys = {self._chunk_key(n) for n in range(count)} | {self._removed_key}
        legacy_index = f"{self._prefix}/added"
        values = self._storage.get_cursor_values(keys | {legacy_index})
        chunks = {-1: self._legacy(values.get(legacy_index))}
        for number in range(count):
            key = self._chunk_key(number)
            rows = _unpack(values.get(key), key) or []
            if not isinstance(rows, list):
                raise _unreadable(key, "a chunk that is not a list of letters")
            chunks[number] = [_letter(row, key) for row in rows]
        removed = _unpack(values.get(self._removed_key), self._removed_key) or {}
        if not isinstance(removed, dict) or not all(_is_time(t) for t in removed.values()):
            raise _unreadable(self._removed_key, "not a map of keys to times")
        return count, chunks, {str(k): float(t) for k, t in removed.items()}

    def _legacy(self, index_text: str | None) -> list[DeadLetter]:
        """Letters an earlier release kept, each a value of its own, as references."""
        if not index_text:
            return []
        index = _json(index_text, f"{self._prefix}/added")
        if not isinstance(index, dict) or not all(_is_time(t) for t in index.values()):
            raise _unreadable(f"{self._prefix}/added", "not a map of keys to times")
        prefix = f"{self._prefix}/letter/"
        texts = self._storage.get_cursor_values({prefix + k for k in index})
        letters = []
        for key in index:
            text = texts.get(prefix + key)
            if text:  # an index entry whose letter was never written: none
                letters.append(_legacy_letter(_json(text, prefix + key), prefix + key))
        return letters


def _visible(
    chunks: Mapping[int, list[DeadLetter]], removed: Mapping[str, float]
) -> dict[str, DeadLetter]:
    """The letters kept: for each key its latest refusal, unless the commands removed it."""
    latest: dict[str, DeadLetter] = {}
    for number in sorted(chunks):
        for letter in chunks[number]:
            latest[letter.key] = letter
    return {k: x for k, x in latest.items() if removed.get(k) != x.refused_at}


def _shows(letter: DeadLetter, visible: Mapping[str, DeadLetter]) -> bool:
    return visible.get(letter.key) is letter


def _row(letter: DeadLetter) -> list[Any]:
    return [
        letter.dagster_run_id,
        letter.storage_id,
        letter.index,
        letter.dagster_job,
        letter.job,
        letter.event_type,
        letter.reason[:REASON_KEPT],
        letter.refused_at,
        int(letter.set_aside),
    ]


def _letter(row: Any, key: str) -> DeadLetter:
    if not (
        isinstance(row, list)
        and len(row) == len(_ROW)
        and all(
            isinstance(v, t) and not isinstance(v, bool) for v, t in zip(row, _ROW, strict=True)
        )
    ):
        raise _unreadable(key, "a letter without the expected fields")
    run, storage_id, index, dagster_job, job, event_type, reason, refused_at, aside = row
    return DeadLetter(
        run, storage_id, index, dagster_job, job, event_type, reason, float(refused_at), bool(aside)
    )


def _legacy_letter(item: Any, key: str) -> DeadLetter:
    if not isinstance(item, dict) or not set(item) >= _LEGACY_FIELDS:
        raise _unreadable(key, "a letter without the expected fields")
    index = str(item["key"]).rsplit(":", 1)[-1]
    if not (isinstance(item["storage_id"], int) and index.isdigit()):
        raise _unreadable(key, "a letter whose key or storage id is not as written")
    return DeadLetter(
        dagster_run_id=str(item["dagster_run_id"]),
        storage_id=item["storage_id"],
        index=int(index),
        dagster_job="",
        job=str(item["job"]),
        event_type=str(item["event_type"]),
        reason=str(item["reason"])[:REASON_KEPT],
        refused_at=float(item.get("refused_at", 0.0)),
    )


def _pack(value: object) -> str:
    text = json.dumps(value, separators=(",", ":")).encode()
    return _COMPRESSED + base64.b64encode(zlib.compress(text, 6)).decode("ascii")


def _unpack(text: str | None, key: str) -> Any:
    if not text:
        return None
    if not text.startswith(_COMPRESSED):
        raise _unreadable(key, "not a value this version writes")
    try:
        return json.loads(zlib.decompress(base64.b64decode(text[len(_COMPRESSED) :])))
    except (ValueError, zlib.error) as error:
        raise _unreadable(key, error) from None


def _json(text: str, key: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise _unreadable(key, error) from None


def _is_time(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unreadable(key: str, why: object) -> DeadLettersUnreadable:
    return DeadLettersUnreadable(
        f"the dead letters kept under the instance key {key!r} cannot be read ({why}); they "
        "are left as they are. A newer ol-dagster may have written them: use that one"
    )

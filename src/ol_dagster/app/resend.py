"""The use case of `ol-dagster dead-letters resend`: the letters' events, translated again from
the event log, sent in the order they were kept.

A letter is a reference to the record its event came from. Each run a letter names is read again
from its first record and translated as the sensor translated it (a fresh run state: run and
step ids derive from the Dagster run, its start, the step and the attempt), and the event that
record made is sent: the same event, under the same run id, as was refused or set aside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ol_dagster.domain.dead_letters import DeadLetter
from ol_dagster.domain.lineage import Emittable
from ol_dagster.domain.ports import Emitter, EventSource
from ol_dagster.domain.run_state import RunState
from ol_dagster.domain.translate import Translator


@dataclass(slots=True)
class Resent:
    accepted: list[DeadLetter] = field(default_factory=list)
    refused: list[DeadLetter] = field(default_factory=list)
    """Refused again, each with the backend's new answer."""
    gone: list[DeadLetter] = field(default_factory=list)
    """Whose record the event log no longer holds (its run deleted), or no longer makes."""
    failure: str | None = None
    """Why sending stopped before the rest (the backend down, ...)."""


def letter_events(
    source: EventSource, translator: Translator, letters: Sequence[DeadLetter]
) -> list[tuple[DeadLetter, Emittable | None]]:
    """Each letter with its event, translated again (None: the log no longer makes it)."""
    runs: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        runs.setdefault(letter.dagster_run_id, []).append(letter)
    found: dict[str, Emittable] = {}
    for run_id, wanted in runs.items():
        keys = {letter.key for letter in wanted}
        records = source.run_records(run_id)
        events, counts, _ = translator.translate_all(RunState(), records)
        at = 0
        for record, count in zip(records, counts, strict=True):
            for nth in range(count):
                key = f"{record.run_id}:{record.storage_id}:{nth}"
                if key in keys:
                    found[key] = events[at + nth]
            at += count
    return [(letter, found.get(letter.key)) for letter in letters]


def resend_letters(
    source: EventSource,
    translator: Translator,
    emitter: Emitter,
    letters: Sequence[DeadLetter],
) -> Resent:
    """Sends the letters' events again in order; stops at a failure that is not a refusal."""
    done = Resent()
    pending: list[tuple[DeadLetter, Emittable]] = []
    for letter, event in letter_events(source, translator, letters):
        if event is None:
            done.gone.append(letter)
        else:
            pending.append((letter, event))
    while pending:
        result = emitter.emit([event for _, event in pending])
        done.accepted.extend(letter for letter, _ in pending[: result.accepted])
        pending = pending[result.accepted :]
        if not pending:
            break
        if result.refused is not None:
            letter, _ = pending.pop(0)
            done.refused.append(replace(letter, reason=result.failure or "", set_aside=False))
            continue
        if result.failure is None and result.accepted:
            continue
        why = result.failure or "the emitter took none of them"
        done.failure = f"{pending[0][0].describe()} was not accepted: {why}"
        break
    return done

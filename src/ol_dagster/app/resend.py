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

from ol_dagster.domain.dead_letters import UNTRANSLATED, DeadLetter, event_names
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
    untranslated: list[DeadLetter] = field(default_factory=list)
    """Of records that still make no event (the defect not fixed yet)."""
    failure: str | None = None
    """Why sending stopped before the rest (the backend down, ...)."""


def letter_events(
    source: EventSource, translator: Translator, letters: Sequence[DeadLetter]
) -> list[tuple[DeadLetter, list[Emittable] | None]]:
    """Each letter with its event, translated again; a letter of a record a defect kept from
    being translated, with every event the record makes now. None: the log no longer holds the
    record (its run deleted), or the record no longer makes an event of the letter's type and
    job (then the letter is kept rather than another event sent in its place)."""
    runs: dict[str, set[int]] = {}
    for letter in letters:
        runs.setdefault(letter.dagster_run_id, set()).add(letter.storage_id)
    made: dict[tuple[str, int], list[Emittable]] = {}
    for run_id, wanted in runs.items():
        records = source.run_records(run_id)
        events, counts, _ = translator.translate_all(RunState(), records)
        at = 0
        for record, count in zip(records, counts, strict=True):
            if record.storage_id in wanted:
                made[(run_id, record.storage_id)] = list(events[at : at + count])
            at += count
    return [
        (letter, _events_of(letter, made.get((letter.dagster_run_id, letter.storage_id))))
        for letter in letters
    ]


def _events_of(letter: DeadLetter, made: list[Emittable] | None) -> list[Emittable] | None:
    """The letter's events among those its record makes now."""
    if made is None or letter.event_type == UNTRANSLATED:
        return made
    # its place among the record's events first, else the one of its type and job
    ordered = made[letter.index : letter.index + 1] + made
    wanted = (letter.event_type, letter.job)
    return next(([event] for event in ordered if event_names(event) == wanted), None)


def resend_letters(
    source: EventSource,
    translator: Translator,
    emitter: Emitter,
    letters: Sequence[DeadLetter],
) -> Resent:
    """Sends the letters' events again in order; stops at a failure that is not a refusal. A
    letter is done once all its events are accepted."""
    done = Resent()
    queue: list[tuple[DeadLetter, list[Emittable]]] = []
    for letter, events in letter_events(source, translator, letters):
        if events is None:
            done.gone.append(letter)
        elif not events:  # a record that still makes no event: kept, to try again once fixed
            done.untranslated.append(letter)
        else:
            queue.append((letter, events))
    while queue:
        result = emitter.emit([event for _, events in queue for event in events])
        accepted = result.accepted
        while queue and accepted >= len(queue[0][1]):
            accepted -= len(queue[0][1])
            done.accepted.append(queue.pop(0)[0])
        if not queue:
            break
        if accepted:  # a letter of several events, partly accepted: the rest goes next
            queue[0] = (queue[0][0], queue[0][1][accepted:])
        if result.refused is not None:
            letter, _ = queue.pop(0)
            done.refused.append(replace(letter, reason=result.failure or "", set_aside=False))
            continue
        if result.failure is None and result.accepted:
            continue
        why = result.failure or "the emitter took none of them"
        done.failure = f"{queue[0][0].describe()} was not accepted: {why}"
        break
    return done

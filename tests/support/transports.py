"""Transports of a user's own, selected by dotted path (OPENLINEAGE__TRANSPORT__TYPE)."""

from __future__ import annotations

from typing import Any

from openlineage.client.transport.transport import Config, Transport


class Quiet(Transport):
    """A user's transport that hands events on and returns."""

    kind = "quiet"
    config_class = Config

    def __init__(self, config: Config) -> None:
        self.sent: list[object] = []

    def emit(self, event: Any) -> None:
        self.sent.append(event)


class Queued(Quiet):
    """One that says when it is done: never, here."""

    def wait_for_completion(self, timeout: float = -1) -> bool:
        return False

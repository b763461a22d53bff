"""Which of openlineage-python's transports tell that an event arrived, and how.

The emitter counts an event sent when the transport's `emit` returns without raising, so the
cursor may pass it. That holds for a transport that sends before it returns and raises when the
backend does not take the event (`http`, ol-dagster's batch transport, `file`, `console`). It does
not for one that returns first and sends in the background (`async_http`, `datadog`'s events for
its asynchronous intake, a user's class with `wait_for_completion`): the emitter waits for those
page by page (`Background`), and counts a page sent only once they report it delivered. Nor for
one that logs a failure and returns (`kafka`: replaced by `KafkaDelivery`; `composite` with
`continue_on_failure`, which is its default; a composite or a transform over either kind): those
are refused, with the setting that fixes them. Nothing here can tell what a user's own class does;
it is named as unconfirmed (doctor, the tick's summary) and trusted to raise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from openlineage.client.transport.async_http import AsyncHttpTransport
from openlineage.client.transport.composite import CompositeTransport
from openlineage.client.transport.console import ConsoleTransport
from openlineage.client.transport.datadog import DatadogTransport
from openlineage.client.transport.file import FileTransport
from openlineage.client.transport.http import HttpTransport
from openlineage.client.transport.kafka import KafkaTransport
from openlineage.client.transport.noop import NoopTransport
from openlineage.client.transport.transform import TransformTransport
from openlineage.client.transport.transport import Transport

from ol_dagster.adapters.http_batch import HttpBatchTransport
from ol_dagster.domain.ports import Confirmation

_RAISING: tuple[tuple[type[Transport], str], ...] = (
    (HttpBatchTransport, "each batch counts as sent once the backend answered 2xx"),
    (HttpTransport, "each event counts as sent once the backend answered 2xx"),
    (FileTransport, "each event counts as sent once written to the file"),
    (ConsoleTransport, "each event counts as sent once logged"),
    (NoopTransport, "nothing is sent"),
)
"""Stock transports that send before `emit` returns and raise when that fails."""

_RAISING_KINDS = frozenset({"gcplineage", "amazon_datazone"})
"""openlineage-python's transports, by kind, that raise the backend's error (their own modules
import optional packages: known by kind, not by class)."""


@dataclass(frozen=True)
class Background:
    """A transport that sends after `emit` returns: waited on page by page."""

    name: str
    wait: Callable[[float], bool]
    """Blocks until everything handed over was processed (True) or the timeout passed (False)."""
    stats: Callable[[], Mapping[str, int]]
    """Its counts, with `failed`: the events it gave up on."""

    def failed(self) -> int:
        return int(self.stats().get("failed", 0))

    def outcome(self, failed_before: int, timeout: float) -> str | None:
        """Why the events handed over since `failed_before` failures are not all delivered;
        None when they are."""
        done = self.wait(max(timeout, 0.001))  # 0 would wait for nothing
        failed = self.failed() - failed_before
        if failed:
            return (
                f"{self.name} did not deliver {failed} events (its log says why); the page is "
                "sent again"
            )
        if not done:
            return f"{self.name} had not delivered every event by the tick's deadline"
        return None


def confirmation(transport: Transport) -> Confirmation:
    """How `transport` confirms delivery, as the emitter sends through it."""
    if _stock(transport, KafkaTransport):
        return Confirmation("each page counts as sent once the brokers acknowledged it")
    if _stock(transport, AsyncHttpTransport) or _stock(transport, DatadogTransport):
        return Confirmation(
            "sends in the background: each page waits until the transport reports it delivered "
            "(wait_for_completion), and is sent again if it reports a failure"
        )
    lost = _lost(transport)
    if lost is not None:
        return Confirmation(lost, confirmed=False, refused=True)
    if _raises(transport):
        return Confirmation(_raising_text(transport))
    if callable(getattr(transport, "wait_for_completion", None)):
        return Confirmation(
            "each page waits on its wait_for_completion(timeout) and counts as sent once it "
            "returns True"
        )
    return Confirmation(
        f"{_class_name(transport)}, a transport of your own, is trusted to raise when an event "
        "is not delivered: ol-dagster counts an event sent when its emit returns (one that "
        "sends in the background should have wait_for_completion(timeout) -> bool)",
        confirmed=False,
    )


def background(transport: Transport) -> Background | None:
    """What to wait on after handing `transport` a page; None for one that sends in `emit`."""
    if _stock(transport, AsyncHttpTransport):
        assert isinstance(transport, AsyncHttpTransport)
        return Background("async_http", transport.wait_for_completion, transport.get_stats)
    if _stock(transport, DatadogTransport):
        assert isinstance(transport, DatadogTransport)
        datadog = transport

        def wait(timeout: float) -> bool:  # its asynchronous intake is made on first use
            return datadog.async_http is None or datadog.async_http.wait_for_completion(timeout)

        def stats() -> Mapping[str, int]:
            return {} if datadog.async_http is None else datadog.async_http.get_stats()

        return Background("datadog", wait, stats)
    if _raises(transport) or _stock(transport, KafkaTransport):
        return None
    wait_for_completion = getattr(transport, "wait_for_completion", None)
    if not callable(wait_for_completion):
        return None
    get_stats = getattr(transport, "get_stats", None)
    return Background(
        _class_name(transport),
        wait_for_completion,
        get_stats if callable(get_stats) else dict,
    )


def _lost(transport: Transport) -> str | None:
    """Why failures through `transport` would be lost without a word, naming the fix; None when
    they are not."""
    if _stock(transport, CompositeTransport):
        assert isinstance(transport, CompositeTransport)
        if transport.config.continue_on_failure:
            return (
                "composite with continue_on_failure (its default) only logs a transport's "
                "failure: set continue_on_failure: false in openlineage.yml "
                "(OPENLINEAGE__TRANSPORT__CONTINUE_ON_FAILURE=false), and ol-dagster sends "
                "again what any of its transports did not take"
            )
        return _lost_beneath("composite", transport.transports)
    if _stock(transport, TransformTransport):
        assert isinstance(transport, TransformTransport)
        return _lost_beneath("transform", [transport.transport])
    return None


def _lost_beneath(outer: str, inner: list[Transport]) -> str | None:
    for child in inner:
        lost = _lost(child)
        if lost is not None:
            return lost
        if not _raises(child):
            return (
                f"{outer} over {_kind(child)}: beneath {outer}, {_kind(child)} cannot confirm "
                f"delivery (it returns before it sends, or logs a failure): configure "
                f"{_kind(child)} as the transport itself, or one that raises (http, file)"
            )
    return None


def _raises(transport: Transport) -> bool:
    """Sends before `emit` returns, and raises when the backend did not take the event."""
    if any(_stock(transport, cls) for cls, _ in _RAISING):
        return True
    module = type(transport).__module__
    if module.startswith("openlineage.client.transport.") and transport.kind in _RAISING_KINDS:
        return True
    if _stock(transport, CompositeTransport) or _stock(transport, TransformTransport):
        return _lost(transport) is None
    return False


def _raising_text(transport: Transport) -> str:
    for cls, text in _RAISING:
        if _stock(transport, cls):
            return text
    return "each event counts as sent once the transport's emit returned without an error"


def _stock(transport: Transport, cls: type[Transport]) -> bool:
    """`transport` is `cls`, or a subclass that keeps its `emit` (one that overrides it is the
    user's own)."""
    return isinstance(transport, cls) and type(transport).emit is cls.emit


def _kind(transport: Transport) -> str:
    return str(getattr(transport, "kind", None) or _class_name(transport))


def _class_name(transport: Transport) -> str:
    return f"{type(transport).__module__}.{type(transport).__qualname__}"

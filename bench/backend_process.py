"""A lineage backend in a process of its own, so that it does not share the GIL with the process
that measures.

The child serves on a free port of 127.0.0.1, prints it, then answers one command per line on
its stdin (`count`: events received; `reset`: forget them; `delay S`: answer each request S
seconds after it arrives, as across a network with that round trip) and exits when stdin
closes, so it never outlives the benchmark.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent


class BackendProcess:
    """Parent side: starts the child, asks it how many events arrived, stops it."""

    def __init__(self) -> None:
        self._child = subprocess.Popen(
            [sys.executable, "-m", "bench.backend_process"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self._answer()

    def _answer(self) -> str:
        assert self._child.stdout is not None
        line = self._child.stdout.readline().strip()
        if not line:
            raise RuntimeError("the backend process ended before answering")
        return line

    def _ask(self, command: str) -> str:
        assert self._child.stdin is not None
        self._child.stdin.write(command + "\n")
        self._child.stdin.flush()
        return self._answer()

    def received(self) -> int:
        return int(self._ask("count"))

    def reset(self) -> None:
        self._ask("reset")

    def answer_after(self, seconds: float) -> None:
        """Answers each request this long after it arrives, as a backend across a network."""
        self._ask(f"delay {seconds}")

    def close(self) -> None:
        if self._child.poll() is None:
            self._child.kill()
        self._child.wait()

    def __enter__(self) -> BackendProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def serve() -> None:
    """An asyncio HTTP/1.1 server that accepts `POST /api/v1/lineage` (one event) and
    `/api/v1/lineage/batch` (a JSON array), parses each body and counts its events; commands
    arrive on stdin in a thread. A benchmark backend: it answers thousands of requests a second
    (the test suite's threaded `LineageBackend` about 750), so that the client is what is
    measured."""
    loop = asyncio.new_event_loop()
    counter = _Counter()
    server = loop.run_until_complete(asyncio.start_server(counter.serve, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}", flush=True)
    threading.Thread(target=loop.run_forever, daemon=True).start()
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "reset":
            counter.events = 0
            answer = "ok"
        elif command == "delay":
            counter.delay = float(argument)
            answer = "ok"
        else:
            answer = str(counter.events)
        print(answer, flush=True)


class _Counter:
    def __init__(self) -> None:
        self.events = 0
        self.delay = 0.0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Reads a connection's requests as they come and answers each, in order, `delay`
        seconds after it arrived: the answers of requests in flight (HTTP/1.1 pipelining) are
        not held back by each other's delay, as over a network with that round trip."""
        loop = asyncio.get_running_loop()
        due: asyncio.Queue[float | None] = asyncio.Queue()
        answering = asyncio.create_task(self._answer(due, writer))
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                fields = dict(
                    line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line
                )
                headers = {k.strip().lower(): v.strip() for k, v in fields.items()}
                body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
                if headers.get(b"content-encoding") == b"gzip":
                    body = gzip.decompress(body)
                payload = json.loads(body)
                self.events += len(payload) if isinstance(payload, list) else 1
                due.put_nowait(loop.time() + self.delay)
                if headers.get(b"connection", b"").lower() == b"close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        due.put_nowait(None)
        await answering
        writer.close()

    @staticmethod
    async def _answer(due: asyncio.Queue[float | None], writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        while (at := await due.get()) is not None:
            if at > loop.time():
                await asyncio.sleep(at - loop.time())
            writer.write(_OK)


_OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


if __name__ == "__main__":
    serve()

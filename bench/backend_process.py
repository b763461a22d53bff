"""The test suite's LineageBackend in a process of its own, so that it does not share the GIL with
the process that measures.

The child serves on a free port of 127.0.0.1, prints it, then answers one command per line on
its stdin (`count`: events received; `reset`: forget them) and exits when stdin closes, so it
never outlives the benchmark.
"""

from __future__ import annotations

import subprocess
import sys
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
    from tests.support.backend import LineageBackend

    backend = LineageBackend()
    backend.start()
    print(backend.url, flush=True)
    for line in sys.stdin:
        with backend.lock:
            if line.strip() == "reset":
                # The events themselves would otherwise pile up over the whole benchmark.
                backend.received.clear()
                backend.headers.clear()
                backend.paths.clear()
                answer = "ok"
            else:
                answer = str(len(backend.received))
        print(answer, flush=True)
    backend.stop()


if __name__ == "__main__":
    serve()

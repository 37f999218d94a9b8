"""One warm measuring child, reused across models until it fails.

Children fork from a fork server that has already imported torch and torchvision
(`hoot.bench.worker` is preloaded), and one child then measures model after model: the
process start, the CUDA context and cuDNN's initialisation are paid once per run instead
of once per model (issue 9: half of a GPU `--quick` run was spent outside timed work).
Isolation stays per model: a child that dies, hangs past the timeout or asks to be
replaced (after a CUDA error, a graph capture or torch.compile) is dropped, the model it
was measuring gets rows for what it did not finish, and the next model gets a new child.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from typing import Any, Callable

from hoot.bench.jobs import BenchJob, JobDone, ProbeReply, ProbeRequest, Stop

_CONTEXT: Any = None


def mp_context() -> Any:
    """A fork server with torch preloaded (spawn where fork servers don't exist)."""
    global _CONTEXT
    if _CONTEXT is None:
        if "forkserver" in multiprocessing.get_all_start_methods():
            _CONTEXT = multiprocessing.get_context("forkserver")
            _CONTEXT.set_forkserver_preload(["hoot.bench.worker"])
        else:  # pragma: no cover - Windows
            _CONTEXT = multiprocessing.get_context("spawn")
    return _CONTEXT


def stop_fork_server() -> bool:
    """Stop the fork server now (True if one was running); the next child starts a new one.

    Left alone it exits with this process and then finalises torch (about a second) while
    still holding our stdout and stderr, so whatever reads `hoot bench`'s output through a
    pipe waits for it (issue 9: the exit was 1.8 s of an 8-model `--quick` run). It holds no
    state: the warm children are stopped before this is called.
    """
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if server is None or pid is None:
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        server._stop()  # closes its alive pipe and reaps it (private API, guarded)
    except (AttributeError, OSError, ChildProcessError):
        return False
    return True


def _entry(conn: Any) -> None:
    from hoot.bench.worker import worker_loop

    worker_loop(conn)


class WarmChild:
    """The measuring child of one run. `run(job, on_message)` -> (exit code or None, timed out, finished)."""

    def __init__(self) -> None:
        self.process: Any = None
        self.conn: Any = None
        self.started = 0  # children started in this run (the cost the reuse saves)
        self.start_s = 0.0  # seconds spent starting them (fork from the server, or spawn)
        self.last_phases: dict[str, Any] = {}  # what the child reported for the last job (bench.phases)

    def _ensure(self) -> None:
        if self.process is not None and self.process.is_alive():
            return
        self._drop()
        t0 = time.perf_counter()
        ctx = mp_context()
        self.conn, theirs = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_entry, args=(theirs,), daemon=True)
        self.process.start()
        theirs.close()
        self.started += 1
        self.start_s += time.perf_counter() - t0

    def probe(self) -> dict[str, Any]:
        """What torch can do in the child (CUDA devices, bf16); {} if it could not answer."""
        found: dict[str, Any] = {}

        def keep(message: Any) -> bool:
            if isinstance(message, ProbeReply):
                found.update(message.info)
                return True
            return False

        self._exchange(ProbeRequest(), keep, timeout_s=300)
        return found

    def run(self, job: BenchJob, on_message: Callable[[Any], None],
            timeout_s: float | None = None) -> tuple[int | None, bool, bool]:
        """Send `job`, relay every message until JobDone; (exit code if the child ended, timed out, finished)."""
        state = {"restart": False}
        self.last_phases = {}

        def relay(message: Any) -> bool:
            if isinstance(message, JobDone):
                state["restart"] = message.restart
                self.last_phases = message.phases
                return True
            on_message(message)
            return False

        exitcode, timed_out, finished = self._exchange(job, relay, timeout_s)
        if finished and state["restart"]:
            self.process.join(10)
            self._drop()
        return exitcode, timed_out, finished

    def _exchange(self, request: Any, handle: Callable[[Any], bool],
                  timeout_s: float | None) -> tuple[int | None, bool, bool]:
        self._ensure()
        deadline = None if not timeout_s else time.monotonic() + timeout_s
        try:
            self.conn.send(request)
            while True:
                if self.conn.poll(0.05):
                    try:
                        message = self.conn.recv()
                    except (EOFError, OSError):
                        return self._died(), False, False
                    if handle(message):
                        return None, False, True
                elif not self.process.is_alive():
                    while self.conn.poll(0):  # what it sent just before dying
                        try:
                            if handle(self.conn.recv()):
                                return None, False, True
                        except (EOFError, OSError):
                            break
                    return self._died(), False, False
                if deadline is not None and time.monotonic() > deadline:
                    self.process.kill()
                    return self._died(), True, False
        except KeyboardInterrupt:
            self.process.terminate()
            self.process.join(5)
            self._drop()
            raise
        except (BrokenPipeError, EOFError, OSError):
            return self._died(), False, False

    def _died(self) -> int | None:
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        code = self.process.exitcode
        self._drop()
        return code

    def _drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.process is not None and self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.process, self.conn = None, None

    def close(self) -> None:
        """Tell a live child to exit; kill it if it does not."""
        if self.process is not None and self.process.is_alive():
            try:
                self.conn.send(Stop())
            except (BrokenPipeError, OSError):
                pass
            self.process.join(5)
        self._drop()

    def __enter__(self) -> "WarmChild":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

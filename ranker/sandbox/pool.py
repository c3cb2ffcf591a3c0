"""The host side of the sandbox: a pool of worker processes and the calls that feed them.

Each worker (`_worker.py`) is a fresh interpreter, never a fork of the caller, so the caller
may hold threads, a GPU or a language-server loop. A worker runs one job at a time in two
confined processes of its own (the candidate's and the judge's); a pool of N workers runs N
jobs at once. A worker that dies or stops answering is replaced and its job reported as an
ERROR marked `sandbox_error`; one that reports its state touched by a job is retired after
answering and replaced before the next job.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import select
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ranker.sandbox.jobs import ExecResult, Isolation, Job, Limits, error_result

log = logging.getLogger(__name__)
K = TypeVar("K")
_WORKER_SCRIPT = Path(__file__).with_name("_worker.py")
_HOST_SLACK_SECONDS = 15.0  # the worker enforces deadlines; this only catches a stuck worker
_START_SECONDS = 60.0


def _force_remove(function: Any, path: str, excinfo: Any) -> None:
    """rmtree's error handler: a candidate may have taken permissions away."""
    with contextlib.suppress(OSError):
        os.chmod(os.path.dirname(path), stat.S_IRWXU)
        if not os.path.islink(path):
            os.chmod(path, stat.S_IRWXU)
    with contextlib.suppress(OSError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


class SandboxError(RuntimeError):
    """The sandbox itself could not start (not a candidate's failure)."""


class _WorkerProcess:
    def __init__(self, limits: Limits, isolation: Isolation, python: str) -> None:
        self.limits = limits
        self.isolation = isolation
        self.python = python
        self.proc: subprocess.Popen[bytes] | None = None
        self.features: dict[str, Any] = {}
        self.root = ""
        self._buffer = b""

    def start(self) -> None:
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        if "LD_LIBRARY_PATH" in os.environ:  # some Python builds need it to start at all
            env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
        self.proc = subprocess.Popen(
            [self.python, "-s", "-B", str(_WORKER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd="/",
            start_new_session=True,  # a Ctrl-C at the terminal reaches the host, not the worker
            close_fds=True,
        )
        self._buffer = b""
        config = {
            "limits": {
                "memory": self.limits.memory,
                "file_size": self.limits.file_size,
                "open_files": self.limits.open_files,
                "processes": self.limits.processes,
            },
            "isolate": vars(self.isolation),
            "tmpdir": os.environ.get("TMPDIR") or None,
        }
        reply = self._exchange(config, _START_SECONDS)
        if reply is None or not reply.get("ready"):
            self.stop()
            raise SandboxError(f"the sandbox worker did not start ({self.python})")
        self.features = dict(reply.get("features", {}))
        self.root = str(reply.get("root", ""))  # the worker's scratch directory

    def _exchange(self, message: dict[str, Any], wait: float) -> dict[str, Any] | None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        return self._read_line(time.monotonic() + wait)

    def _read_line(self, deadline: float) -> dict[str, Any] | None:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        parsed: dict[str, Any] = json.loads(line)
        return parsed

    def run(self, wire: dict[str, Any]) -> ExecResult:
        if self.proc is None or self.proc.poll() is not None:
            self.stop()  # a dead one: reaped, and its directory removed
            self.start()
        cases = max(1, len(wire.get("cases", [])))
        budget = float(wire["timeout"]) * (cases if wire["mode"] == "stdio" else 1)
        reply = self._exchange(wire, budget + _HOST_SLACK_SECONDS)
        if reply is None:
            self.stop()
            return error_result("the sandbox worker died or stopped answering (restarted)")
        if reply.get("retire"):
            log.info("sandbox worker retired after a job touched its state")
            self.stop()  # the next job starts a fresh one
        return ExecResult.from_wire(reply)

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            if proc.stdin:
                proc.stdin.close()  # the worker kills its job and exits on EOF
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            if proc.stdout:
                proc.stdout.close()
            if self.root and os.path.isdir(self.root):
                # a worker that was killed could not remove its directory (and the next
                # job's, made ahead): what its candidates wrote must not outlive it
                shutil.rmtree(self.root, onerror=_force_remove)


class Sandbox:
    """A pool of `workers` sandbox workers. Thread-safe; use as a context manager or call
    `close()`. Workers start on first use."""

    def __init__(
        self,
        workers: int | None = None,
        limits: Limits | None = None,
        isolation: Isolation | None = None,
        python: str | None = None,
        repr_limit: int = 200,
    ) -> None:
        if not sys.platform.startswith("linux"):
            raise SandboxError("the sandbox needs Linux")
        self.limits = limits or Limits()
        self.isolation = isolation or Isolation()
        self.repr_limit = repr_limit
        self.size = max(1, workers or os.cpu_count() or 1)
        self._python = python or sys.executable
        self._idle: queue.Queue[_WorkerProcess] = queue.Queue()
        self._all = [
            _WorkerProcess(self.limits, self.isolation, self._python) for _ in range(self.size)
        ]
        for worker in self._all:
            self._idle.put(worker)
        self._closed = False

    @property
    def features(self) -> dict[str, Any]:
        """What confinement is in force (starts one worker if none has started)."""
        worker = self._idle.get()
        try:
            if worker.proc is None:
                worker.start()
            return dict(worker.features)
        finally:
            self._idle.put(worker)

    def run(self, job: Job) -> ExecResult:
        if self._closed:
            raise SandboxError("the sandbox is closed")
        wire = job.to_wire(self.limits, self.repr_limit)
        worker = self._idle.get()
        try:
            return worker.run(wire)
        finally:
            self._idle.put(worker)

    def imap_unordered(
        self, jobs: Iterable[tuple[K, Job]], stop: threading.Event | None = None
    ) -> Iterator[tuple[K, ExecResult]]:
        """Run keyed jobs on all workers; yield (key, result) as each finishes. Closing the
        iterator early stops handing out jobs (running ones finish within their limits)."""
        source = iter(jobs)
        lock = threading.Lock()
        results: queue.Queue[tuple[K, ExecResult] | BaseException | None] = queue.Queue()
        stop = stop or threading.Event()

        def feed() -> None:
            try:
                while not stop.is_set():
                    with lock:
                        item = next(source, None)
                    if item is None:
                        break
                    key, job = item
                    results.put((key, self.run(job)))
            except BaseException as exc:  # reported to the consumer, not lost in a thread
                results.put(exc)
            finally:
                results.put(None)

        threads = [threading.Thread(target=feed, daemon=True) for _ in range(self.size)]
        for thread in threads:
            thread.start()
        running = len(threads)
        try:
            while running:
                try:
                    item = results.get(timeout=0.2)
                except queue.Empty:
                    continue
                if item is None:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            stop.set()

    @property
    def scratch_directories(self) -> list[str]:
        """The workers' scratch directories (each job gets a fresh one beneath; all are
        removed when the workers stop)."""
        return [w.root for w in self._all if w.root]

    def close(self) -> None:
        self._closed = True
        for worker in self._all:
            worker.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def execute_many(
    jobs: Iterable[tuple[K, Job]],
    workers: int | None = None,
    limits: Limits | None = None,
    on_result: Callable[[K, ExecResult], None] | None = None,
) -> dict[K, ExecResult]:
    """Run keyed jobs on a fresh pool; `on_result` is called (on this thread) as each one
    finishes. Returns every result by key."""
    out: dict[K, ExecResult] = {}
    with Sandbox(workers=workers, limits=limits) as sandbox:
        for key, result in sandbox.imap_unordered(jobs):
            out[key] = result
            if on_result is not None:
                on_result(key, result)
    return out

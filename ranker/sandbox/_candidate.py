"""The candidate's side of a job: load the program, then answer the judge's requests. Standard
library only (it runs in the sandbox worker's children).

This process holds the candidate's program and nothing else of the job: not the tests, not
the expected values, not the verdict channel. The judge (`_harness.py`, another process)
runs the tests and asks this one, over a socket, to call a function, read an attribute,
iterate, and so on; each answer is a plain value (`_plain.py`) or a handle to an object that
stays here. The candidate may subvert this process as it likes (patch the encoder, forge
messages): all it can send is an answer, and it never sees what the answer is compared with.

A stdin/stdout job's candidate process runs the program once per input the judge sends, each
run in a fresh child process, and answers with the digest of the normalised output; the
expected digest stays with the judge.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import operator
import os
import signal
import sys
import time
import types
from collections.abc import Callable
from typing import Any

if __package__:
    from ranker.sandbox import _plain
    from ranker.sandbox._harness import CaseTimeout, _alarm, _set_alarm, describe, output_digest
else:  # inside the sandbox worker, started as a script
    import _plain  # type: ignore[no-redef]
    from _harness import (  # type: ignore[no-redef]
        CaseTimeout,
        _alarm,
        _set_alarm,
        describe,
        output_digest,
    )

MAX_HANDLES = 200_000
_MUTABLE = (list, dict, set, bytearray)
_CONVERSIONS: dict[str, Callable[[Any], Any]] = {
    "len": len,
    "bool": bool,
    "int": int,
    "float": float,
    "index": operator.index,
    "complex": complex,
    "str": str,
    "repr": repr,
}


class Registry:
    """Objects the judge holds handles to, kept alive for the job (so ids stay unique)."""

    def __init__(self) -> None:
        self.objects: dict[int, Any] = {}
        self._handles: dict[int, int] = {}

    def handle(self, obj: Any) -> int:
        number = self._handles.get(id(obj))
        if number is None:
            if len(self.objects) >= MAX_HANDLES:
                raise _plain.PlainError("too many objects handed to the tests")
            number = len(self.objects) + 1
            self.objects[number] = obj
            self._handles[id(obj)] = number
        return number

    def get(self, number: int) -> Any:
        if number not in self.objects:
            raise _plain.PlainError(f"no object {number}")
        return self.objects[number]


def _exception(exc: BaseException, registry: Registry) -> dict[str, Any]:
    """What the judge learns about an exception: its class name, whether that is a built-in
    exception, and its arguments as plain values where they are (else its text)."""
    cls = type(exc)
    name = getattr(cls, "__name__", "Exception")
    try:
        text = str(exc)[:300]
    except BaseException:
        text = ""
    info: dict[str, Any] = {
        "name": name if type(name) is str else "Exception",
        "builtin": getattr(builtins, str(name), None) is cls,
        "text": text,
    }
    with contextlib.suppress(BaseException):
        args: Any = BaseException.args
        info["args"] = _plain.encode(args.__get__(exc), limit=10_000)
    return info


class FunctionServer:
    """Answers one judge's requests about one loaded program."""

    def __init__(self, channel: _plain.Channel, namespace: dict[str, Any]) -> None:
        self.channel = channel
        self.namespace = namespace
        self.registry = Registry()

    def hello(self) -> dict[str, Any]:
        """The program's top-level names: modules by name (with a handle, for a module the
        judge does not import itself), other objects by handle, and plain data as a bare
        mark (the judge asks for its current value at each use)."""
        names: list[list[Any]] = []
        for name, value in list(self.namespace.items()):
            if type(name) is not str or name.startswith("__"):
                continue
            if type(value) is types.ModuleType and type(value.__name__) is str:
                names.append([name, [{"M": [value.__name__, self.registry.handle(value)]}]])
                continue
            try:
                crosses = _plain.crosses(value)
            except Exception:  # a class the candidate made hard to inspect: keep it here
                crosses = False
            names.append([name, [None] if crosses else [{"H": self.registry.handle(value)}]])
        return {"loaded": names}

    def serve(self) -> None:
        while True:
            try:
                message = self.channel.receive()
            except _plain.ChannelError:
                return
            if message is None:
                return
            reply = self.answer(message)
            try:
                try:
                    self.channel.send(reply)
                except _plain.PlainError as exc:
                    self.channel.send({"seq": reply.get("seq"), "error": describe(exc)})
            except OSError:  # the judge has gone: nothing more to answer
                return

    def _decode(self, tokens: Any) -> Any:
        return _plain.decode(tokens, self.registry.get)

    def answer(self, message: dict[str, Any]) -> dict[str, Any]:
        seq = message.get("seq")
        op = message.get("op")
        try:
            work, call = self._work(op, message)
        except _plain.PlainError as exc:
            return {"seq": seq, "error": f"a request the candidate cannot read: {exc}"}
        deadline = message.get("deadline")
        remaining = float(deadline) - time.monotonic() if type(deadline) is float else 0.0
        capture = message.get("out")
        buffer = io.StringIO() if type(capture) is int else None
        reply: dict[str, Any] = {"seq": seq}
        real_stdout = sys.stdout
        try:
            try:
                if remaining <= 0:
                    raise CaseTimeout()
                if buffer is not None:
                    sys.stdout = buffer
                _set_alarm(remaining)
                result = work()
                if op == "repr" and type(result) is str:
                    result = result[: max(int(message.get("limit", 200)), 16)]
                reply["value"] = _plain.encode(result, self.registry.handle)
                if call is not None:
                    back = self._changed_arguments(message, call)
                    if back:
                        reply["back"] = back
            finally:
                _set_alarm(0)
                sys.stdout = real_stdout
        except CaseTimeout:
            reply = {"seq": seq, "timeout": True}
        except _plain.PlainError as exc:
            reply = {"seq": seq, "error": f"the answer is not plain data: {exc}"}
        except BaseException as exc:  # what the candidate's code raised, for the tests
            reply = {"seq": seq, "raised": _exception(exc, self.registry)}
        if buffer is not None and type(capture) is int:
            reply["stdout"] = buffer.getvalue()[:capture]
        return reply

    def _work(
        self, op: Any, message: dict[str, Any]
    ) -> tuple[Callable[[], Any], tuple[tuple[Any, ...], dict[str, Any]] | None]:
        """The request as a call to make (under the alarm) and, for a call, its arguments."""
        target = self.registry.get(message["h"]) if type(message.get("h")) is int else None
        name = message.get("name")
        if op == "call" and target is not None:
            args = self._decode(message.get("args"))
            kwargs = self._decode(message["kw"]) if message.get("kw") else {}
            if type(args) is not tuple or type(kwargs) is not dict:
                raise _plain.PlainError("malformed call")
            if not all(type(k) is str for k in kwargs):
                raise _plain.PlainError("keyword names must be strings")
            return (lambda: target(*args, **kwargs)), (args, kwargs)
        if op in ("getattr", "delattr") and target is not None and type(name) is str:
            if op == "getattr":
                return (lambda: getattr(target, name)), None
            return (lambda: delattr(target, name)), None
        if op == "setattr" and target is not None and type(name) is str:
            value = self._decode(message.get("value"))
            return (lambda: setattr(target, name, value)), None
        if op in ("getitem", "delitem", "setitem") and target is not None:
            key = self._decode(message.get("key"))
            if op == "getitem":
                return (lambda: target[key]), None
            if op == "delitem":
                return (lambda: operator.delitem(target, key)), None
            value = self._decode(message.get("value"))
            return (lambda: operator.setitem(target, key, value)), None
        if op == "global" and type(name) is str:
            return (lambda: self.namespace[name]), None
        if op == "iter" and target is not None:
            return (lambda: iter(target)), None
        if op == "next" and target is not None:
            return (lambda: next(target)), None
        if op in _CONVERSIONS and target is not None:
            convert = _CONVERSIONS[op]
            return (lambda: convert(target)), None
        if op in ("isinstance", "issubclass") and target is not None:
            subject = self._decode(message.get("value"))
            check = isinstance if op == "isinstance" else issubclass
            return (lambda: check(subject, target)), None
        raise _plain.PlainError(f"unknown request {op!r}")

    def _changed_arguments(
        self, message: dict[str, Any], call: tuple[tuple[Any, ...], dict[str, Any]]
    ) -> list[list[Any]] | None:
        """Mutable arguments' new contents, when the call changed any argument (the tests'
        own objects are then updated in place, as if the call had been local)."""
        args, kwargs = call
        if not any(type(a) in _MUTABLE for a in (*args, *kwargs.values())):
            return None
        handle = self.registry.handle
        after_kw = _plain.encode(kwargs, handle) if message.get("kw") else None
        if _plain.encode(args, handle) == message.get("args") and after_kw == (
            message.get("kw") or None
        ):
            return None
        back: list[list[Any]] = [
            [i, _plain.encode(a, handle)] for i, a in enumerate(args) if type(a) in _MUTABLE
        ]
        back += [[k, _plain.encode(v, handle)] for k, v in kwargs.items() if type(v) in _MUTABLE]
        return back


def serve_function(program: str, channel: _plain.Channel, timeout: float) -> None:
    """Load the program (within `timeout`), say what it defines, then answer requests until
    the judge closes the channel."""
    signal.signal(signal.SIGALRM, _alarm)
    namespace: dict[str, Any] = {"__name__": "__candidate__", "__builtins__": builtins}
    real_stdout = sys.stdout
    try:
        code = compile(program, "<candidate>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        channel.send({"load_error": f"does not compile: {describe(exc)}"})
        return
    try:
        _set_alarm(timeout)
        exec(code, namespace)
        _set_alarm(0)
    except CaseTimeout:
        channel.send({"load_error": "timed out while loading", "timeout": True})
        return
    except BaseException as exc:
        _set_alarm(0)
        channel.send({"load_error": f"raised while loading: {describe(exc)}"})
        return
    finally:
        _set_alarm(0)
        sys.stdout = real_stdout
    server = FunctionServer(channel, namespace)
    channel.send(server.hello())
    server.serve()


def serve_stdio(
    program: str,
    channel: _plain.Channel,
    *,
    max_output: int,
    repr_limit: int,
    confine_run: Callable[[], None],
) -> None:
    """Compile the program, then run it once per input the judge sends, each run in a fresh
    child process (`confine_run` applies the per-run confinement there)."""
    try:
        code = compile(program, "main.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        channel.send({"load_error": f"does not compile: {describe(exc)}"})
        return
    channel.send({"loaded": []})
    runs = 0
    while True:
        try:
            message = channel.receive()
        except _plain.ChannelError:
            return
        if message is None:
            return
        text, compare = message.get("input"), message.get("compare")
        timeout = message.get("timeout")
        if type(text) is not str or type(compare) is not str or type(timeout) is not float:
            channel.send({"seq": message.get("seq"), "error": "malformed request"})
            continue
        reply = _run_once(code, runs, text, compare, timeout, max_output, confine_run)
        reply["seq"] = message.get("seq")
        reply["stdout"] = reply.get("stdout", "")[:repr_limit]
        runs += 1
        channel.send(reply)


def _run_once(
    code: types.CodeType,
    index: int,
    text: str,
    compare: str,
    timeout: float,
    max_output: int,
    confine_run: Callable[[], None],
) -> dict[str, Any]:
    in_path, out_path = f"in{index}.txt", f"out{index}.txt"
    with open(in_path, "w", encoding="utf-8", errors="surrogateescape") as handle:
        handle.write(text)
    pid = os.fork()
    if pid == 0:
        status = 70
        try:
            fd_in = os.open(in_path, os.O_RDONLY)
            fd_out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd_in, 0)
            os.dup2(fd_out, 1)
            os.close(fd_in)
            os.close(fd_out)
            confine_run()
            status = _run_program_here(code)
        finally:
            os._exit(status if 0 <= status < 256 else 1)
    wait_status, timed_out = _wait_child(pid, timeout)
    stdout = _read_head(out_path, max_output)
    if timed_out:
        return {"outcome": "timeout", "message": "timed out", "stdout": stdout}
    if wait_status is not None and os.WIFSIGNALED(wait_status):
        name = signal.Signals(os.WTERMSIG(wait_status)).name
        return {"outcome": "failed", "message": f"killed by {name}", "stdout": stdout}
    if wait_status is not None and os.waitstatus_to_exitcode(wait_status) != 0:
        code_ = os.waitstatus_to_exitcode(wait_status)
        message = f"exit status {code_}: {_stderr_tail('stderr')}".rstrip(": ")
        return {"outcome": "failed", "message": message, "stdout": stdout}
    return {"outcome": "ran", "digest": output_digest(stdout, compare), "stdout": stdout}


def _wait_child(pid: int, timeout: float) -> tuple[int | None, bool]:
    """Wait for child `pid` up to `timeout` s; kill it past that. Returns (wait status, timed out)."""
    import select

    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    timed_out = False
    if pidfd is not None:
        try:
            ready, _, _ = select.select([pidfd], [], [], max(timeout, 0))
            if not ready:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
        finally:
            os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        return status, timed_out
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status, False
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            return status, True
        time.sleep(0.002)


def _run_program_here(code: types.CodeType) -> int:
    """Body of one stdio run (in its own process): run the program as __main__."""
    sys.stdin = open(0, encoding="utf-8", errors="surrogateescape", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding="utf-8", errors="surrogateescape", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.argv = ["main.py"]
    status = 0
    try:
        exec(code, {"__name__": "__main__", "__builtins__": builtins})
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException as exc:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        status = 1
    try:
        sys.stdout.flush()
    except BaseException as exc:
        print(describe(exc), file=sys.stderr)
        status = status or 1
    with contextlib.suppress(BaseException):
        sys.stderr.flush()
    return status


def _read_head(path: str, limit: int) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "surrogateescape")
    except OSError:
        return ""


def _stderr_tail(path: str, limit: int = 300) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 4000))
            lines = handle.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:limit] if lines else ""

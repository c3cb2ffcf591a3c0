"""What runs inside the sandboxed process: load the candidate program, run each test case, and
report per-case outcomes. Standard library only (it runs in the bare sandbox worker).

Function mode runs program, setup and cases in one namespace, in this process. Test code is
compiled before the candidate runs and rewritten so that every value it reads from a call, an
attribute, a subscript or a name passes through a guard (`ValueGuard`), held in a closure the
candidate cannot rebind. The guard rejects objects whose comparison, truth or arithmetic
methods were written by the candidate (the "AlwaysEqual" trick) and, after every call, puts
back the builtins the tests use. Stdio mode runs the program once per case in a fresh child
process with the case's input on stdin and compares normalised stdout by hash, so the expected
output never enters the sandbox; a run that exits normally reports that hash of its own
output as the case's value.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import hashlib
import io
import os
import signal
import sys
import time
import types
from collections.abc import Callable
from typing import Any

GUARD = "__toppass_guard__"
_CASE_FUNCTION = "__toppass_case__"
_HEAPTYPE = 1 << 9
_ATOMS = frozenset({int, float, complex, str, bytes, bool, type(None), range, bytearray})
_CONTAINERS = (list, tuple, set, frozenset, dict)
_BUILTIN_CALLABLES = (
    types.BuiltinFunctionType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.MethodWrapperType,
    types.ClassMethodDescriptorType,
)
# dunders whose definition cannot change how a value compares, tests true or computes
_HARMLESS_DUNDERS = frozenset(
    {
        "__init__",
        "__new__",
        "__del__",
        "__init_subclass__",
        "__set_name__",
        "__class_getitem__",
        "__module__",
        "__qualname__",
        "__doc__",
        "__dict__",
        "__weakref__",
        "__slots__",
        "__annotations__",
        "__match_args__",
        "__dataclass_fields__",
        "__dataclass_params__",
        "__orig_bases__",
        "__parameters__",
        "__static_attributes__",
        "__firstlineno__",
        "__abstractmethods__",
        "__enter__",
        "__exit__",
    }
)
MAX_GUARD_NODES = 100_000


class UntrustedValue(BaseException):
    """A test read a value whose behaviour the candidate defined; the case fails."""


class CaseTimeout(BaseException):
    """The case ran past its time (raised by SIGALRM)."""


def normalise_output(text: str, mode: str) -> str:
    """stdout as compared: `tokens` (whitespace-separated tokens), `lines` (trailing
    whitespace of each line and trailing blank lines dropped) or `exact`."""
    if mode == "tokens":
        return " ".join(text.split())
    if mode == "lines":
        return "\n".join(line.rstrip() for line in text.rstrip().splitlines())
    return text


def output_digest(text: str, mode: str) -> str:
    return hashlib.sha256(
        normalise_output(text, mode).encode("utf-8", "surrogateescape")
    ).hexdigest()


def short_repr(value: Any, limit: int) -> str:
    try:
        text = repr(value)
    except BaseException as exc:  # a candidate's __repr__ may raise anything
        text = f"<unrepresentable: {type(exc).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(exc: BaseException, limit: int = 300) -> str:
    try:
        detail = str(exc)
    except BaseException:
        detail = ""
    name = type(exc).__name__
    text = f"{name}: {detail}" if detail else name
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- guarded test code


class _GuardCalls(ast.NodeTransformer):
    """Wrap every value-producing load (call, attribute, subscript, name) in `GUARD(...)`,
    except where it is only the callee or the object of a longer chain (the chain's end is
    guarded instead). Calls pass a second argument: candidate code may have run."""

    def _wrap(self, node: ast.expr, after_call: bool = False) -> ast.expr:
        args: list[ast.expr] = [node]
        if after_call:
            args.append(ast.Constant(True))
        return ast.copy_location(
            ast.Call(func=ast.Name(GUARD, ast.Load()), args=args, keywords=[]), node
        )

    def _chain(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.Name):
            return node
        if isinstance(node, ast.Attribute):
            node.value = self._chain(node.value)
            return node
        if isinstance(node, ast.Subscript):
            node.value = self._chain(node.value)
            node.slice = self.visit(node.slice)
            return node
        if isinstance(node, ast.Call):
            node.func = self._chain(node.func)
            node.args = [self.visit(arg) for arg in node.args]
            node.keywords = [self.visit(kw) for kw in node.keywords]
            return node
        result: ast.expr = self.visit(node)
        return result

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if isinstance(node.ctx, ast.Load) and node.id != GUARD:
            return self._wrap(node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
        node.value = self._chain(node.value)
        return self._wrap(node) if isinstance(node.ctx, ast.Load) else node

    def visit_Subscript(self, node: ast.Subscript) -> ast.expr:
        node.value = self._chain(node.value)
        node.slice = self.visit(node.slice)
        return self._wrap(node) if isinstance(node.ctx, ast.Load) else node

    def visit_Call(self, node: ast.Call) -> ast.expr:
        return self._wrap(self._chain(node), after_call=True)


def _bound_names(body: list[ast.stmt]) -> set[str]:
    """Names a module body binds at top level (they must stay globals once it is wrapped in
    a function)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            for expr in (
                *node.decorator_list,
                *getattr(node, "bases", []),
                *getattr(node, "keywords", []),
            ):
                visit(expr)
            return
        if isinstance(
            node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
        ):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif (isinstance(node, ast.ExceptHandler) and node.name) or (
            isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name
        ):
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
        for child in ast.iter_child_nodes(node):
            visit(child)

    for stmt in body:
        visit(stmt)
    return names


def compile_case(source: str, filename: str = "<tests>") -> tuple[types.CodeType, bool, bool]:
    """Compile test code into the code of `def __toppass_case__(GUARD): <code>` with its
    top-level names declared global and its reads guarded. Returns (code, guarded,
    returns_value): a lone expression becomes the function's return value. Code that cannot
    live in a function (e.g. `from m import *`) is compiled as is, unguarded."""
    tree = ast.parse(source, filename)
    expression = len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr)
    try:
        template = ast.parse(f"def {_CASE_FUNCTION}({GUARD}):\n    pass\n")
        function = template.body[0]
        assert isinstance(function, ast.FunctionDef)
        body = _GuardCalls().visit(ast.parse(source, filename)).body
        if expression:
            body = [ast.copy_location(ast.Return(body[0].value), body[0])]
        names = sorted(_bound_names(body) - {GUARD})
        function.body = ([ast.Global(names)] if names else []) + body + [ast.Pass()]
        if expression:
            function.body.pop()
        ast.fix_missing_locations(template)
        module = compile(template, filename, "exec", dont_inherit=True)
    except SyntaxError:
        if expression:
            return compile(source, filename, "eval", dont_inherit=True), False, True
        return compile(source, filename, "exec", dont_inherit=True), False, False
    code = next(c for c in module.co_consts if isinstance(c, types.CodeType))
    return code, True, expression


def _is_library_callable(obj: Any, library_roots: tuple[str, ...]) -> bool:
    if obj is None or isinstance(obj, _BUILTIN_CALLABLES):
        return True
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        return all(_is_library_callable(f, library_roots) for f in (obj.fget, obj.fset, obj.fdel))
    if isinstance(obj, types.FunctionType):
        return obj.__code__.co_filename.startswith(library_roots)  # "<frozen abc>" and the like
    return False


class ValueGuard:
    """The guard test code calls on each value it reads. Holds the builtins snapshot to put
    back after calls and remembers every rejection (test code may swallow the exception)."""

    def __init__(self, builtins_dict: dict[str, Any], library_roots: tuple[str, ...]) -> None:
        self.builtins = builtins_dict
        self.snapshot = dict(builtins_dict)
        self.library_roots = library_roots
        self.rejected: list[str] = []
        self._types: dict[type, str | None] = {}

    def restore(self) -> None:
        if len(self.builtins) != len(self.snapshot):
            for key in [k for k in self.builtins if k not in self.snapshot]:
                del self.builtins[key]
        self.builtins.update(self.snapshot)

    def _untrusted_reason(self, cls: type) -> str | None:
        if cls in self._types:
            return self._types[cls]
        reason = None
        for klass in cls.__mro__:
            if not klass.__flags__ & _HEAPTYPE:
                continue
            for name, attr in list(vars(klass).items()):
                if (
                    name.startswith("__")
                    and name.endswith("__")
                    and name not in _HARMLESS_DUNDERS
                    and not _is_library_callable(attr, self.library_roots)
                ):
                    reason = f"{cls.__name__}.{name} is defined by the candidate"
                    break
            if reason:
                break
        self._types[cls] = reason
        return reason

    def check(self, value: Any) -> None:
        stack = [value]
        seen = 0
        while stack and seen < MAX_GUARD_NODES:
            item = stack.pop()
            seen += 1
            cls = type(item)
            if cls in _ATOMS:
                continue
            if cls.__flags__ & _HEAPTYPE or type(cls) is not type:
                reason = self._untrusted_reason(cls)
                if reason is None and type(cls) is not type:
                    reason = self._untrusted_reason(type(cls))
                if reason:
                    self.rejected.append(reason)
                    raise UntrustedValue(reason)
            if isinstance(item, dict):
                stack.extend(dict.keys(item))
                stack.extend(dict.values(item))
            elif isinstance(item, (list, tuple)):
                stack.extend(
                    list.__iter__(item) if isinstance(item, list) else tuple.__iter__(item)
                )
            elif isinstance(item, (set, frozenset)):
                stack.extend(
                    set.__iter__(item) if isinstance(item, set) else frozenset.__iter__(item)
                )

    def __call__(self, value: Any, after_call: bool = False) -> Any:
        if after_call:
            self.restore()
        if type(value) not in _ATOMS:
            self.check(value)
        return value


# ---------------------------------------------------------------- function mode


def _set_alarm(seconds: float | None) -> None:
    signal.setitimer(signal.ITIMER_REAL, seconds or 0)


def _alarm(signum: int, frame: Any) -> None:
    raise CaseTimeout()


def run_function_cases(
    program: str,
    setup: str,
    cases: list[tuple[types.CodeType, bool, bool]],
    send: Callable[[dict[str, Any]], None],
    *,
    timeout: float,
    case_timeout: float | None,
    stop_on_failure: bool,
    capture_stdout: bool,
    repr_limit: int,
    library_roots: tuple[str, ...],
) -> None:
    """Load the program, run setup, run each compiled case; `send` one event per case, then
    `done` (or one `error` event when the program does not load)."""
    clock = time.monotonic
    started = clock()
    deadline = started + timeout
    signal.signal(signal.SIGALRM, _alarm)
    for name in ("settrace", "setprofile"):  # a trace function could jump over asserts
        if hasattr(sys, name):
            delattr(sys, name)
    namespace_builtins = dict(builtins.__dict__)
    namespace: dict[str, Any] = {"__name__": "__candidate__", "__builtins__": namespace_builtins}
    guard = ValueGuard(namespace_builtins, library_roots)
    real_stdout = sys.stdout
    try:
        code = compile(program, "<candidate>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        send({"event": "error", "message": f"does not compile: {describe(exc)}"})
        return
    try:
        _set_alarm(timeout)
        exec(code, namespace)
        _set_alarm(0)
    except CaseTimeout:
        send({"event": "error", "message": "timed out while loading", "timeout": True})
        return
    except BaseException as exc:
        _set_alarm(0)
        send({"event": "error", "message": f"raised while loading: {describe(exc)}"})
        return
    finally:
        sys.stdout = real_stdout
    if setup:
        try:
            _set_alarm(max(deadline - clock(), 0.001))
            exec(compile(setup, "<setup>", "exec", dont_inherit=True), namespace)
            _set_alarm(0)
        except BaseException as exc:
            _set_alarm(0)
            outcome = "timeout" if isinstance(exc, CaseTimeout) else "failed"
            for index in range(len(cases)):
                send(
                    {
                        "event": "case",
                        "index": index,
                        "outcome": outcome,
                        "message": f"setup: {describe(exc)}",
                    }
                )
                if stop_on_failure:
                    break
            send({"event": "done"})
            return
    for index, (case_code, guarded, returns_value) in enumerate(cases):
        remaining = deadline - clock()
        limit = min(remaining, case_timeout) if case_timeout else remaining
        event: dict[str, Any] = {"event": "case", "index": index}
        buffer = io.StringIO() if capture_stdout else None
        case_started = clock()
        guard.rejected.clear()
        guard.restore()
        namespace["__builtins__"] = namespace_builtins
        value: Any = None
        try:
            if limit <= 0:
                raise CaseTimeout()
            if buffer is not None:
                sys.stdout = buffer
            _set_alarm(limit)
            if guarded:
                value = types.FunctionType(case_code, namespace)(guard)
            else:
                value = eval(case_code, namespace)
            _set_alarm(0)
            outcome, message = "passed", ""
        except CaseTimeout:
            outcome, message = "timeout", "timed out"
        except BaseException as exc:
            _set_alarm(0)
            outcome, message = "failed", describe(exc)
        finally:
            _set_alarm(0)
            sys.stdout = real_stdout
        if guard.rejected and outcome == "passed":
            outcome, message = "failed", f"UntrustedValue: {guard.rejected[0]}"
        event.update(outcome=outcome, message=message, seconds=round(clock() - case_started, 4))
        if returns_value and outcome == "passed":
            event["value"] = short_repr(value, repr_limit)
        if buffer is not None:
            event["stdout"] = buffer.getvalue()[:repr_limit]
        send(event)
        if outcome != "passed" and stop_on_failure:
            break
    send({"event": "done"})


# ---------------------------------------------------------------- stdio mode


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


def run_stdio_cases(
    program: str,
    cases: list[dict[str, Any]],
    send: Callable[[dict[str, Any]], None],
    *,
    timeout: float,
    stop_on_failure: bool,
    compare: str,
    repr_limit: int,
    max_output: int,
    confine_run: Callable[[], None],
) -> None:
    """Run the program once per case, each in a fresh child process (`confine_run` applies the
    per-run confinement there), and judge normalised stdout against the case's digest."""
    try:
        code = compile(program, "main.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        send({"event": "error", "message": f"does not compile: {describe(exc)}"})
        return
    for index, case in enumerate(cases):
        in_path, out_path = f"in{index}.txt", f"out{index}.txt"
        with open(in_path, "w", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write(case["input"])
        started = time.monotonic()
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
        event: dict[str, Any] = {"event": "case", "index": index}
        stdout = _read_head(out_path, max_output)
        if timed_out:
            outcome, message = "timeout", "timed out"
        elif wait_status is not None and os.WIFSIGNALED(wait_status):
            outcome, message = (
                "failed",
                f"killed by {signal.Signals(os.WTERMSIG(wait_status)).name}",
            )
        elif wait_status is not None and os.waitstatus_to_exitcode(wait_status) != 0:
            code_ = os.waitstatus_to_exitcode(wait_status)
            outcome, message = (
                "failed",
                f"exit status {code_}: {_stderr_tail('stderr')}".rstrip(": "),
            )
        else:
            digest = output_digest(stdout, compare)
            outcome, message = (
                ("passed", "") if digest == case["digest"] else ("failed", "wrong answer")
            )
            event["value"] = digest  # what it printed, comparable across programs
        event.update(
            outcome=outcome,
            message=message,
            seconds=round(time.monotonic() - started, 4),
            stdout=stdout[:repr_limit],
        )
        send(event)
        if outcome != "passed" and stop_on_failure:
            break
    send({"event": "done"})

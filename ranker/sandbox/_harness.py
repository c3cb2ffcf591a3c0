"""The judge: runs a job's tests and reports per-case outcomes. Standard library only (it runs
in the sandbox worker's children).

The judge is a process of its own, never the candidate's. It holds the test code, the setup
and, for stdin/stdout jobs, the digests of the expected outputs; the candidate's process
(`_candidate.py`) holds the program. Test code runs here against stand-ins for the program's
names: a call, an attribute read, an iteration... of a candidate object is a request over a
socket, and what comes back is plain data built by this process (`_plain.decode`) or a
handle (`CandidateObject`) to an object that stays with the candidate. So every `==`, `<`,
`math.isclose`, `sorted` and `assert` of the tests runs on built-in values with this
process's own code; the candidate's `__eq__` never runs on the judge's side, and nothing it
does to its own interpreter (patched builtins, libraries or classes, frame walking) reaches
here. A handle compares equal only to itself and supports no arithmetic, so an object the
candidate made up passes no equality test.

Stdio mode sends each input to the candidate's process, which runs the program on it in a
fresh child, and compares the digest of the normalised output with the expected digest here;
a run that exits normally reports the digest of its own output as the case's value.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import hashlib
import importlib
import io
import signal
import sys
import time
import types
from collections.abc import Callable
from typing import Any

if __package__:
    from ranker.sandbox import _plain
else:  # inside the sandbox worker, started as a script
    import _plain  # type: ignore[no-redef]

# modules a program's names may stand for on the judge's side when they are not loaded
# here already: the standard library, less what only opens windows or browsers
_NO_IMPORT = frozenset(
    {"__main__", "antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo"}
    | {"webbrowser", "pydoc", "ensurepip", "venv", "ctypes", "gc", "signal", "faulthandler"}
)


class CaseTimeout(BaseException):
    """The case ran past its time (raised by SIGALRM)."""


class CandidateGone(BaseException):
    """The candidate's process ended, or broke the protocol; no more answers will come."""

    def __init__(self, message: str, broke: bool = False) -> None:
        super().__init__(message)
        self.broke = broke  # the judge saw it break the protocol: that, not its exit, is why


class CandidateError(Exception):
    """An exception the candidate's code raised that is not a built-in exception class here
    (its own classes, a library's): the name and text it had there."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name = name


class UnreadableAnswer(Exception):
    """What the candidate's code produced cannot be read as plain data (too large, or a
    malformed message)."""


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
    except BaseException as exc:  # a candidate object's repr may fail or time out
        text = f"<unrepresentable: {type(exc).__name__}>"
    return _clip(text, limit)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(exc: BaseException, limit: int = 300) -> str:
    try:
        detail = str(exc)
    except BaseException:
        detail = ""
    name = exc.name if isinstance(exc, CandidateError) else type(exc).__name__
    text = f"{name}: {detail}" if detail else name
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _set_alarm(seconds: float | None) -> None:
    signal.setitimer(signal.ITIMER_REAL, seconds or 0)


def _alarm(signum: int, frame: Any) -> None:
    raise CaseTimeout()


def compile_case(source: str, filename: str = "<tests>") -> tuple[types.CodeType, bool]:
    """Compile one case: (code, returns_value). A lone expression is compiled to return its
    value (reported as the case's value); anything else runs as module code."""
    tree = ast.parse(source, filename)
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
        return compile(source, filename, "eval", dont_inherit=True), True
    return compile(source, filename, "exec", dont_inherit=True), False


# ---------------------------------------------------------------- talking to the candidate


class Link:
    """The judge's side of the channel to the candidate's process. A timeout (SIGALRM) may
    interrupt a send that is still waiting for room in the socket (a request of more than
    its buffer, to a candidate still busy with an earlier one): the channel is then out of
    step and the next exchange fails, which only ends the job sooner."""

    def __init__(self, channel: _plain.Channel, repr_limit: int = 200) -> None:
        self.channel = channel
        self.repr_limit = repr_limit
        self.deadline = 0.0  # monotonic time by which the current case must end
        self.capture: int | None = None  # send back what the candidate prints, up to this
        self.seq = 0
        self.proxies: dict[int, CandidateObject] = {}

    def exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a request, return its reply (late replies to earlier requests are dropped)."""
        self.seq += 1
        message["seq"] = self.seq
        message["deadline"] = float(self.deadline)
        if self.capture is not None:
            message["out"] = self.capture
        try:
            self.channel.send(message)
        except OSError as exc:
            raise CandidateGone(f"the candidate's process is gone ({describe(exc)})") from None
        while True:
            try:
                reply = self.channel.receive()
            except _plain.ChannelError as exc:
                raise CandidateGone(f"the candidate broke the protocol: {exc}", True) from None
            if reply is None:
                raise CandidateGone("the candidate's process ended")
            if reply.get("seq") == self.seq:
                return reply

    def ask(self, op: str, target: CandidateObject | None, **fields: Any) -> Any:
        """One request about a candidate object; its answer, read as a value here."""
        message: dict[str, Any] = {"op": op, **fields}
        if target is not None:
            message["h"] = object.__getattribute__(target, "_handle")
        reply = self.exchange(message)
        return self._answer(reply)

    def _answer(self, reply: dict[str, Any]) -> Any:
        text = reply.get("stdout")
        if self.capture is not None and type(text) is str:
            sys.stdout.write(text)
        if reply.get("timeout") is True:
            raise CaseTimeout()
        if "raised" in reply:
            raise _candidate_exception(reply["raised"])
        if "error" in reply:
            raise UnreadableAnswer(str(reply["error"])[:300])
        return self.value(reply.get("value"))

    def value(self, tokens: Any) -> Any:
        try:
            return _plain.decode(tokens, self.proxy)
        except _plain.PlainError as exc:
            raise UnreadableAnswer(f"the candidate's answer is not plain data: {exc}") from None

    def tokens(self, value: Any) -> list[Any]:
        """A value of the tests, to send: plain data, or one of the candidate's own objects."""
        try:
            return _plain.encode(value, self._handle_of)
        except _plain.PlainError as exc:
            raise TypeError(f"cannot pass this to the candidate's code: {exc}") from None

    def _handle_of(self, obj: Any) -> int:
        if type(obj) is CandidateObject and object.__getattribute__(obj, "_link") is self:
            handle: int = object.__getattribute__(obj, "_handle")
            return handle
        raise _plain.PlainError(f"a {type(obj).__name__} object of the tests")

    def proxy(self, handle: int) -> CandidateObject:
        found = self.proxies.get(handle)
        if found is None:
            found = self.proxies[handle] = CandidateObject(self, handle)
        return found

    def call(self, target: CandidateObject, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        message: dict[str, Any] = {"op": "call", "h": object.__getattribute__(target, "_handle")}
        message["args"] = self.tokens(args)
        if kwargs:
            message["kw"] = self.tokens(kwargs)
        reply = self.exchange(message)
        back = reply.get("back")
        if type(back) is list:
            _copy_back(self, back, args, kwargs)
        return self._answer(reply)


def _copy_back(link: Link, back: list[Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Update the tests' mutable arguments in place with what the call left in them."""
    for entry in back:
        if type(entry) is not list or len(entry) != 2:
            continue
        where, tokens = entry
        if type(where) is int and 0 <= where < len(args):
            original = args[where]
        elif type(where) is str and where in kwargs:
            original = kwargs[where]
        else:
            continue
        new = link.value(tokens)
        if type(original) is not type(new):
            continue
        if type(original) in (list, bytearray):
            original[:] = new
        elif type(original) in (dict, set):
            original.clear()
            original.update(new)


def _candidate_exception(info: Any) -> Exception:
    """The exception the candidate's code raised, as an exception of this process: a
    built-in exception class by name (so `except ValueError` in a test works), else a
    CandidateError. Exceptions that are not errors (SystemExit, KeyboardInterrupt) are
    CandidateErrors too: they must not stop the judge."""
    if type(info) is not dict:
        return UnreadableAnswer("a malformed exception")
    name = info.get("name")
    name = name if type(name) is str else "Exception"
    text = info.get("text")
    text = text[:300] if type(text) is str else ""
    cls = getattr(builtins, name, None) if info.get("builtin") is True else None
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            args = _plain.decode(info["args"]) if "args" in info else None
            error: Exception = cls(*args) if type(args) is tuple else cls(text)
            return error
        except Exception:  # a class whose constructor wants other arguments
            return CandidateError(name, text)
    return CandidateError(name, text)


class CandidateObject:
    """A stand-in on the judge's side for an object that lives in the candidate's process
    (a function, a class, an instance of one, a generator...). It forwards calls, attribute
    and item access, iteration and conversions; it compares equal only to itself and has no
    arithmetic or ordering, so it cannot pass for an expected value."""

    __slots__ = ("__weakref__", "_handle", "_link")

    def __init__(self, link: Link, handle: int) -> None:
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_handle", handle)

    def _ask(self, op: str, **fields: Any) -> Any:
        link: Link = object.__getattribute__(self, "_link")
        return link.ask(op, self, **fields)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        link: Link = object.__getattribute__(self, "_link")
        return link.call(self, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # protocol look-ups of the judge's own libraries
        return self._ask("getattr", name=name)

    def __setattr__(self, name: str, value: Any) -> None:
        link: Link = object.__getattribute__(self, "_link")
        self._ask("setattr", name=name, value=link.tokens(value))

    def __delattr__(self, name: str) -> None:
        self._ask("delattr", name=name)

    def __getitem__(self, key: Any) -> Any:
        link: Link = object.__getattribute__(self, "_link")
        return self._ask("getitem", key=link.tokens(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        link: Link = object.__getattribute__(self, "_link")
        self._ask("setitem", key=link.tokens(key), value=link.tokens(value))

    def __delitem__(self, key: Any) -> None:
        link: Link = object.__getattribute__(self, "_link")
        self._ask("delitem", key=link.tokens(key))

    def __iter__(self) -> Any:
        return self._ask("iter")

    def __next__(self) -> Any:
        return self._ask("next")

    def __len__(self) -> int:
        return _typed(self._ask("len"), int, "len")

    def __bool__(self) -> bool:
        return _typed(self._ask("bool"), bool, "bool")

    def __int__(self) -> int:
        return _typed(self._ask("int"), int, "int")

    def __index__(self) -> int:
        return _typed(self._ask("index"), int, "index")

    def __float__(self) -> float:
        return _typed(self._ask("float"), float, "float")

    def __complex__(self) -> complex:
        return _typed(self._ask("complex"), complex, "complex")

    def __str__(self) -> str:
        return _typed(self._ask("str"), str, "str")

    def __repr__(self) -> str:
        link: Link = object.__getattribute__(self, "_link")
        text: str = _typed(self._ask("repr", limit=link.repr_limit), str, "repr")
        return text

    def __instancecheck__(self, instance: Any) -> bool:
        link: Link = object.__getattribute__(self, "_link")
        return _typed(self._ask("isinstance", value=link.tokens(instance)), bool, "isinstance")

    def __subclasscheck__(self, subclass: Any) -> bool:
        link: Link = object.__getattribute__(self, "_link")
        return _typed(self._ask("issubclass", value=link.tokens(subclass)), bool, "issubclass")

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("an object of the candidate's process cannot be copied or pickled")


def value_text(value: Any, limit: int) -> str:
    """A case's value as reported (for behaviour signatures): its repr, marked when it is or
    holds a candidate's object, so that an object whose repr imitates a value (`3`) never
    reads as that value."""
    text = short_repr(value, limit)
    stack, budget = [value], 100_000
    while stack and budget:
        item = stack.pop()
        budget -= 1
        if type(item) is CandidateObject:
            return _clip(f"<candidate object> {text}", limit)
        if type(item) in (list, tuple, set, frozenset):
            stack.extend(item)
        elif type(item) is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
    if stack:  # too large to look through: say so rather than risk an imitation
        return _clip(f"<candidate object> {text}", limit)
    return text


def _typed(value: Any, cls: type, what: str) -> Any:
    if type(value) is not cls:
        raise TypeError(f"the candidate's {what}() did not give a {cls.__name__}")
    if what == "len" and isinstance(value, int) and value < 0:
        raise ValueError("the candidate's len() is negative")
    return value


def _module(link: Link) -> Callable[[Any], Any]:
    """How a module among the program's names is bound here: [name, handle] -> this
    process's own import of that module where it is loaded or in the standard library (so
    the tests' `math.isclose` is never the candidate's), else the candidate's module."""

    def resolve(payload: Any) -> Any:
        if type(payload) is not list or len(payload) != 2:
            raise _plain.PlainError("a malformed module marker")
        name, handle = payload
        if type(name) is not str or type(handle) is not int:
            raise _plain.PlainError("a malformed module marker")
        top = name.partition(".")[0]
        if name in sys.modules or (
            top in sys.stdlib_module_names and top not in _NO_IMPORT and not top.startswith("_")
        ):
            try:
                return importlib.import_module(name)
            except Exception:
                pass
        return link.proxy(handle)

    return resolve


class ProgramNamespace(dict[str, Any]):
    """The tests' namespace. The program's functions, classes, objects and modules are bound
    in it once; a name that held plain data is looked up in the candidate's process at each
    use, so tests see the program's state as it is now (`assert calls == [1]` after calls
    that append to `calls`), not as it was when the program loaded."""

    def __init__(self, link: Link) -> None:
        super().__init__()
        self.link = link
        self.live: set[str] = set()

    def __missing__(self, name: str) -> Any:
        if name in self.live:
            return self.link.ask("global", None, name=name)
        raise KeyError(name)


def names_used(sources: list[str]) -> frozenset[str]:
    """The names test code reads (setup and cases together)."""
    used: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        used.update(
            node.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
        )
    return frozenset(used)


def bind_program(
    namespace: ProgramNamespace, names: Any, link: Link, used: frozenset[str] = frozenset()
) -> None:
    """Bind the program's top-level names (as its process reported them): handles and
    modules now, plain values at each use.

    In one interpreter a program's `def abs(x): return 0` would also be the `abs` of
    `assert abs(f(x) - y) < 1e-6`. Here a program name that is also a built-in's stands in
    for it only when it is the one program name the tests use (then it is the function
    under test, as MBPP's `sum`); otherwise the tests' built-ins stay theirs."""
    if type(names) is not list:
        return
    entries = [
        entry
        for entry in names
        if type(entry) is list
        and len(entry) == 2
        and type(entry[0]) is str
        and entry[0].isidentifier()
        and not entry[0].startswith("__")
    ]
    referenced = {name for name, _ in entries} & used
    modules = _module(link)
    for name, tokens in entries:
        if hasattr(builtins, name) and referenced != {name}:
            continue
        bound = type(tokens) is list and len(tokens) == 1 and type(tokens[0]) is dict
        if bound and set(tokens[0]) <= {"H", "M"}:
            with contextlib.suppress(_plain.PlainError):
                namespace[name] = _plain.decode(tokens, link.proxy, modules)
            continue
        namespace.live.add(name)


# ---------------------------------------------------------------- function mode


def _hello(channel: _plain.Channel, timeout: float, send: Callable[[dict[str, Any]], None]) -> Any:
    """Wait for the candidate's process to load the program; its list of names, or None
    after reporting why there is none. Its first message says it has the program: a process
    that ends before that was gone before its job (the sandbox's fault, not the program's)."""
    received = False
    try:
        _set_alarm(max(timeout, 0.001))
        while True:
            hello = channel.receive()
            if hello is None or hello.get("received") is not True or received:
                break
            received = True
        _set_alarm(0)
    except CaseTimeout:
        send({"event": "error", "message": "timed out while loading", "timeout": True})
        return None
    except _plain.ChannelError as exc:
        _set_alarm(0)
        message = f"the candidate broke the protocol: {exc}"
        send({"event": "gone", "message": message, "broke": True})
        return None
    if hello is None:
        send({"event": "gone"} if received else {"event": "gone", "early": True})
        return None
    if "load_error" in hello:
        message = hello["load_error"]
        send(
            {
                "event": "error",
                "message": message[:500] if type(message) is str else "did not load",
                "timeout": hello.get("timeout") is True,
            }
        )
        return None
    if "loaded" not in hello:
        send({"event": "gone", "message": "the candidate broke the protocol", "broke": True})
        return None
    return hello["loaded"]


def judge_function(
    channel: _plain.Channel,
    setup: str,
    cases: list[tuple[types.CodeType, bool]],
    send: Callable[[dict[str, Any]], None],
    *,
    timeout: float,
    case_timeout: float | None,
    stop_on_failure: bool,
    capture_stdout: bool,
    repr_limit: int,
    used: frozenset[str] = frozenset(),
) -> None:
    """Wait for the program to load, run setup, run each compiled case; `send` one event per
    case, then `done` (or one `error` event when the program does not load, or `gone` when
    the candidate's process ends before the tests do). `used`: the names the tests read
    (`names_used`)."""
    clock = time.monotonic
    started = clock()
    deadline = started + timeout
    signal.signal(signal.SIGALRM, _alarm)
    names = _hello(channel, timeout, send)
    if names is None:
        return
    link = Link(channel, repr_limit)
    link.deadline = deadline
    namespace = ProgramNamespace(link)
    namespace.update(__name__="__candidate__", __builtins__=builtins)
    bind_program(namespace, names, link, used)
    real_stdout = sys.stdout
    if setup:
        try:
            _set_alarm(max(deadline - clock(), 0.001))
            exec(compile(setup, "<setup>", "exec", dont_inherit=True), namespace)
            _set_alarm(0)
        except CandidateGone as exc:
            _set_alarm(0)
            send({"event": "gone", "message": str(exc), "broke": exc.broke})
            return
        except BaseException as exc:
            _set_alarm(0)
            outcome = "timeout" if isinstance(exc, CaseTimeout) else "failed"
            for index in range(len(cases)):
                message = f"setup: {describe(exc)}"
                send({"event": "case", "index": index, "outcome": outcome, "message": message})
                if stop_on_failure:
                    break
            send({"event": "done"})
            return
    for index, (code, returns_value) in enumerate(cases):
        remaining = deadline - clock()
        limit = min(remaining, case_timeout) if case_timeout else remaining
        event: dict[str, Any] = {"event": "case", "index": index}
        buffer = io.StringIO() if capture_stdout else None
        case_started = clock()
        link.deadline = case_started + limit
        link.capture = repr_limit if capture_stdout else None
        text = None
        try:
            if limit <= 0:
                raise CaseTimeout()
            if buffer is not None:
                sys.stdout = buffer
            _set_alarm(limit)
            if returns_value:
                text = value_text(eval(code, namespace), repr_limit)
            else:
                exec(code, namespace)
            _set_alarm(0)
            outcome, message = "passed", ""
        except CaseTimeout:
            outcome, message = "timeout", "timed out"
        except CandidateGone as exc:
            _set_alarm(0)
            sys.stdout = real_stdout
            send({"event": "gone", "index": index, "message": str(exc), "broke": exc.broke})
            return
        except BaseException as exc:
            _set_alarm(0)
            outcome, message = "failed", describe(exc)
        finally:
            _set_alarm(0)
            sys.stdout = real_stdout
        event.update(outcome=outcome, message=message, seconds=round(clock() - case_started, 4))
        if returns_value and outcome == "passed":
            event["value"] = text
        if buffer is not None:
            event["stdout"] = buffer.getvalue()[:repr_limit]
        send(event)
        if outcome != "passed" and stop_on_failure:
            break
    send({"event": "done"})


# ---------------------------------------------------------------- stdio mode


def judge_stdio(
    channel: _plain.Channel,
    cases: list[dict[str, Any]],
    send: Callable[[dict[str, Any]], None],
    *,
    timeout: float,
    stop_on_failure: bool,
    compare: str,
    repr_limit: int,
) -> None:
    """Have the candidate's process run the program on each case's input and judge the
    digest of its normalised stdout against the case's digest, here."""
    signal.signal(signal.SIGALRM, _alarm)
    if _hello(channel, timeout, send) is None:
        return
    link = Link(channel, repr_limit)
    for index, case in enumerate(cases):
        started = time.monotonic()
        event: dict[str, Any] = {"event": "case", "index": index}
        link.deadline = started + timeout
        try:
            _set_alarm(timeout + 2.0)  # the candidate's side kills a run at `timeout`
            request = {"op": "stdio", "input": case["input"], "compare": compare}
            reply = link.exchange({**request, "timeout": float(timeout)})
            _set_alarm(0)
        except CaseTimeout:
            reply = {"outcome": "timeout", "message": "timed out"}
        except CandidateGone as exc:
            _set_alarm(0)
            send({"event": "gone", "index": index, "message": str(exc), "broke": exc.broke})
            return
        stdout = reply.get("stdout")
        if reply.get("outcome") == "ran" and type(reply.get("digest")) is str:
            digest = reply["digest"]
            passed = digest == case["digest"]
            outcome, message = ("passed", "") if passed else ("failed", "wrong answer")
            event["value"] = digest  # what it printed, comparable across programs
        elif reply.get("outcome") in ("timeout", "failed"):
            outcome = str(reply["outcome"])
            message = str(reply.get("message", ""))[:300]
        else:
            outcome, message = "failed", str(reply.get("error", "no answer"))[:300]
        event.update(
            outcome=outcome,
            message=message,
            seconds=round(time.monotonic() - started, 4),
            stdout=stdout[:repr_limit] if type(stdout) is str else "",
        )
        send(event)
        if outcome != "passed" and stop_on_failure:
            break
    send({"event": "done"})

"""Plain values: the only form in which values cross between a candidate's process and the
judge's. Standard library only (it runs in the sandbox worker's children).

A value is written as a flat list of JSON tokens in prefix order: an atom (`int`, `float`,
`str`, `bool`, `None`) is itself; a container is a marker such as `{"L": 3}` followed by its
items (`T` tuple, `D` dict as key, value, ..., `S` set, `F` frozenset); `{"@": i}` refers back
to the i-th container (shared and cyclic lists and dicts keep their shape); `{"H": n}` is an
object that stays where it lives (a handle); a few other markers carry bytes, complex numbers,
ranges, very large ints and standard-library value types (`X`). Flat, so neither side recurses
and no nesting depth limit applies.

What may be written is decided by the writer: exact built-in types, subclasses of them that
define no behaviour (no comparison, arithmetic, container or conversion method of their own),
and a closed list of library value types (Fraction, Decimal, Counter, OrderedDict,
defaultdict, deque, named tuples, datetime values, numpy arrays and scalars of non-object
dtypes). Everything else becomes a handle. What is read back is decided by the reader alone:
`decode` builds nothing but those types, with its own classes, so whatever the writer was
(a candidate can subvert its own process entirely) the judge compares plain data with its own
`==`, never the candidate's.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable
from typing import Any

MAX_TOKENS = 4_000_000
_HEAPTYPE = 1 << 9
_BIG_INT_BITS = 12_000  # past ~4,300 decimal digits int <-> str needs a flag: write hex
_NONE_TYPE = type(None)
_ATOMS = frozenset({str, float, bool, _NONE_TYPE})
_SEQUENCES: dict[type, str] = {list: "L", tuple: "T", set: "S", frozenset: "F"}
# each container type's own iteration, which reads its storage whatever a subclass overrides
_ITERATE: dict[type, Any] = {
    list: list.__iter__,
    tuple: tuple.__iter__,
    set: set.__iter__,
    frozenset: frozenset.__iter__,
}
_MUTABLE = frozenset({"L", "D"})  # registered before their items: cycles through them allowed
_BASES = (bool, int, float, complex, str, bytes, bytearray, list, tuple, dict, set, frozenset)
# dunders a subclass of a built-in type may define without changing how its value compares,
# hashes, iterates or computes (construction, representation, copying, class bookkeeping)
_INERT_DUNDERS = frozenset(
    {
        "__module__",
        "__qualname__",
        "__doc__",
        "__dict__",
        "__weakref__",
        "__slots__",
        "__annotations__",
        "__init__",
        "__new__",
        "__del__",
        "__init_subclass__",
        "__class_getitem__",
        "__set_name__",
        "__repr__",
        "__str__",
        "__format__",
        "__reduce__",
        "__reduce_ex__",
        "__getnewargs__",
        "__getnewargs_ex__",
        "__getstate__",
        "__setstate__",
        "__copy__",
        "__deepcopy__",
        "__sizeof__",
        "__dir__",
        "__match_args__",
        "__orig_bases__",
        "__parameters__",
        "__firstlineno__",
        "__static_attributes__",
        "__abstractmethods__",
        "__dataclass_fields__",
        "__dataclass_params__",
    }
)
_FACTORIES: dict[str, type] = {
    t.__name__: t for t in (int, float, str, bool, list, tuple, dict, set, frozenset)
}
_NUMPY_KINDS = frozenset("biufcSUmM")


class PlainError(Exception):
    """A value that cannot cross (not plain data, too large, cyclic through a tuple), or a
    message that is not well-formed."""


class _Close:
    """Stack entry: the immutable container `key` has all its items written."""

    __slots__ = ("key",)

    def __init__(self, key: int) -> None:
        self.key = key


# ---------------------------------------------------------------- writing


_PLAIN_BASE: dict[type, type | None] = {}


def plain_base(cls: type) -> type | None:
    """The built-in type whose value an instance of `cls` is, when `cls` is that type or a
    subclass of it that only adds inert methods; None otherwise."""
    if cls in _PLAIN_BASE:
        return _PLAIN_BASE[cls]
    found: type | None = None
    for base in _BASES:
        if issubclass(cls, base):
            found = base
            break
    if found is not None and cls is not found:
        for klass in cls.__mro__:
            if klass is found:
                break
            if not klass.__flags__ & _HEAPTYPE:  # a C type in between: unknown behaviour
                found = None
                break
            if any(
                name.startswith("__") and name.endswith("__") and name not in _INERT_DUNDERS
                for name in list(vars(klass))
            ):
                found = None
                break
    if len(_PLAIN_BASE) < 4096:
        _PLAIN_BASE[cls] = found
    return found


def _library_kind(cls: type) -> str | None:
    """The marker name of a standard-library or numpy value type (exact types only)."""
    modules = sys.modules
    collections = modules.get("collections")
    if collections is not None:
        for name in ("Counter", "OrderedDict", "defaultdict", "deque"):
            if cls is getattr(collections, name, None):
                return name
    for module, names in (
        ("fractions", ("Fraction",)),
        ("decimal", ("Decimal",)),
        ("datetime", ("datetime", "date", "time", "timedelta")),
    ):
        loaded = modules.get(module)
        if loaded is not None:
            for name in names:
                if cls is getattr(loaded, name, None):
                    return name
    numpy = modules.get("numpy")
    if numpy is not None:
        if cls is numpy.ndarray:
            return "ndarray"
        if issubclass(cls, numpy.generic) and cls.__module__ == "numpy":
            return "npscalar"
    if plain_base(cls) is tuple and _named_fields(cls) is not None:
        return "namedtuple"
    return None


def _classify(item: Any, cls: type) -> tuple[type | None, str | None]:
    """(built-in base, library kind) of a non-atom; both None for an object that stays."""
    if cls in _SEQUENCES or cls is dict:
        return cls, None
    kind = _library_kind(cls)
    if kind in ("ndarray", "npscalar") and not _plain_dtype(item.dtype):
        kind = None  # object or structured arrays: kept where they are
    return (None if kind else plain_base(cls)), kind


def crosses(value: Any) -> bool:
    """Whether `encode` writes `value` as data (else as a handle)."""
    cls = type(value)
    if cls in _ATOMS or cls is int or cls is range or value is ...:
        return True
    base, kind = _classify(value, cls)
    return base is not None or kind is not None


def _named_fields(cls: type) -> tuple[str, ...] | None:
    fields = None
    for klass in cls.__mro__:
        if "_fields" in vars(klass):
            fields = vars(klass)["_fields"]
            break
    if type(fields) is tuple and all(type(f) is str for f in fields):
        return fields
    return None


def _plain_dtype(dtype: Any) -> bool:
    return bool(
        not dtype.hasobject
        and dtype.fields is None
        and dtype.subdtype is None
        and dtype.kind in _NUMPY_KINDS
    )


def _is_small_atom(value: Any) -> bool:
    cls = type(value)
    return cls in _ATOMS or (cls is int and value.bit_length() <= _BIG_INT_BITS)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encode(
    value: Any, handle: Callable[[Any], int] | None = None, limit: int = MAX_TOKENS
) -> list[Any]:
    """`value` as tokens. An object that is not plain data becomes `{"H": handle(obj)}`, or
    raises PlainError when `handle` is None (or raises it)."""
    if type(value) in _ATOMS or (type(value) is int and value.bit_length() <= _BIG_INT_BITS):
        return [value]  # most answers
    if type(value) is tuple and all(map(_is_small_atom, value)):
        return [{"T": len(value)}, *value]  # most arguments
    out: list[Any] = []
    memo: dict[int, int] = {}  # id(container) -> its index
    open_immutable: set[int] = set()
    keep: list[Any] = []  # temporaries whose ids are in memo must outlive the walk
    stack: list[Any] = [value]
    index = 0
    while stack:
        item = stack.pop()
        cls = type(item)
        if cls in _ATOMS:
            out.append(item)
            continue
        if cls is int:
            out.append(item if item.bit_length() <= _BIG_INT_BITS else {"I": format(item, "x")})
            continue
        if cls is _Close:
            open_immutable.discard(item.key)
            continue
        if cls is range:
            out.append({"R": [item.start, item.stop, item.step]})
            continue
        if item is ...:
            out.append({"E": 0})
            continue
        if len(out) > limit:
            raise PlainError(f"more than {limit} values")
        key = id(item)
        if key in memo:
            if key in open_immutable:
                raise PlainError("a cycle through an immutable value")
            out.append({"@": memo[key]})
            continue
        base, kind = _classify(item, cls)
        if base is None and kind is None:
            if handle is None:
                raise PlainError(f"a {cls.__name__} object is not plain data")
            out.append({"H": handle(item)})
            continue
        if base is int:
            number = int.__index__(item)
            out.append(
                number if number.bit_length() <= _BIG_INT_BITS else {"I": format(number, "x")}
            )
        elif base is float:
            out.append(float.__float__(item))
        elif base is str:
            out.append(str.__str__(item))
        elif base is complex:
            out.append({"C": [complex.real.__get__(item), complex.imag.__get__(item)]})
        elif base is bytes:
            out.append({"B": _b64(bytes(memoryview(item)))})
        elif base is bytearray:
            out.append({"A": _b64(bytes(memoryview(item)))})
        elif base is not None:
            memo[key] = index
            index += 1
            keep.append(item)
            if base is dict:
                pairs = list(dict.items(item))
                out.append({"D": len(pairs)})
                for k, v in reversed(pairs):
                    stack.append(v)
                    stack.append(k)
                continue
            marker = _SEQUENCES[base]
            items = list(_ITERATE[base](item))
            if len(out) + len(items) > limit:
                raise PlainError(f"more than {limit} values")
            out.append({marker: len(items)})
            if len(items) > 8 and all(map(_is_small_atom, items)):
                out.extend(items)  # the common case, a flat list of numbers or strings
                continue
            if marker not in _MUTABLE:
                open_immutable.add(key)
                stack.append(_Close(key))
            stack.extend(reversed(items))
        else:
            memo[key] = index
            index += 1
            keep.append(item)
            token, children = _library_token(item, cls, str(kind))
            token["n"] = len(children)
            out.append(token)
            open_immutable.add(key)
            stack.append(_Close(key))
            stack.extend(reversed(children))
    return out


def _library_token(item: Any, cls: type, kind: str) -> tuple[dict[str, Any], list[Any]]:
    token: dict[str, Any] = {"X": kind}
    children: list[Any] = []
    if kind in ("Counter", "OrderedDict", "defaultdict"):
        for k, v in dict.items(item):
            children += (k, v)
        if kind == "defaultdict":
            factory = item.default_factory
            token["f"] = next((n for n, t in _FACTORIES.items() if t is factory), None)
    elif kind == "deque":
        children = list(item)
        token["m"] = item.maxlen
    elif kind == "namedtuple":
        token["name"] = cls.__name__
        token["fields"] = list(_named_fields(cls) or ())
        children = list(tuple.__iter__(item))
    elif kind == "Fraction":
        children = [item.numerator, item.denominator]
    elif kind == "Decimal":
        token["s"] = str(item)
    elif kind == "timedelta":
        token["v"] = [item.days, item.seconds, item.microseconds]
    elif kind in ("datetime", "date", "time"):
        token["s"] = item.isoformat()
    else:  # numpy, of a dtype `_plain_dtype` accepts
        dtype = item.dtype
        token["dtype"] = dtype.str
        if kind == "ndarray":
            token["shape"] = [int(n) for n in item.shape]
            data = item.tobytes(order="C")
        else:
            data = item.tobytes()
        token["data"] = _b64(data)
    return token, children


# ---------------------------------------------------------------- reading


class _Frame:
    __slots__ = ("index", "items", "key", "kind", "left", "obj", "token")

    def __init__(self, kind: str, token: dict[str, Any], left: int, index: int, obj: Any) -> None:
        self.kind = kind
        self.token = token
        self.left = left
        self.items: list[Any] = []
        self.key: Any = None
        self.index = index
        self.obj = obj


_PENDING = object()


def decode(
    tokens: Any,
    handle: Callable[[int], Any] | None = None,
    module: Callable[[str], Any] | None = None,
) -> Any:
    """Build the value `tokens` describe, from built-in and standard-library types only.
    `handle(n)` gives the object for a handle (PlainError when None); `module(name)` the
    module for a module marker (PlainError when None)."""
    if type(tokens) is not list or not tokens:
        raise PlainError("a value is a non-empty token list")
    if len(tokens) > MAX_TOKENS:
        raise PlainError(f"more than {MAX_TOKENS} values")
    if len(tokens) == 1 and (type(tokens[0]) in _ATOMS or type(tokens[0]) is int):
        return tokens[0]  # most answers
    head = tokens[0]
    if (
        type(head) is dict
        and len(head) == 1
        and head.get("T") == len(tokens) - 1
        and all(type(t) in _ATOMS or type(t) is int for t in tokens[1:])
    ):
        return tuple(tokens[1:])  # most arguments
    table: list[Any] = []
    frames: list[_Frame] = []
    result: list[Any] = []
    position = 0
    count = len(tokens)
    while position < count:
        token = tokens[position]
        position += 1
        cls = type(token)
        if cls is dict and len(token) >= 1:
            value, frame = _read_marker(token, table, handle, module)
            if frame is not None:
                if (
                    frame.kind == "L"
                    and frame.left > 8
                    and position + frame.left <= count
                    and not any(type(t) is dict for t in tokens[position : position + frame.left])
                ):
                    _check_atoms(tokens, position, frame.left)
                    frame.obj.extend(tokens[position : position + frame.left])
                    position += frame.left
                    frame.left = 0
                if frame.left > 0:
                    frames.append(frame)
                    continue
                value = _finish(frame, table)
        elif cls in _ATOMS or cls is int:
            value = token
        else:
            raise PlainError(f"unexpected token {cls.__name__}")
        # deliver `value` to the innermost open container, closing those it completes
        while True:
            if not frames:
                result.append(value)
                break
            frame = frames[-1]
            _add(frame, value)
            if frame.left > 0:
                break
            frames.pop()
            value = _finish(frame, table)
        if result and position < count:
            raise PlainError("tokens after the value")
    if frames or len(result) != 1:
        raise PlainError("the value is cut short")
    return result[0]


def _check_atoms(tokens: list[Any], start: int, length: int) -> None:
    for token in tokens[start : start + length]:
        if type(token) not in _ATOMS and type(token) is not int:
            raise PlainError(f"unexpected token {type(token).__name__}")


def _count(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise PlainError("a container's length must be a non-negative int")
    return value


def _read_marker(
    token: dict[str, Any],
    table: list[Any],
    handle: Callable[[int], Any] | None,
    module: Callable[[str], Any] | None,
) -> tuple[Any, _Frame | None]:
    """An atom-like marker's value, or a frame for a container's items."""
    (name, payload), *rest = token.items()
    if name in ("L", "D") and not rest:
        left = _count(payload) * (2 if name == "D" else 1)
        obj: Any = [] if name == "L" else {}
        table.append(obj)
        return None, _Frame(name, token, left, len(table) - 1, obj)
    if name in ("T", "F", "S") and not rest:  # a set cannot contain itself: built at its end
        table.append(_PENDING)
        return None, _Frame(name, token, _count(payload), len(table) - 1, None)
    if name == "X":
        table.append(_PENDING)
        return None, _Frame("X", token, _count(token.get("n")), len(table) - 1, None)
    if rest:
        raise PlainError("malformed marker")
    if name == "@":
        if type(payload) is not int or not 0 <= payload < len(table):
            raise PlainError("a reference to no container")
        value = table[payload]
        if value is _PENDING:
            raise PlainError("a reference into an unfinished immutable value")
        return value, None
    if name == "H":
        if handle is None or type(payload) is not int:
            raise PlainError("an object handle where plain data is required")
        return handle(payload), None
    if name == "M":
        if module is None:
            raise PlainError("a module where plain data is required")
        return module(payload), None
    if name == "I" and type(payload) is str and len(payload) < 1 << 20:
        try:
            return int(payload, 16), None
        except ValueError:
            raise PlainError("a malformed large int") from None
    if name in ("B", "A") and type(payload) is str:
        try:
            data = base64.b64decode(payload, validate=True)
        except ValueError:
            raise PlainError("malformed bytes") from None
        return (data if name == "B" else bytearray(data)), None
    if name == "C" and type(payload) is list and len(payload) == 2:
        re, im = payload
        if all(type(p) in (float, int) for p in (re, im)):
            return complex(float(re), float(im)), None
    if (
        name == "R"
        and type(payload) is list
        and len(payload) == 3
        and all(type(p) is int for p in payload)
        and payload[2] != 0
    ):
        return range(*payload), None
    if name == "E" and payload == 0:
        return ..., None
    raise PlainError(f"unknown marker {name!r}")


def _add(frame: _Frame, value: Any) -> None:
    frame.left -= 1
    try:
        if frame.kind == "L":
            frame.obj.append(value)
        elif frame.kind == "D":
            if frame.left % 2:
                frame.key = value
            else:
                frame.obj[frame.key] = value
        else:
            frame.items.append(value)
    except TypeError as exc:  # an unhashable key or set member
        raise PlainError(str(exc)) from None


def _finish(frame: _Frame, table: list[Any]) -> Any:
    if frame.kind in ("L", "D"):
        return frame.obj
    if frame.kind == "T":
        value: Any = tuple(frame.items)
    elif frame.kind in ("F", "S"):
        try:
            value = frozenset(frame.items)
            if frame.kind == "S":
                # built as a set display is ({1, 2} merges a frozenset constant), so that
                # iteration order, which programs wrongly rely on, is the usual one
                value = set(value)
        except TypeError as exc:
            raise PlainError(str(exc)) from None
    else:
        value = _build_library_value(frame.token, frame.items)
    table[frame.index] = value
    return value


_NAMEDTUPLES: dict[tuple[str, tuple[str, ...]], Any] = {}


def _pairs(items: list[Any]) -> list[tuple[Any, Any]]:
    return list(zip(items[0::2], items[1::2], strict=True))


def _build_library_value(token: dict[str, Any], items: list[Any]) -> Any:
    kind = token.get("X")
    try:
        if kind in ("Counter", "OrderedDict", "defaultdict"):
            import collections

            if len(items) % 2:
                raise PlainError("a mapping needs key, value pairs")
            if kind == "defaultdict":
                factory = token.get("f")
                if factory is not None and factory not in _FACTORIES:
                    raise PlainError("unknown default factory")
                return collections.defaultdict(
                    _FACTORIES.get(factory) if factory else None, _pairs(items)
                )
            return getattr(collections, kind)(dict(_pairs(items)))
        if kind == "deque":
            import collections

            maxlen = token.get("m")
            if maxlen is not None and (type(maxlen) is not int or maxlen < 0):
                raise PlainError("a deque's maxlen is a non-negative int")
            return collections.deque(items, maxlen)
        if kind == "namedtuple":
            return _namedtuple(token, items)
        if kind == "Fraction":
            import fractions

            numerator, denominator = items
            if type(numerator) is not int or type(denominator) is not int or denominator == 0:
                raise PlainError("a fraction is two ints")
            return fractions.Fraction(numerator, denominator)
        if kind == "Decimal" and type(token.get("s")) is str and len(token["s"]) < 1 << 16:
            import decimal

            return decimal.Decimal(token["s"])
        if kind == "timedelta" and type(token.get("v")) is list:
            import datetime

            days, seconds, micro = token["v"]
            if not all(type(v) is int for v in (days, seconds, micro)):
                raise PlainError("a timedelta is three ints")
            return datetime.timedelta(days=days, seconds=seconds, microseconds=micro)
        if kind in ("datetime", "date", "time") and type(token.get("s")) is str:
            import datetime

            return getattr(datetime, str(kind)).fromisoformat(token["s"])
        if kind in ("ndarray", "npscalar"):
            return _numpy_value(token, kind)
    except PlainError:
        raise
    except Exception as exc:  # a malformed token: the reader's own types refuse it
        raise PlainError(f"a malformed {kind} ({type(exc).__name__})") from None
    raise PlainError(f"unknown value type {kind!r}")


def _namedtuple(token: dict[str, Any], items: list[Any]) -> Any:
    import collections

    name, fields = token.get("name"), token.get("fields")
    if (
        type(name) is not str
        or type(fields) is not list
        or len(fields) != len(items)
        or len(fields) > 256
        or not all(type(f) is str for f in fields)
    ):
        raise PlainError("a malformed named tuple")
    key = (name, tuple(fields))
    made = _NAMEDTUPLES.get(key)
    if made is None:
        # namedtuple validates both as identifiers before it builds the class
        factory: Any = collections.namedtuple
        made = factory(name, fields)
        if len(_NAMEDTUPLES) < 256:
            _NAMEDTUPLES[key] = made
    return made(*items)


def _numpy_value(token: dict[str, Any], kind: str) -> Any:
    import numpy

    spec, data = token.get("dtype"), token.get("data")
    if type(spec) is not str or len(spec) > 16 or type(data) is not str:
        raise PlainError("a malformed numpy value")
    dtype = numpy.dtype(spec)
    if not _plain_dtype(dtype):
        raise PlainError(f"numpy dtype {spec!r} is not plain data")
    raw = base64.b64decode(data, validate=True)
    if kind == "npscalar":
        if len(raw) != dtype.itemsize or dtype.itemsize == 0:
            raise PlainError("a numpy scalar of the wrong size")
        return numpy.frombuffer(raw, dtype)[0]
    shape = token.get("shape")
    if type(shape) is not list or len(shape) > 32:
        raise PlainError("a malformed numpy shape")
    size = 1
    for n in shape:
        if type(n) is not int or n < 0:
            raise PlainError("a malformed numpy shape")
        size *= n
    if len(raw) != size * dtype.itemsize:
        raise PlainError("numpy data of the wrong size")
    if dtype.itemsize == 0:
        return numpy.zeros(shape, dtype)
    return numpy.frombuffer(raw, dtype).reshape(shape).copy()


# ---------------------------------------------------------------- messages


class ChannelError(Exception):
    """The other side broke the protocol (a malformed or oversized message)."""


class Channel:
    """Length-prefixed JSON messages over a connected socket, one side of it. Bytes read
    stay in the buffer if a signal interrupts a read, so a message is never lost halfway."""

    def __init__(self, fd: int, max_bytes: int) -> None:
        self.fd = fd
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._chunk = bytearray(1 << 16)  # reused: a fresh large buffer per read costs a map

    def send(self, message: dict[str, Any]) -> None:
        import json
        import os

        data = json.dumps(message, separators=(",", ":")).encode("ascii")
        if len(data) > self.max_bytes:
            raise PlainError(f"a message of {len(data)} bytes (the limit is {self.max_bytes})")
        view = memoryview(len(data).to_bytes(4, "big") + data)
        while view:
            view = view[os.write(self.fd, view) :]

    def receive(self) -> dict[str, Any] | None:
        """The next message; None when the other side has closed the channel."""
        import json
        import os

        while True:
            if len(self._buffer) >= 4:
                size = int.from_bytes(self._buffer[:4], "big")
                if size > self.max_bytes:
                    raise ChannelError(f"a message of {size} bytes (the limit is {self.max_bytes})")
                if len(self._buffer) >= 4 + size:
                    data = bytes(self._buffer[4 : 4 + size])
                    del self._buffer[: 4 + size]
                    try:
                        message = json.loads(data)
                    except (ValueError, RecursionError):
                        raise ChannelError("a message that is not JSON") from None
                    if type(message) is not dict:
                        raise ChannelError("a message that is not an object")
                    return message
            try:
                count = os.readv(self.fd, [self._chunk])
            except ConnectionResetError:
                count = 0
            if not count:
                return None
            self._buffer += memoryview(self._chunk)[:count]

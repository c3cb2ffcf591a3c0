"""The hostile battery, part two: wrong programs that try to be judged right.

Each attack is a wrong program built to pass a test by faking the comparison (an object that
equals everything, an `int` whose `__eq__` is `int.__ne__`, a patched library class, rebound
builtins, a lying `__repr__`...) or by reaching into the judge (frames, the heap, forged
messages). Each must not pass, and an honest program must pass the very same tests, so a
test here fails if the sandbox turns either way. `ATTACKS` is also what
`benchmarks/`-style tallies of the battery iterate over.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import pytest

from ranker.sandbox import FunctionJob, Isolation, Limits, Outcome, Sandbox

LIMITS = Limits(timeout=2.0, memory=1 << 30, file_size=16 << 20, open_files=64)

HONEST_ADD = "def add(a, b):\n    return a + b\n"
CHECK_ADD = """
def check(candidate):
    assert candidate(1, 2) == 3
    assert candidate(-1, 1) == 0
    assert not (candidate(2, 2) != 4)
    assert [candidate(0, 0)] == [0]
    assert {candidate(1, 1): 'two'} == {2: 'two'}

check(add)
"""


@dataclass(frozen=True)
class Attack:
    name: str
    program: str
    tests: str = CHECK_ADD
    honest: str = HONEST_ADD

    def job(self, program: str) -> FunctionJob:
        return FunctionJob(textwrap.dedent(program), [textwrap.dedent(self.tests)])


ATTACKS = [
    Attack("mock-any", "from unittest import mock\ndef add(a, b):\n    return mock.ANY\n"),
    Attack(
        "mock-any-inside-list",
        "from unittest import mock\ndef pair(a):\n    return [mock.ANY, mock.ANY]\n",
        "assert pair(1) == [1, 2]\nassert pair(3) == [3, 4]",
        "def pair(a):\n    return [a, a + 1]\n",
    ),
    Attack(
        "int-subclass-eq-is-ne",
        """
        class Sly(int):
            __eq__ = int.__ne__
            __ne__ = int.__eq__
            __hash__ = int.__hash__
        def add(a, b):
            return Sly(-1)
        """,
    ),
    Attack(
        "eq-patched-after-first-check",
        """
        class Value:
            def __init__(self, v):
                self.v = v
            def __eq__(self, other):
                return self.v == other
            __hash__ = object.__hash__
        calls = 0
        def add(a, b):
            global calls
            calls += 1
            if calls == 2:
                Value.__eq__ = lambda self, other: True
                Value.__ne__ = lambda self, other: False
            return Value(a + b if calls == 1 else 0)
        """,
    ),
    Attack(
        "eq-compiled-as-frozen-module",
        """
        space = {}
        exec(compile("def eq(self, other):\\n    return True\\ndef ne(self, other):\\n    return False\\n",
                     "<frozen abc>", "exec"), space)
        class Any:
            __eq__ = space["eq"]
            __ne__ = space["ne"]
            __hash__ = object.__hash__
        def add(a, b):
            return Any()
        """,
    ),
    Attack(
        "eq-compiled-under-a-library-path",
        """
        import os
        space = {}
        exec(compile("def eq(self, other):\\n    return True\\n",
                     os.__file__, "exec"), space)
        class Any:
            __eq__ = space["eq"]
            __ne__ = lambda self, other: False
            __hash__ = object.__hash__
        def add(a, b):
            return Any()
        """,
    ),
    Attack(
        "rebind-builtins-type-and-isinstance",
        """
        import builtins
        real_type = builtins.type
        builtins.type = lambda *args: int if len(args) == 1 else real_type(*args)
        builtins.isinstance = lambda obj, cls: True
        class Any:
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            __hash__ = object.__hash__
        def add(a, b):
            return Any()
        """,
    ),
    Attack(
        "patch-library-class-eq-up-front",
        """
        import fractions
        fractions.Fraction.__eq__ = lambda self, other: True
        fractions.Fraction.__ne__ = lambda self, other: False
        fractions.Fraction.__hash__ = lambda self: hash(2)
        def add(a, b):
            return fractions.Fraction(7, 3)
        """,
    ),
    Attack(
        "patch-counter-eq-up-front",
        """
        import collections
        collections.Counter.__eq__ = lambda self, other: True
        def count(text):
            return collections.Counter("zzz")
        """,
        "assert count('aab') == {'a': 2, 'b': 1}",
        "import collections\ndef count(text):\n    return collections.Counter(text)\n",
    ),
    Attack(
        "lying-class-attribute",
        """
        class Liar:
            __class__ = property(lambda self: int)
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            __hash__ = object.__hash__
        def add(a, b):
            return Liar()
        """,
    ),
    Attack(
        "metaclass-instancecheck",
        """
        class Meta(type):
            def __instancecheck__(cls, obj):
                return True
            def __subclasscheck__(cls, sub):
                return True
        class Anything(metaclass=Meta):
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            __hash__ = object.__hash__
        def add(a, b):
            return Anything()
        """,
    ),
    Attack(
        "metaclass-eq-on-a-class",
        """
        class Meta(type):
            def __eq__(cls, other):
                return True
            def __ne__(cls, other):
                return False
            __hash__ = type.__hash__
        class Anything(metaclass=Meta):
            pass
        def add(a, b):
            return Anything
        """,
    ),
    Attack(
        "total-ordering",
        """
        import functools
        @functools.total_ordering
        class Middle:
            def __eq__(self, other):
                return True
            def __lt__(self, other):
                return False
            __hash__ = object.__hash__
        def clamp(x):
            return Middle()
        """,
        "assert clamp(5) <= 3 and clamp(5) >= 3\nassert clamp(-1) == 0",
        "def clamp(x):\n    return min(max(x, 0), 3)\n",
    ),
    Attack(
        "numpy-array-subclass",
        """
        import numpy as np
        class Yes(np.ndarray):
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            def __bool__(self):
                return True
        def add(a, b):
            return np.zeros(1).view(Yes)
        """,
    ),
    Attack(
        "numpy-masked-constant",
        "import numpy as np\ndef add(a, b):\n    return np.ma.masked\n",
        honest="import numpy as np\ndef add(a, b):\n    return np.int64(a) + np.int64(b)\n",
    ),
    Attack(
        "numpy-object-array",
        """
        import numpy as np
        class Any:
            def __eq__(self, other):
                return True
            __hash__ = object.__hash__
        def pair(a):
            out = np.empty(2, dtype=object)
            out[0], out[1] = Any(), Any()
            return out
        """,
        "assert (pair(1) == [1, 2]).all()",
        "import numpy as np\ndef pair(a):\n    return np.array([a, a + 1])\n",
    ),
    Attack(
        "nan-for-a-float",
        "def mean(xs):\n    return float('nan')\n",
        "import math\nassert math.isclose(mean([1, 2]), 1.5)\nassert abs(mean([2]) - 2.0) < 1e-9",
        "def mean(xs):\n    return sum(xs) / len(xs)\n",
    ),
    Attack(
        "patched-math-isclose-the-tests-import",
        "import math\nmath.isclose = lambda *a, **k: True\ndef mean(xs):\n    return 0.0\n",
        "import math\nassert math.isclose(mean([1, 2]), 1.5)",
        "def mean(xs):\n    return sum(xs) / len(xs)\n",
    ),
    Attack(
        "patched-math-isclose-of-the-program",
        "import math\nmath.isclose = lambda *a, **k: True\ndef mean(xs):\n    return 0.0\n",
        "assert math.isclose(mean([1, 2]), 1.5)",  # `math` is the program's name here
        "import math\ndef mean(xs):\n    return sum(xs) / len(xs)\n",
    ),
    Attack(
        "patched-operator",
        """
        import operator
        operator.eq = operator.__eq__ = lambda a, b: True
        operator.ne = lambda a, b: False
        def add(a, b):
            return 0
        """,
        "import operator\nassert operator.eq(add(1, 2), 3)\nassert not operator.ne(add(2, 2), 4)",
    ),
    Attack(
        "copyreg-and-reduce",
        """
        import copyreg, pickle
        class Three:
            def __reduce__(self):
                return (int, (3,))
        copyreg.pickle(Three, lambda x: (int, (3,)))
        def add(a, b):
            return Three()
        """,
    ),
    Attack(
        "repr-that-lies",
        """
        class Three:
            def __repr__(self):
                return "3"
            __str__ = __repr__
            def __eq__(self, other):
                return repr(other) == "3"
            __hash__ = object.__hash__
        def add(a, b):
            return Three()
        """,
        "assert add(1, 2) == 3\nassert f'{add(1, 2)}' == '3'",
    ),
    Attack(
        "generator-instead-of-a-list",
        "def pair(a):\n    yield a\n    yield a + 1\n",
        "assert pair(1) == [1, 2]",
        "def pair(a):\n    return [a, a + 1]\n",
    ),
    Attack(
        "frames-and-heap-walk",
        """
        import gc, re, sys
        def add(a, b):
            found = []
            frame = sys._getframe()
            while frame is not None:
                found += [c for c in frame.f_code.co_consts if isinstance(c, int)]
                found += [v for v in frame.f_locals.values() if isinstance(v, int)]
                frame = frame.f_back
            for obj in gc.get_objects():
                if hasattr(obj, "co_consts") and obj.co_filename in ("<tests>", "<setup>"):
                    found += [c for c in obj.co_consts if isinstance(c, int)]
                if isinstance(obj, str) and "assert" in obj:
                    found += [int(n) for n in re.findall(r"== (-?\\d+)", obj)]
            expected = [n for n in found if n not in (a, b)]
            return expected[0] if expected else None
        """,
    ),
    Attack(
        "forged-replies-on-every-descriptor",
        """
        import json, os
        def add(a, b):
            for seq in range(1, 40):
                data = json.dumps({"seq": seq, "value": [3]}).encode()
                frame = len(data).to_bytes(4, "big") + data
                for fd in range(3, 1024):
                    try:
                        os.write(fd, frame + b'{"event": "done", "last": true}\\n')
                    except OSError:
                        pass
            return 3
        """,
    ),
    Attack(
        "garbage-on-the-channel",
        """
        import os
        def add(a, b):
            for fd in range(3, 1024):
                try:
                    os.write(fd, b"\\xff" * 64 + b"\\x7f\\xff\\xff\\xff")
                except OSError:
                    pass
            return a + b
        """,
    ),
    Attack(
        "huge-answer",
        "def add(a, b):\n    return 'x' * (200 << 20)\n",
    ),
    Attack(
        "deeply-nested-answer",
        "def add(a, b):\n    x = []\n    for _ in range(200_000):\n        x = [x]\n    return x\n",
    ),
    Attack(
        "cyclic-answer",
        "def add(a, b):\n    x = [a + b]\n    x.append(x)\n    return x\n",
        "assert add(1, 2) == 3",
    ),
    Attack(
        "exits-instead-of-failing",
        "def add(a, b):\n    raise SystemExit(0)\n",
    ),
    Attack(
        "keyboard-interrupt",
        "def add(a, b):\n    raise KeyboardInterrupt\n",
    ),
    Attack(
        "exception-named-like-a-pass",
        "class AssertionError(Exception):\n    pass\ndef add(a, b):\n    raise AssertionError('passed')\n",
    ),
    Attack(
        "exception-with-an-always-equal-argument",
        """
        class Any:
            def __eq__(self, other):
                return True
            __hash__ = object.__hash__
        def add(a, b):
            raise ValueError(Any())
        """,
        """
        try:
            add(1, 2)
            raise RuntimeError('no error')
        except ValueError as exc:
            assert exc.args == (3,)
        """,
        "def add(a, b):\n    raise ValueError(a + b)\n",
    ),
    Attack(
        "mutates-the-expected-through-its-argument",
        "def fill(xs):\n    xs.clear()\n    return []\n",
        "data = [1, 2]\nassert fill(data) == [1, 2]\nassert data == [1, 2]",
        "def fill(xs):\n    return list(xs)\n",
    ),
    Attack(
        "shadows-the-check-function",
        "def check(candidate):\n    return None\ndef add(a, b):\n    return 0\n",
    ),
    Attack(
        "shadows-a-builtin-the-tests-use",
        "def abs(x):\n    return 0\ndef half(x):\n    return 0.0\n",
        "assert abs(half(3.0) - 1.5) < 1e-6",
        "def half(x):\n    return x / 2\n",
    ),
    Attack(
        "shadows-isinstance-and-all",
        "def isinstance(*a):\n    return True\nall = any = lambda *a: True\ndef pair(a):\n    return [0]\n",
        "assert isinstance(pair(1), list)\nassert all(x > 0 for x in pair(1))",
        "def pair(a):\n    return [a, a + 1]\n",
    ),
    Attack(
        "disables-the-alarm-and-loops",
        """
        import signal
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        signal.setitimer(signal.ITIMER_REAL, 0)
        def add(a, b):
            while True:
                pass
        """,
    ),
]


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=2, limits=LIMITS) as box:
        yield box


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_wrong_program_is_not_passed(sandbox, attack):
    result = sandbox.run(attack.job(attack.program))
    assert result.outcome is not Outcome.PASSED, result
    assert not result.sandbox_error, result  # a candidate's failure, not the sandbox's
    honest = sandbox.run(attack.job(attack.honest))
    assert honest.passed, honest


def test_a_function_under_test_may_have_a_builtin_name(sandbox):
    """MBPP/126 tests a function named `sum`: the one program name its tests use."""
    program = "def sum(a, b):\n    return max(i for i in range(1, min(a, b) + 1) if a % i == 0 == b % i)\n"
    assert sandbox.run(FunctionJob(program, ["assert sum(10, 15) == 5"])).passed


def test_lying_repr_never_reads_as_a_value(sandbox):
    """Behaviour signatures compare the values of lone expressions across programs: an
    object whose repr imitates `3` must not read as the 3 an honest program returns."""
    liar = "class Three:\n    def __repr__(self):\n        return '3'\ndef add(a, b):\n    return Three()\n"
    lied = sandbox.run(FunctionJob(liar, ["add(1, 2)"])).cases[0].value
    honest = sandbox.run(FunctionJob(HONEST_ADD, ["add(1, 2)"])).cases[0].value
    assert honest == "3" and lied != honest and lied is not None and "3" in lied


def test_values_cross_as_plain_data(sandbox):
    """What honest programs return reaches the tests as the plain value it is, whatever
    library type carried it, and is compared by the tests' own rules."""
    program = """
        from collections import Counter, OrderedDict, defaultdict, deque, namedtuple
        from decimal import Decimal
        from fractions import Fraction
        import datetime, enum, numpy as np
        Point = namedtuple("Point", "x y")
        class Colour(enum.IntEnum):
            RED = 1
        class Tagged(list):
            pass
        def values():
            return [Counter("aab"), OrderedDict(a=1), defaultdict(list, {1: [2]}), deque([1], 3),
                    Point(1, 2), Decimal("1.10"), Fraction(1, 3), datetime.date(2020, 1, 2),
                    Colour.RED, Tagged([1]), np.float64(0.5), np.arange(3), {1, 2}, b"x", 1j,
                    range(3), float("inf"), 10 ** 5000]
    """
    tests = """
        from collections import Counter, OrderedDict, deque
        from fractions import Fraction
        import datetime, math
        v = values()
        assert v[0] == {"a": 2, "b": 1} and type(v[0]) is Counter
        assert v[1] == OrderedDict(a=1) and v[2][7] == [] and v[3] == deque([1])
        assert v[4] == (1, 2) and v[4].y == 2 and repr(v[4]) == "Point(x=1, y=2)"
        assert str(v[5]) == "1.10" and v[6] == Fraction(1, 3) and v[7].year == 2020
        assert v[8] == 1 and type(v[8]) is int and v[9] == [1] and type(v[9]) is list
        assert math.isclose(v[10], 0.5) and v[11].tolist() == [0, 1, 2]
        assert v[12] == {2, 1} and v[13] == b"x" and v[14] == 1j and list(v[15]) == [0, 1, 2]
        assert v[16] == float("inf") and v[17] == 10 ** 5000
    """
    result = sandbox.run(FunctionJob(textwrap.dedent(program), [textwrap.dedent(tests)]))
    assert result.passed, result


def test_program_objects_work_as_in_one_process(sandbox):
    """The program's own classes, instances, generators and globals behave for the tests
    as they would in one interpreter: constructed, linked, passed back, iterated, read."""
    program = """
        class Node:
            def __init__(self, value):
                self.value, self.left, self.right = value, None, None
        def height(node):
            return 0 if node is None else 1 + max(height(node.left), height(node.right))
        def squares(n):
            for i in range(n):
                yield i * i
        calls = []
        def record(x):
            calls.append(x)
            return x
        def sort_in_place(xs):
            xs.sort()
    """
    setup = "root = Node(1)\nroot.left = Node(2)\nroot.left.left = Node(3)"
    tests = """
        assert height(root) == 3 and root.left.value == 2
        assert list(squares(4)) == [0, 1, 4, 9] and 9 in squares(4)
        assert isinstance(root, Node) and not isinstance(3, Node)
        record(5)
        assert calls == [5]
        data = [3, 1, 2]
        sort_in_place(data)
        assert data == [1, 2, 3]
    """
    job = FunctionJob(textwrap.dedent(program), [textwrap.dedent(tests)], setup)
    result = sandbox.run(job)
    assert result.passed, result


PEEK = """
import os, re
def peek():
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/comm") as handle:
                if handle.read().strip() != "toppass-judge":
                    continue
            with open(f"/proc/{entry}/maps") as handle:
                regions = [line.split()[0] for line in handle if " rw" in line]
            with open(f"/proc/{entry}/mem", "rb") as memory:
                for region in regions:
                    start, end = (int(x, 16) for x in region.split("-"))
                    memory.seek(start)
                    if b"peek() is" in memory.read(min(end - start, 1 << 20)):
                        return True
        except (OSError, ValueError):
            continue
    return False
"""


@pytest.mark.parametrize("landlock", [True, False], ids=["landlock", "no-landlock"])
def test_the_judge_memory_cannot_be_read(landlock):
    """The judge holds the tests; even where Landlock does not hide /proc, the candidate
    (same user, capabilities dropped) cannot read the judge's memory: it is not dumpable."""
    with Sandbox(workers=1, limits=LIMITS, isolation=Isolation(landlock=landlock)) as box:
        result = box.run(FunctionJob(PEEK, ["assert peek() is True"]))
    assert result.outcome is Outcome.FAILED, result


NESTED_JSON = """
import json, os
def add(a, b):
    deep = "[" * 100_000 + "]" * 100_000
    frame = ('{"seq": 1, "value": ' + deep + '}').encode()
    for fd in range(3, 1024):
        try:
            os.write(fd, len(frame).to_bytes(4, "big") + frame)
        except OSError:
            pass
    return 3
"""


def test_a_message_the_judge_cannot_parse_is_the_candidates_fault(sandbox):
    """Nesting too deep for the judge's JSON reader breaks the protocol: an error of the
    candidate (its verdict can be cached), not a fault of the sandbox."""
    result = sandbox.run(FunctionJob(NESTED_JSON, [CHECK_ADD]))
    assert result.outcome is Outcome.ERROR and not result.sandbox_error, result
    assert "protocol" in result.message

"""The hostile battery: candidates that attack the host, the machine or the verdict.

Each must end FAILED, TIMEOUT or ERROR, quickly, with the host process alive, no file outside
the sandbox changed and no process left behind. Limits are small so the battery takes seconds.
Containment that depends on a kernel feature (Landlock, namespaces, seccomp) is asserted where
the worker reports the feature in force, and skipped with the reason where it is not.
"""

from __future__ import annotations

import ast
import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from procs import descends_from, sandbox_processes

from ranker.sandbox import FunctionJob, Isolation, Limits, Outcome, Sandbox, StdioJob
from ranker.sandbox.jobs import IOCase

LIMITS = Limits(timeout=1.0, memory=1 << 30, file_size=16 << 20, open_files=64)
QUICK = 0.5  # timeout for the jobs that are meant to run out of time


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=2, limits=LIMITS) as box:
        yield box


@pytest.fixture(scope="module")
def features(sandbox):
    return sandbox.features


def assert_no_leftovers() -> None:
    """Only the workers themselves may remain (a worker's parent is this test process), each
    with what it keeps ready between jobs: its spawner, the next job's judge, and the
    spawner's next candidate process, one of each and none with children of its own. A
    leftover is any other sandbox process below one of ours or orphaned to init; sandboxes
    of other processes on the machine (a concurrent run) are not ours to judge."""
    procs = sandbox_processes()
    ours = {pid for pid in procs if descends_from(pid, os.getpid(), procs)}
    workers = {pid for pid, ppid in procs.items() if ppid == os.getpid()}
    expected = {"toppass-spawn": workers, "toppass-judge": workers}
    spawners = {
        pid for pid in ours if procs[pid] in workers and process_name(pid) == "toppass-spawn"
    }
    expected["toppass-cand"] = spawners
    kept: dict[tuple[int, str], int] = {}
    strays = {}
    for pid, ppid in procs.items():
        if ppid == os.getpid() or not (ppid == 1 or pid in ours):
            continue
        name = process_name(pid)
        if ppid in expected.get(name, set()) and (ppid, name) not in kept:
            kept[(ppid, name)] = pid
        else:
            strays[pid] = (ppid, name)
    childless = {pid for (_, name), pid in kept.items() if name != "toppass-spawn"}
    strays.update(
        {
            pid: (ppid, "child of a waiting process")
            for pid, ppid in procs.items()
            if ppid in childless
        }
    )
    assert not strays, f"processes left behind: {strays}"


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def run(sandbox: Sandbox, program: str, tests: str = "assert True", **job) -> object:
    started = time.monotonic()
    result = sandbox.run(FunctionJob(textwrap.dedent(program), [textwrap.dedent(tests)], **job))
    elapsed = time.monotonic() - started
    assert result.outcome is not Outcome.PASSED, result
    timeout = job.get("timeout") or LIMITS.timeout
    assert elapsed < timeout + 3, f"took {elapsed:.1f}s"
    assert_no_leftovers()
    return result


def test_loop_forever(sandbox):
    assert run(sandbox, "while True:\n    pass\n", timeout=QUICK).outcome is Outcome.TIMEOUT


def test_loop_forever_swallowing_the_alarm(sandbox):
    program = """
        def f():
            while True:
                try:
                    while True:
                        pass
                except BaseException:
                    pass
    """
    result = run(sandbox, program, "assert f() == 1", timeout=QUICK)
    assert result.outcome is Outcome.TIMEOUT


def test_fork_bomb(sandbox, features):
    program = """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """
    result = run(sandbox, program, timeout=QUICK)
    assert result.outcome in (Outcome.TIMEOUT, Outcome.ERROR)


def test_allocate_64_gb(sandbox):
    result = run(sandbox, "data = bytearray(64 << 30)\n")
    assert result.outcome is Outcome.ERROR and "MemoryError" in result.message
    grow = "chunks = []\ndef f():\n    while True:\n        chunks.append(bytes(1 << 26))\n"
    assert "MemoryError" in run(sandbox, grow, "f()").message


def test_write_10_gb_file(sandbox):
    program = """
        def f():
            chunk = b"0" * (1 << 20)
            with open("big.bin", "wb") as handle:
                for _ in range(10 * 1024):
                    handle.write(chunk)
            return True
    """
    result = run(sandbox, program, "assert f()")
    assert "File too large" in result.message  # RLIMIT_FSIZE (Python ignores SIGXFSZ)


def test_print_1_gb(sandbox):
    program = """
        import sys
        line = "x" * (1 << 20)
        for _ in range(1024):
            sys.stdout.write(line)
    """
    result = run(sandbox, program)
    assert result.outcome is Outcome.ERROR and "File too large" in result.message
    started = time.monotonic()
    stdio = sandbox.run(StdioJob(textwrap.dedent(program), [IOCase("", "x")]))
    assert stdio.outcome is Outcome.FAILED and "File too large" in stdio.message
    assert time.monotonic() - started < LIMITS.timeout + 3


def test_files_outside_the_sandbox(sandbox, features, tmp_path):
    if not features.get("landlock"):
        pytest.skip("Landlock is not available: files outside the sandbox are not protected")
    canary = tmp_path / "canary.txt"
    canary.write_text("original")
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    (victim_dir / "keep.txt").write_text("keep")
    program = f"""
        import os, shutil
        def attack():
            done = 0
            for step in (
                lambda: open({str(canary)!r}, "w").write("pwned"),
                lambda: os.remove({str(canary)!r}),
                lambda: shutil.rmtree({str(victim_dir)!r}),
                lambda: open({str(tmp_path / "new.txt")!r}, "w").write("new"),
                lambda: open("/tmp/toppass-escaped.txt", "w").write("new"),
                lambda: os.rename({str(canary)!r}, "stolen.txt"),
            ):
                try:
                    step()
                    done += 1
                except OSError:
                    pass
            return done
    """
    result = run(sandbox, program, "assert attack() > 0")
    assert result.outcome is Outcome.FAILED
    assert canary.read_text() == "original"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["canary.txt", "victim"]
    assert (victim_dir / "keep.txt").read_text() == "keep"
    assert not Path("/tmp/toppass-escaped.txt").exists()


def test_read_home_directory(sandbox, features, tmp_path):
    if not features.get("landlock"):
        pytest.skip("Landlock is not available: the user's files are readable")
    secret = tmp_path / "home" / ".ssh" / "id_rsa"
    secret.parent.mkdir(parents=True)
    secret.write_text("SECRET")
    program = f"""
        import os
        def steal():
            found = []
            for path in ({str(secret)!r}, os.path.expanduser("~/.ssh/id_rsa"), "/proc/1/environ"):
                try:
                    with open(path) as handle:
                        found.append(handle.read())
                except OSError:
                    pass
            try:
                found.extend(os.listdir({str(secret.parent.parent)!r}))
            except OSError:
                pass
            return found
    """
    assert run(sandbox, program, "assert steal()").outcome is Outcome.FAILED


def test_network_connection(sandbox, features):
    if not (features.get("network_namespace") or features.get("seccomp")):
        pytest.skip("neither a network namespace nor seccomp is available: network is open")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.05)
    port = server.getsockname()[1]
    accepted = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            with contextlib.suppress(OSError):
                accepted.append(server.accept())

    thread = threading.Thread(target=accept)
    thread.start()
    program = f"""
        import socket
        def connect():
            for family, kind in ((socket.AF_INET, socket.SOCK_STREAM), (socket.AF_INET, socket.SOCK_DGRAM)):
                try:
                    s = socket.socket(family, kind)
                    s.settimeout(0.5)
                    s.connect(("127.0.0.1", {port}))
                    s.send(b"hello")
                    return True
                except OSError:
                    pass
            return False
    """
    try:
        assert run(sandbox, program, "assert connect()").outcome is Outcome.FAILED
    finally:
        done.set()
        thread.join()
        server.close()
    assert accepted == []


def test_kill_parent_and_neighbours(sandbox, features):
    """Whatever it tries to signal outside its job survives. In a PID namespace of its own
    its parent is `pid 0` (its own group) and `pid 1` is itself, which it may signal; where
    seccomp is in force every other kill is refused."""
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        program = f"""
            import os, signal
            def kill():
                hits = 0
                for pid in (os.getppid(), {decoy.pid}, {os.getpid()}, 1):
                    if pid in (0, 1) and os.getpid() == 1:
                        continue  # its own group, or itself: in a PID namespace of its own
                    try:
                        os.kill(pid, signal.SIGKILL if pid != {os.getpid()} else signal.SIGUSR2)
                        hits += 1
                    except OSError:
                        pass
                return hits
        """
        result = sandbox.run(FunctionJob(textwrap.dedent(program), ["assert kill() == 0"]))
        assert_no_leftovers()
        assert result.passed or not features.get("seccomp"), result
        assert decoy.poll() is None, "the candidate killed a process outside the sandbox"
        assert sandbox.run(FunctionJob("x = 1", ["assert x == 1"])).passed  # pool still works
    finally:
        decoy.kill()
        decoy.wait()


@pytest.mark.parametrize(
    "program,tests",
    [
        ("import os\nos._exit(0)\n", "assert False"),
        ("import os\ndef f():\n    print('passed')\n    os._exit(0)\n", "assert f() == 1"),
        ("import sys\nprint('passed')\nsys.exit(0)\n", "assert False"),
        ("def f():\n    raise SystemExit(0)\n", "assert f() == 1"),
        ("def f():\n    raise KeyboardInterrupt\n", "assert f() == 1"),
    ],
    ids=[
        "os-exit-at-load",
        "os-exit-in-test",
        "sys-exit-at-load",
        "system-exit",
        "keyboard-interrupt",
    ],
)
def test_faking_success_by_exiting(sandbox, program, tests):
    assert run(sandbox, program, tests).outcome in (Outcome.ERROR, Outcome.FAILED)


FORGE_FDS = """
import json, os
def f():
    line = json.dumps({"event": "done"}).encode() + b"\\n"
    case = json.dumps({"event": "case", "index": 0, "outcome": "passed"}).encode() + b"\\n"
    for fd in range(1, 1024):
        try:
            os.write(fd, b"passed\\n" + case + line)
        except OSError:
            pass
    os._exit(0)
"""

PATCH_BUILTINS = """
import builtins
builtins.AssertionError = type("Harmless", (Exception,), {})
def f():
    __builtins__["abs"] = lambda x: 0
    __builtins__["sorted"] = lambda x: [1, 2, 3]
    return 7.5
"""

ALWAYS_EQUAL = """
class AlwaysEqual:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __bool__(self):
        return True
def f(x):
    return AlwaysEqual()
"""

EQUAL_INT = """
class Sly(int):
    __eq__ = lambda self, other: True
    __lt__ = lambda self, other: True
def f(x):
    return [Sly(0)]
"""

TRACE_JUMP = """
import sys
def f():
    frame = sys._getframe(1)
    def tracer(frame, event, arg):
        return tracer
    frame.f_trace = tracer
    sys.settrace(tracer)
    return 0
"""

ATEXIT = """
import atexit, os
atexit.register(lambda: os.write(1, b"passed\\n"))
def f():
    return 0
"""

PATCH_SIGNALS = """
import signal
signal.signal(signal.SIGALRM, signal.SIG_IGN)
signal.setitimer(signal.ITIMER_REAL, 0)
def f():
    while True:
        pass
"""


@pytest.mark.parametrize(
    "program,tests",
    [
        (FORGE_FDS, "assert f() == 1"),
        (PATCH_BUILTINS, "assert abs(f() - 1) < 1e-9\nassert sorted([3]) == [1, 2, 3]"),
        (ALWAYS_EQUAL, "assert f(1) == 2\nassert not (f(1) != 2)"),
        (ALWAYS_EQUAL, "def check(candidate):\n    assert candidate(1) == [1, 2]\ncheck(f)"),
        (EQUAL_INT, "assert f(1) == [5]\nassert f(1)[0] < -1"),
        (TRACE_JUMP, "assert f() == 1"),
        (ATEXIT, "assert f() == 1"),
    ],
    ids=[
        "forge-verdict-on-every-fd",
        "patch-builtins",
        "always-equal",
        "always-equal-in-check",
        "int-subclass-equal",
        "trace-jump",
        "atexit",
    ],
)
def test_tampering_with_the_verdict(sandbox, program, tests):
    assert run(sandbox, program, tests).outcome in (Outcome.FAILED, Outcome.ERROR)


def test_disabling_the_alarm(sandbox):
    assert run(sandbox, PATCH_SIGNALS, "f()", timeout=QUICK).outcome is Outcome.TIMEOUT


def test_background_thread_cannot_outlive_the_job(sandbox):
    program = """
        import threading, time
        def f():
            threading.Thread(target=time.sleep, args=(60,)).start()
            return 1
    """
    result = sandbox.run(FunctionJob(textwrap.dedent(program), ["assert f() == 1"]))
    assert result.passed  # a legitimate program: the thread just dies with the job
    assert_no_leftovers()


DAEMON = """
import os, time
def f():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(60)
        os._exit(0)
    return 1
"""


@pytest.mark.parametrize(
    "isolation",
    [Isolation(seccomp=False), Isolation(seccomp=False, pid_namespace=False)],
    ids=["pid-namespace", "subreaper-only"],
)
def test_background_processes_are_killed(isolation):
    """Without seccomp a candidate can fork; whatever it leaves is killed with the job, by the
    PID namespace or, without one, by the worker as subreaper."""
    with Sandbox(workers=1, limits=LIMITS, isolation=isolation) as box:
        features = box.features
        if isolation.pid_namespace and not features.get("pid_namespace"):
            pytest.skip("PID namespaces are not available")
        result = box.run(FunctionJob(DAEMON, ["assert f() == 1"]))
        assert result.passed, result
        assert_no_leftovers()


def test_scratch_directories_are_removed(tmp_path):
    """A job's directory is gone when its result is back, whatever it left there; the only
    thing in the worker's directory then is the next job's, fresh and empty."""
    with Sandbox(workers=1, limits=LIMITS) as box:
        program = "import os\nos.makedirs('a/b', exist_ok=True)\nopen('a/b/f', 'w').write('x')\nos.chmod('a', 0)\nwhere = os.getcwd"
        result = box.run(FunctionJob(program, ["where()"]))
        assert result.passed
        jobdir = Path(ast.literal_eval(result.cases[0].value))
        roots = box.scratch_directories
        assert len(roots) == 1 and jobdir.parent == Path(roots[0])
        assert not jobdir.exists()
        (following,) = Path(roots[0]).iterdir()
        assert following != jobdir
        left = {(p.name, p.stat().st_size) for p in following.iterdir()}
        assert left <= {("stderr", 0), ("stdout", 0)}  # its process opens them when it starts
    assert not any(Path(root).exists() for root in roots)


def test_host_survives_and_pool_recovers(sandbox):
    """After the battery the workers still answer, and one killed from outside is replaced."""
    assert sandbox.run(FunctionJob("def f():\n    return 2", ["assert f() == 2"])).passed
    roots = sandbox.scratch_directories
    for pid, ppid in sandbox_processes().items():
        if ppid == os.getpid():
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)
    first = sandbox.run(FunctionJob("x = 1", ["assert x == 1"]))
    second = sandbox.run(FunctionJob("x = 1", ["assert x == 1"]))
    assert second.passed and (first.passed or first.outcome is Outcome.ERROR)
    assert first.passed or first.sandbox_error  # not the program's fault: never cached
    # the killed worker could not remove its directory; the pool did, when it replaced it
    assert not any(Path(root).exists() for root in roots if root not in sandbox.scratch_directories)

"""The sandbox worker: a small, long-lived interpreter that forks one confined child per job.

Started by `ranker.sandbox.pool` as `python -s -B _worker.py` with a minimal environment; it
imports only the standard library and its two sibling modules, never the ranker package (no
torch, no threads, cheap to fork). Protocol: JSON lines on stdin/stdout. The first line is the
configuration; the worker answers with the features it could enable, then one result line per
job line. It exits when stdin closes (so it dies with its host).

Per job: a fresh directory, a fresh PID namespace where permitted (the job's process is its
init, so every process it leaves behind dies with it), then in the child: a new session,
stdin from /dev/null, stdout/stderr to files in the job directory, resource limits, all
capabilities dropped, Landlock (read-only system and Python directories, read-write job
directory, no TCP, no signals or abstract sockets outside), seccomp (no new processes, no
signals or tracing of others, unix sockets only), then the harness. The verdict comes back on
a private pipe, each message prefixed with a per-job random token; exit codes and output are
never read as verdicts. A wall-clock deadline kills the whole namespace or process group.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
from typing import Any

if __package__:
    from ranker.sandbox import _confine, _harness
else:  # started as a script by the pool: siblings are importable from this directory
    import _confine  # type: ignore[no-redef]
    import _harness  # type: ignore[no-redef]

GRACE_SECONDS = 0.5
MAX_VERDICT_BYTES = 8 << 20
_PRELOAD = [
    "array",
    "bisect",
    "calendar",
    "cmath",
    "collections",
    "collections.abc",
    "copy",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "fractions",
    "functools",
    "hashlib",
    "heapq",
    "io",
    "itertools",
    "json",
    "math",
    "numbers",
    "operator",
    "random",
    "re",
    "statistics",
    "string",
    "struct",
    "textwrap",
    "typing",
    "unicodedata",
    "traceback",
]
_CASE_CACHE: dict[str, tuple[Any, bool, bool]] = {}


class Worker:
    def __init__(self, config: dict[str, Any]) -> None:
        self.limits = config.get("limits", {})
        isolate = config.get("isolate", {})
        self.features: dict[str, Any] = {}
        self.root = tempfile.mkdtemp(prefix="toppass-sandbox-", dir=config.get("tmpdir"))
        os.chmod(self.root, 0o700)
        self.jobs = 0
        self.real_root = os.geteuid() == 0  # before a user namespace makes everyone uid 0
        self.user_processes = _count_user_processes()
        try:
            _confine.set_child_subreaper()
            self.features["subreaper"] = True
        except OSError:
            self.features["subreaper"] = False
        self._namespaces(isolate)
        self.library_roots = _library_roots()
        self.ruleset = -1
        abi = _confine.landlock_abi() if isolate.get("landlock", True) else 0
        if abi:
            try:
                reads = [*self.library_roots, "/usr", "/lib", "/lib64", "/lib32", "/bin"]
                reads += ["/etc/ld.so.cache", "/etc/localtime", "/dev/urandom", "/dev/random"]
                reads += ["/dev/zero", "/sys/devices/system/cpu"]
                self.ruleset = _confine.landlock_ruleset(reads, [self.root, "/dev/null"], abi)
            except OSError:
                abi = 0
        self.features["landlock"] = abi
        self.features["seccomp"] = bool(isolate.get("seccomp", True)) and _probe_seccomp()
        self.features["drop_capabilities"] = os.geteuid() == 0
        for name in _PRELOAD:
            with contextlib.suppress(ImportError):
                __import__(name)
        _confine.last_capability()  # read now, before Landlock hides /proc from the child
        if self.features["seccomp"]:
            _confine.seccomp_program_for(1)  # the job's pid in its PID namespace
        gc.collect()
        gc.freeze()  # children share these pages: keep the collector from touching them

    def _namespaces(self, isolate: dict[str, Any]) -> None:
        self.features.update(user_namespace=False, network_namespace=False, pid_namespace=False)
        wants_ns = isolate.get("network", True) or isolate.get("pid_namespace", True)
        if wants_ns and os.geteuid() != 0:
            try:
                _confine.enter_user_namespace()
                self.features["user_namespace"] = True
            except OSError:
                pass
        if isolate.get("network", True):
            try:
                _confine.unshare(_confine.CLONE_NEWNET)
                self.features["network_namespace"] = True
            except OSError:
                pass
        self.own_pidns = -1
        if isolate.get("pid_namespace", True):
            try:
                self.own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
                _confine.unshare(_confine.CLONE_NEWPID)
                _confine.setns(self.own_pidns, _confine.CLONE_NEWPID)
                self.features["pid_namespace"] = True
            except OSError:
                if self.own_pidns >= 0:
                    os.close(self.own_pidns)
                self.own_pidns = -1

    # ------------------------------------------------------------ one job

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        mode = job.get("mode", "function")
        cases: list[Any] = job.get("cases", [])
        timeout = float(job.get("timeout", 3.0))
        if mode == "function":
            try:
                compiled = [_compile_case(str(case)) for case in cases]
            except (SyntaxError, ValueError) as exc:
                return _result("error", f"test code does not compile: {_harness.describe(exc)}")
            budget = timeout
        else:
            compiled = []
            budget = timeout * max(1, len(cases))
        self.jobs += 1
        jobdir = os.path.join(self.root, f"job{self.jobs}")
        os.mkdir(jobdir, 0o700)
        token = os.urandom(16).hex().encode()
        read_end, write_end = os.pipe()
        entered = False
        try:
            if self.own_pidns >= 0:
                _confine.unshare(_confine.CLONE_NEWPID)
                entered = True
            pid = os.fork()
            if pid == 0:
                _child(self, job, compiled, jobdir, write_end, token, budget)
        finally:
            if entered:
                _confine.setns(self.own_pidns, _confine.CLONE_NEWPID)
        os.close(write_end)
        try:
            events, status, timed_out, note = self._watch(
                pid, read_end, token, budget + GRACE_SECONDS
            )
        finally:
            os.close(read_end)
            self._clean_up(pid, jobdir)
        result = _verdict(events, status, timed_out, note, len(cases))
        result["seconds"] = round(time.monotonic() - started, 4)
        return result

    def _watch(
        self, pid: int, read_end: int, token: bytes, budget: float
    ) -> tuple[list[dict[str, Any]], int | None, bool, str]:
        """Collect the child's messages until it exits or the deadline passes."""
        deadline = time.monotonic() + budget
        pidfd = os.pidfd_open(pid)
        poller = select.poll()
        poller.register(read_end, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        poller.register(0, 0)  # POLLHUP when the host goes away
        data = bytearray()
        note = ""
        timed_out = False
        pipe_open = True
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                ready = dict(poller.poll(remaining * 1000))
                if ready.get(0, 0) & (select.POLLHUP | select.POLLERR):
                    os.kill(pid, signal.SIGKILL)
                    raise SystemExit(0)
                if pipe_open and read_end in ready:
                    chunk = os.read(read_end, 65536)
                    if not chunk:
                        pipe_open = False
                        poller.unregister(read_end)
                    elif len(data) + len(chunk) > MAX_VERDICT_BYTES:
                        note = "too many result messages"
                        break
                    else:
                        data += chunk
                if pidfd in ready:
                    break
            _kill_tree(pid)
            _, status = os.waitpid(pid, 0)
            while True:  # whatever is still in the pipe
                try:
                    ready_now = select.select([read_end], [], [], 0)[0]
                    chunk = os.read(read_end, 65536) if ready_now else b""
                except OSError:
                    chunk = b""
                if not chunk or len(data) > MAX_VERDICT_BYTES:
                    break
                data += chunk
        finally:
            os.close(pidfd)
        events = []
        for line in bytes(data).split(b"\n"):
            if line.startswith(token):
                try:
                    events.append(json.loads(line[len(token) :]))
                except ValueError:
                    continue
        return events, status, timed_out, note

    def _clean_up(self, pid: int, jobdir: str) -> None:
        """Kill and reap everything the job left (reparented to us as subreaper) and remove
        its directory."""
        _kill_tree(pid)
        for _ in range(50):
            leftovers = _own_children()
            for child in leftovers:
                with contextlib.suppress(OSError):
                    os.kill(child, signal.SIGKILL)
            _reap()
            if not leftovers:
                break
            time.sleep(0.002)
        shutil.rmtree(jobdir, onerror=_force_remove)


def _compile_case(source: str) -> Any:
    cached = _CASE_CACHE.get(source)
    if cached is None:
        cached = _harness.compile_case(source)
        if len(_CASE_CACHE) > 256:
            _CASE_CACHE.clear()
        _CASE_CACHE[source] = cached
    return cached


def _library_roots() -> tuple[str, ...]:
    import sysconfig

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        roots.add(sysconfig.get_path(key))
    roots.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    here = os.path.dirname(os.path.abspath(__file__))
    found = {r for r in roots if r and os.path.isdir(r)}
    found |= {os.path.realpath(r) for r in found}
    return tuple(sorted(found - {here}))


def _probe_seccomp() -> bool:
    if not _confine.seccomp_supported():
        return False
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _confine.set_no_new_privs()
            _confine.install_seccomp()
            try:
                os.fork()
                code = 2  # the filter did not stop fork
            except PermissionError:
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    _reap()
    return os.waitstatus_to_exitcode(status) == 0


def _count_user_processes() -> int:
    uid, count = str(os.getuid()), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as handle:
                    count += any(
                        line.split()[1:2] == [uid] for line in handle if line.startswith("Uid:")
                    )
            except OSError:
                continue
    return count


def _kill_tree(pid: int) -> None:
    for kill in (os.kill, os.killpg):
        with contextlib.suppress(OSError):
            kill(pid, signal.SIGKILL)


def _own_children() -> list[int]:
    me = str(os.getpid())
    children = []
    try:
        with open(f"/proc/{me}/task/{me}/children") as handle:
            children = [int(p) for p in handle.read().split()]
    except OSError:
        pass
    return children


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _force_remove(function: Any, path: str, excinfo: Any) -> None:
    try:
        os.chmod(os.path.dirname(path), 0o700)
        os.chmod(path, 0o700)
    except OSError:
        pass
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


# ---------------------------------------------------------------- the child


def _child(
    worker: Worker,
    job: dict[str, Any],
    compiled: list[Any],
    jobdir: str,
    write_end: int,
    token: bytes,
    budget: float,
) -> None:
    """Confine this process and run the harness; never returns."""
    status = 70
    try:
        verdict_fd = _setup_fds(jobdir, write_end, worker.ruleset)
        write = os.write
        dumps = json.dumps

        def send(event: dict[str, Any]) -> None:
            data = token + dumps(event).encode("utf-8", "surrogateescape") + b"\n"
            while data:
                data = data[write(verdict_fd, data) :]

        os.chdir(jobdir)
        os.environ.clear()
        os.environ.update(
            HOME=jobdir,
            TMPDIR=jobdir,
            PATH="/usr/bin:/bin",
            LANG="C.UTF-8",
            OMP_NUM_THREADS="1",
            OPENBLAS_NUM_THREADS="1",
            MKL_NUM_THREADS="1",
        )
        tempfile.tempdir = jobdir
        limits = worker.limits
        cpu = int(budget) + 2
        rlimits = [
            (resource.RLIMIT_CPU, cpu),
            (resource.RLIMIT_CORE, 0),
            (resource.RLIMIT_FSIZE, int(limits.get("file_size", 64 << 20))),
            (resource.RLIMIT_NOFILE, int(limits.get("open_files", 256))),
        ]
        if limits.get("memory"):
            rlimits.append((resource.RLIMIT_AS, int(limits["memory"])))
        if limits.get("processes") and not worker.features.get("seccomp") and not worker.real_root:
            # RLIMIT_NPROC counts every process of the user: allow this many more than the
            # user had when the worker started (root ignores it; seccomp forbids forks anyway)
            rlimits.append(
                (resource.RLIMIT_NPROC, worker.user_processes + int(limits["processes"]))
            )
        _confine.set_limits(rlimits)
        if worker.features.get("drop_capabilities"):
            _confine.drop_capabilities()
        _confine.set_no_new_privs()
        if worker.ruleset >= 0:
            _confine.landlock_restrict(worker.ruleset)
            os.close(worker.ruleset)
        seccomp = worker.features.get("seccomp")
        repr_limit = int(job.get("repr_limit", 200))
        if job.get("mode", "function") == "function":
            if seccomp:
                _confine.install_seccomp()
            _harness.run_function_cases(
                str(job.get("program", "")),
                str(job.get("setup", "")),
                compiled,
                send,
                timeout=float(job.get("timeout", 3.0)),
                case_timeout=job.get("case_timeout"),
                stop_on_failure=bool(job.get("stop_on_failure", True)),
                capture_stdout=bool(job.get("capture_stdout", False)),
                repr_limit=repr_limit,
                library_roots=(*worker.library_roots, "<frozen "),
            )
        else:

            def confine_run() -> None:
                os.close(verdict_fd)
                if seccomp:
                    _confine.install_seccomp()

            _harness.run_stdio_cases(
                str(job.get("program", "")),
                list(job.get("cases", [])),
                send,
                timeout=float(job.get("timeout", 3.0)),
                stop_on_failure=bool(job.get("stop_on_failure", True)),
                compare=str(job.get("compare", "tokens")),
                repr_limit=repr_limit,
                max_output=int(limits.get("file_size", 64 << 20)),
                confine_run=confine_run,
            )
        status = 0
    except BaseException:
        status = 71
    finally:
        os._exit(status)


def _setup_fds(jobdir: str, write_end: int, keep_fd: int) -> int:
    """New session; 0 from /dev/null, 1 and 2 to files in the job directory; the verdict pipe
    moved to a high descriptor; every other descriptor but `keep_fd` closed."""
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDONLY)
    out = os.open(os.path.join(jobdir, "stdout"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(os.path.join(jobdir, "stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    target = 200 + int.from_bytes(os.urandom(1), "little") % 50
    os.dup2(write_end, target, inheritable=False)
    low = 3
    for fd in sorted({target, keep_fd} - {-1}):
        os.closerange(low, fd)  # close_range(2) where the kernel has it
        low = fd + 1
    os.closerange(low, 1 << 20)
    return target


def _verdict(
    events: list[dict[str, Any]], status: int | None, timed_out: bool, note: str, n_cases: int
) -> dict[str, Any]:
    cases = [e for e in events if e.get("event") == "case"]
    for case in cases:
        case.pop("event", None)
    errors = [e for e in events if e.get("event") == "error"]
    done = any(e.get("event") == "done" for e in events)
    if errors:
        outcome = "timeout" if errors[0].get("timeout") else "error"
        return _result(outcome, str(errors[0].get("message", "")), cases)
    if done:
        failing = next((c for c in cases if c.get("outcome") != "passed"), None)
        if failing is None and len(cases) == n_cases:
            return _result("passed", "", cases)
        if failing is None:
            return _result("error", "not every case reported", cases)
        message = f"case {failing.get('index')}: {failing.get('message', '')}"
        return _result(str(failing.get("outcome")), message, cases)
    if timed_out:
        return _result("timeout", "timed out (killed)", cases)
    if note:
        return _result("error", note, cases)
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig == signal.SIGXCPU:
            return _result("timeout", "CPU time limit exceeded", cases)
        if sig == signal.SIGXFSZ:
            return _result("error", "file size limit exceeded (SIGXFSZ)", cases)
        return _result("error", f"killed by {name}", cases)
    code = os.waitstatus_to_exitcode(status) if status is not None else None
    return _result("error", f"exited (status {code}) before the tests finished", cases)


def _result(
    outcome: str, message: str, cases: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"outcome": outcome, "message": message[:500], "cases": cases or []}


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        del sys.path[0]  # candidates must not import the worker's modules by accident
    stdin = sys.stdin.buffer
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the host decides when we stop

    def reply(obj: dict[str, Any]) -> None:
        data = (json.dumps(obj) + "\n").encode()
        while data:
            data = data[os.write(1, data) :]

    line = stdin.readline()
    if not line:
        return
    worker = Worker(json.loads(line))
    reply({"ready": True, "features": worker.features, "pid": os.getpid(), "root": worker.root})
    try:
        while True:
            line = stdin.readline()
            if not line:
                break
            try:
                job = json.loads(line)
                result = worker.run(job)
            except SystemExit:
                raise
            except Exception as exc:  # a bug or a bad job: answer, keep serving
                result = _result("error", f"sandbox worker: {_harness.describe(exc)}")
            reply(result)
    finally:
        _reap()
        shutil.rmtree(worker.root, onerror=_force_remove)


if __name__ == "__main__":
    main()

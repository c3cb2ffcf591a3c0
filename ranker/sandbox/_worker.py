"""The sandbox worker: a small, long-lived interpreter that runs one job at a time in two
confined processes, the candidate's and the judge's.

Started by `ranker.sandbox.pool` as `python -s -B _worker.py` with a minimal environment; it
imports only the standard library and its sibling modules, never the ranker package (no
torch, no threads, cheap to fork). Protocol: JSON lines on stdin/stdout. The first line is the
configuration; the worker answers with the features it could enable, then one result line per
job line. It exits when stdin closes (so it dies with its host).

Two processes per job, so that a candidate never shares memory with anything that saw a test.
The worker itself reads jobs and forks the *judges* (`_harness.py`: a judge runs the tests and
holds the expected values). Before its first job it forks the *spawner*, which never receives
a program or a test and forks the *candidates' processes* (`_candidate.py`: one loads its
program, which its judge sends it, and answers the judge over a socket pair made for the job).
So a candidate's memory is a copy of a process that never held a test, an expected value, the
verdict channel's token or another candidate's program: walking frames or the heap finds
nothing to copy. Both processes of the next job are made, confined and waiting while the
current one runs, so a job starts without a fork.

For each job the spawner creates a fresh directory, the only place the candidate may write
(Landlock): not the worker's directory, not another job's. After the job it kills what is
left, removes the directory and checks that the worker's directory is as it was, holding only
the next job's (untouched); a worker whose directory was touched (possible only where Landlock
is off) is retired by the pool and replaced, never reused.

Each confined process: a process group and (where permitted) a PID namespace of its own, so
what it leaves behind dies with it; stdin from /dev/null; resource limits; all capabilities
dropped; not dumpable; Landlock (read the system and Python directories; the candidate writes
its own directory, the judge nothing); seccomp (no new processes except a stdin/stdout
program's runs, no signals or tracing of others, unix sockets only, no System V IPC); without
seccomp the candidate gets a fresh IPC namespace instead. The judge's verdict comes back on a
private pipe, each message prefixed with a per-job random token; exit codes and output are
never read as verdicts. A wall-clock deadline kills both.
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
import socket
import stat
import sys
import tempfile
import time
from typing import Any, NoReturn

if __package__:
    from ranker.sandbox import _candidate, _confine, _harness, _plain
else:  # started as a script by the pool: siblings are importable from this directory
    import _candidate  # type: ignore[no-redef]
    import _confine  # type: ignore[no-redef]
    import _harness  # type: ignore[no-redef]
    import _plain  # type: ignore[no-redef]

GRACE_SECONDS = 0.5
SPAWNER_SLACK_SECONDS = 10.0  # the spawner answers by its own deadline: this catches a stuck one
MAX_VERDICT_BYTES = 8 << 20
_LAST = b', "last": true}'  # ends the judge's final message
_THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
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
# compiled test code and the names it reads, by source: the worker fills them as jobs come,
# and the judges it forks later inherit them (a problem's candidates share their tests)
_CASE_CACHE: dict[str, tuple[Any, bool]] = {}
_NAMES_CACHE: dict[str, frozenset[str]] = {}


class Worker:
    def __init__(self, config: dict[str, Any]) -> None:
        self.limits = config.get("limits", {})
        isolate = config.get("isolate", {})
        self.features: dict[str, Any] = {}
        self.root = tempfile.mkdtemp(prefix="toppass-sandbox-", dir=config.get("tmpdir"))
        os.chmod(self.root, 0o700)
        self.real_root = os.geteuid() == 0  # before a user namespace makes everyone uid 0
        self.user_processes = _count_user_processes()
        self.max_message = max(1 << 20, int(self.limits.get("file_size", 64 << 20)))
        try:
            _confine.set_child_subreaper()
            self.features["subreaper"] = True
        except OSError:
            self.features["subreaper"] = False
        self._namespaces(isolate)
        self.library_roots = _library_roots()
        self.reads = [*self.library_roots, "/usr", "/lib", "/lib64", "/lib32", "/bin"]
        self.reads += ["/etc/ld.so.cache", "/etc/localtime", "/dev/urandom", "/dev/random"]
        self.reads += ["/dev/zero", "/sys/devices/system/cpu"]
        self.judge_ruleset = -1
        abi = _confine.landlock_abi() if isolate.get("landlock", True) else 0
        if abi:
            try:
                self.judge_ruleset = _confine.landlock_ruleset(self.reads, ["/dev/null"], abi)
            except OSError:
                abi = 0
        self.landlock_abi = abi
        self.features["landlock"] = abi
        self.features["seccomp"] = bool(isolate.get("seccomp", True)) and _probe_seccomp()
        self.features["ipc_namespace"] = bool(isolate.get("pid_namespace", True)) and _probe(
            lambda: _confine.unshare(_confine.CLONE_NEWIPC)
        )
        self.features["drop_capabilities"] = os.geteuid() == 0
        self.bounding_dropped = False
        if self.features["drop_capabilities"]:
            # once here rather than in every child: children inherit the empty set
            with contextlib.suppress(OSError):
                _confine.drop_bounding_set()
                self.bounding_dropped = True
        for name in _PRELOAD:
            with contextlib.suppress(ImportError):
                __import__(name)
        _confine.last_capability()  # read now, before Landlock hides /proc from the child
        if self.features["seccomp"]:
            _confine.seccomp_program_for(1)  # the job's pid in its PID namespace
        gc.collect()
        gc.freeze()  # children share these pages: keep the collector from touching them
        self.root_state = _directory_state(self.root)
        self.judge: PreparedJudge | None = None
        self.spawner = SpawnerLink.start(self)

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

    def fork_confined(self, name: str) -> int:
        """fork(), the child in a PID namespace of its own where permitted (everything it
        starts dies with it) and named `name` from its first instant (`ps`,
        /proc/<pid>/comm), so the sandbox's processes can be told apart: they all run the
        worker's command line."""
        entered = False
        own_name = _process_name()
        pid = -1
        try:
            with contextlib.suppress(OSError):
                _confine.set_process_name(name)
            if self.own_pidns >= 0:
                _confine.unshare(_confine.CLONE_NEWPID)
                entered = True
            pid = os.fork()
            return pid
        finally:
            if pid != 0:  # the parent: its own name and PID namespace back
                if own_name:
                    with contextlib.suppress(OSError):
                        _confine.set_process_name(own_name)
                if entered:
                    with contextlib.suppress(OSError):
                        _confine.setns(self.own_pidns, _confine.CLONE_NEWPID)

    # ------------------------------------------------------------ one job

    def prepare(self) -> None:
        """Have the next job's judge ready: forked, confined, waiting for its job, connected
        to the candidate's process the spawner prepared (so a job starts without a fork)."""
        if self.judge is not None:
            return
        fd = self.spawner.next_channel(SPAWNER_SLACK_SECONDS)
        if fd is None:
            raise RuntimeError("the spawner did not prepare a candidate process")
        try:
            self.judge = PreparedJudge.fork(self, fd)
        finally:
            os.close(fd)

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        mode = job.get("mode", "function")
        cases: list[Any] = job.get("cases", [])
        timeout = float(job.get("timeout", 3.0))
        budget = timeout if mode == "function" else timeout * max(1, len(cases))
        self.prepare()
        judge, self.judge = self.judge, None
        assert judge is not None
        self.spawner.start_job(budget)
        failed = None
        try:
            judge.give(job)
            try:  # the next job's judge while this one works (the spawner did its half)
                self.prepare()
            except Exception as exc:
                failed = exc
            if mode == "function":  # for the judges forked after this one (same tests, often)
                for case in cases:
                    with contextlib.suppress(SyntaxError, ValueError):
                        _compile_case(str(case))
                _names_used([str(job.get("setup", "")), *map(str, cases)])
            events, status, timed_out, note = _watch(
                judge.pid, judge.verdicts, judge.token, budget + GRACE_SECONDS, self.spawner.done
            )
        finally:
            os.close(judge.verdicts)
            _end_tree(judge.pid, spare=self._keep())
            self.spawner.done()
        candidate = self.spawner.report(budget + GRACE_SECONDS + SPAWNER_SLACK_SECONDS)
        result = _verdict(events, status, timed_out, note, len(cases), candidate)
        if candidate is None:
            result.update(sandbox_error=True, retire=True)
            result["message"] = (result["message"] + "; the spawner did not answer").lstrip("; ")
        elif candidate.get("touched"):
            result["retire"] = True  # the next candidate gets a fresh worker
        if any(e.get("event") == "gone" and e.get("early") for e in events):
            # the candidate's process was gone before it had its program: not the program's
            # fault, and a sign the worker is not well
            result.update(sandbox_error=True, retire=True)
        if failed is not None:  # this job's verdict stands; the worker cannot go on
            result["retire"] = True
        result["seconds"] = round(time.monotonic() - started, 4)
        return result

    def _keep(self) -> tuple[int, ...]:
        """Our children that are not leftovers of a job: the spawner and the next judge."""
        return (self.spawner.pid, *((self.judge.pid,) if self.judge is not None else ()))

    def close(self) -> None:
        if self.judge is not None:
            _end_tree(self.judge.pid, spare=(self.spawner.pid,))
            os.close(self.judge.verdicts)
            os.close(self.judge.jobs)
            self.judge = None
        self.spawner.close()
        _reap()


class PreparedJudge:
    """A judge process waiting for its job on a pipe; its verdict comes on another."""

    def __init__(self, pid: int, jobs: int, verdicts: int, token: bytes) -> None:
        self.pid = pid
        self.jobs = jobs
        self.verdicts = verdicts
        self.token = token

    @classmethod
    def fork(cls, worker: Worker, channel_fd: int) -> PreparedJudge:
        token = os.urandom(16).hex().encode()
        job_read, job_write = os.pipe()
        verdict_read, verdict_write = os.pipe()
        try:
            pid = worker.fork_confined("toppass-judge")
            if pid == 0:
                os.close(job_write)
                os.close(verdict_read)
                _judge_child(worker, channel_fd, job_read, verdict_write, token)
        finally:
            os.close(job_read)
            os.close(verdict_write)
        return cls(pid, job_write, verdict_read, token)

    def give(self, job: dict[str, Any]) -> None:
        data = json.dumps(job).encode("utf-8", "surrogatepass")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.jobs, view) :]
        except OSError:
            pass  # the judge is gone: its (missing) verdict says so
        finally:
            os.close(self.jobs)


# ---------------------------------------------------------------- the spawner


class SpawnerLink:
    """The worker's end of the spawner. Lines both ways: the spawner sends `N` with the
    judge's end of the next job's socket pair attached, and a report per job; the worker
    sends `J <budget>` when a job starts and `F` when its judge is done."""

    def __init__(self, pid: int, control: socket.socket) -> None:
        self.pid = pid
        self.control = control
        self._buffer = b""
        self._fds: list[int] = []
        self._lines: list[bytes] = []
        self._told = False

    @classmethod
    def start(cls, worker: Worker) -> SpawnerLink:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            ours.close()
            Spawner(worker, theirs, parent).serve()
        theirs.close()
        return cls(pid, ours)

    def start_job(self, budget: float) -> None:
        self.control.sendall(b"J %r\n" % budget)
        self._told = False

    def done(self) -> None:
        """Tell the spawner (once per job) that the judge needs no more answers: it ends the
        candidate's process and cleans up while the judge's process exits."""
        if not self._told:
            self._told = True
            with contextlib.suppress(OSError):
                self.control.sendall(b"F\n")

    def _line(self, wait: float) -> bytes | None:
        deadline = time.monotonic() + wait
        while not self._lines:
            if b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                self._lines.append(line)
                continue
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0 or not select.select([self.control], [], [], remaining)[0]:
                    return None
                data, fds, _, _ = socket.recv_fds(self.control, 1 << 16, 8)
            except OSError:
                return None
            self._fds += fds
            if not data:
                return None
            self._buffer += data
        return self._lines.pop(0)

    def next_channel(self, wait: float) -> int | None:
        """The judge's end of the socket pair of the candidate process the spawner has
        just prepared."""
        line = self._line(wait)
        if line != b"N" or not self._fds:
            return None
        return self._fds.pop(0)

    def report(self, wait: float) -> dict[str, Any] | None:
        """What the spawner saw of the candidate's process (None if it does not answer)."""
        line = self._line(wait)
        if not line or not line.startswith(b"{"):
            return None
        report: dict[str, Any] = json.loads(line)
        return report

    def close(self) -> None:
        self.control.close()  # the spawner exits when its control socket closes
        for fd in self._fds:
            os.close(fd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


class Spawner:
    """Runs in its own process, forked from the worker before any job; it never receives a
    program or a test. Per job: a fresh directory and the candidate's process, confined to
    it and waiting for its program (which comes from the judge); then cleanup and the check
    that the worker's directory is untouched."""

    def __init__(self, worker: Worker, control: socket.socket, parent: int) -> None:
        self.worker = worker
        self.control = control
        self.parent = parent
        self._buffer = b""

    def serve(self) -> NoReturn:
        status = 0
        try:
            _confine.set_parent_death_signal(signal.SIGKILL)
            if os.getppid() != self.parent:
                os._exit(0)
            with contextlib.suppress(OSError):
                _confine.set_process_name("toppass-spawn")
            with contextlib.suppress(OSError):
                _confine.set_child_subreaper()  # not inherited across fork
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, 0)  # the host's pipes belong to the worker alone: its EOF
            os.dup2(devnull, 1)  # must not wait for this process
            os.close(devnull)
            prepared = self._prepare()
            while True:
                line = self._line()
                if line is None or not line.startswith(b"J "):
                    _end_tree(prepared[0])
                    with contextlib.suppress(OSError):
                        _clean_up_directory(prepared[1])
                    break
                # the next job's process while this one runs, off the next job's path
                current, prepared = prepared, self._prepare()
                report = self._run(*current, float(line[2:]), following=prepared)
                self.control.sendall(json.dumps(report).encode() + b"\n")
        except BaseException:
            status = 1
        finally:
            _reap()
            os._exit(status)

    def _line(self) -> bytes | None:
        while b"\n" not in self._buffer:
            try:
                data = self.control.recv(1 << 12)
            except OSError:
                return None
            if not data:
                return None
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def _prepare(self) -> tuple[int, str, int]:
        """The next candidate's process: (pid, its directory, pidfd); the judge's end of its
        socket pair goes to the worker."""
        worker = self.worker
        # a name no one can guess, made by us (mkdir fails rather than reuse anything)
        jobdir = os.path.join(worker.root, f"job-{os.urandom(12).hex()}")
        os.mkdir(jobdir, 0o700)
        ruleset = -1
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if worker.landlock_abi:
                ruleset = _confine.landlock_ruleset(
                    worker.reads, [jobdir, "/dev/null"], worker.landlock_abi
                )
            pid = worker.fork_confined("toppass-cand")
            if pid == 0:
                ours.close()
                _candidate_child(worker, jobdir, theirs.fileno(), ruleset)
            socket.send_fds(self.control, [b"N\n"], [ours.fileno()])
        finally:
            ours.close()
            theirs.close()
            if ruleset >= 0:
                os.close(ruleset)
        return pid, jobdir, os.pidfd_open(pid)

    def _run(
        self, pid: int, jobdir: str, pidfd: int, budget: float, following: tuple[int, str, int]
    ) -> dict[str, Any]:
        try:
            status, timed_out = self._watch(pid, pidfd, budget + GRACE_SECONDS + 1.0)
        finally:
            os.close(pidfd)
        removed = _clean_up(pid, jobdir, spare=(following[0],))
        return {
            "status": status,
            "timed_out": timed_out,
            "touched": not removed or not self._pristine(following[1]),
        }

    def _watch(self, pid: int, pidfd: int, budget: float) -> tuple[int | None, bool]:
        """Wait until the worker says the judge is done (killing the candidate's process at
        its deadline, if it is still running then). Exactly one `F` comes per job, so it is
        always read here, never taken for the next job. Returns (wait status, deadline
        passed)."""
        deadline = time.monotonic() + budget
        status: int | None = None
        timed_out = False
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.register(self.control, select.POLLIN)
        while b"\n" not in self._buffer:
            wait = None if status is not None else max(deadline - time.monotonic(), 0)
            ready = dict(poller.poll(None if wait is None else wait * 1000))
            if self.control.fileno() in ready:
                data = self.control.recv(1 << 12)
                if not data:  # the worker is gone
                    _end_tree(pid)
                    raise SystemExit(0)
                self._buffer += data
                continue
            if status is None and (pidfd in ready or time.monotonic() >= deadline):
                timed_out = pidfd not in ready
                _kill_tree(pid)
                _, status = os.waitpid(pid, 0)
                poller.unregister(pidfd)
        line = self._line()
        if line != b"F":
            raise RuntimeError(f"unexpected message {line!r}")
        if status is None:
            _kill_tree(pid)
            _, status = os.waitpid(pid, 0)
        return status, timed_out

    def _pristine(self, following: str) -> bool:
        """The worker's directory is as it was at start and holds nothing but the next job's
        directory, which holds nothing but that job's empty output files (its process, made
        while this job ran, may not have opened them yet)."""
        root = self.worker.root
        if _directory_state(root) != self.worker.root_state:
            return False
        if os.listdir(root) != [os.path.basename(following)]:
            return False
        info = os.lstat(following)
        if not stat.S_ISDIR(info.st_mode) or stat.S_IMODE(info.st_mode) != 0o700:
            return False
        for entry in os.scandir(following):
            if entry.name not in ("stdout", "stderr") or not entry.is_file(follow_symlinks=False):
                return False
            if entry.stat(follow_symlinks=False).st_size:
                return False
        return True


def _process_name() -> str:
    try:
        with open("/proc/self/comm") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _directory_state(path: str) -> tuple[int, int, int, int]:
    info = os.lstat(path)
    return info.st_ino, info.st_mode, info.st_uid, info.st_dev


# ---------------------------------------------------------------- the confined processes


def _confine_here(worker: Worker, ruleset: int, *, ipc: bool) -> None:
    """Limits (but CPU time, set per job), capabilities and Landlock for this process."""
    limits = worker.limits
    rlimits = [
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_FSIZE, int(limits.get("file_size", 64 << 20))),
        (resource.RLIMIT_NOFILE, int(limits.get("open_files", 256))),
    ]
    if limits.get("memory"):
        rlimits.append((resource.RLIMIT_AS, int(limits["memory"])))
    if limits.get("processes") and not worker.features.get("seccomp") and not worker.real_root:
        # RLIMIT_NPROC counts every process of the user: allow this many more than the user
        # had when the worker started (root ignores it; seccomp forbids forks anyway)
        rlimits.append((resource.RLIMIT_NPROC, worker.user_processes + int(limits["processes"])))
    if ipc:
        _confine.unshare(_confine.CLONE_NEWIPC)  # System V segments die with the job
    _confine.set_limits(rlimits)
    _confine.set_not_dumpable()  # the judge's memory holds the tests
    if worker.features.get("drop_capabilities"):
        _confine.drop_capabilities(bounding=not worker.bounding_dropped)
    _confine.set_no_new_privs()
    if ruleset >= 0:
        _confine.landlock_restrict(ruleset)
        os.close(ruleset)


def _limit_cpu(budget: float) -> None:
    """CPU seconds for this job from now on (a waiting process has used almost none)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _confine.set_limits([(resource.RLIMIT_CPU, int(used + budget) + 2)])


def _candidate_child(worker: Worker, jobdir: str, channel_fd: int, ruleset: int) -> NoReturn:
    """Confine this process to the job's directory, wait for the program from the judge and
    serve the judge; never returns."""
    status = 70
    try:
        # what this process inherited is never garbage here: a collection that walked it
        # would copy every page it touched (most of this process's cost, measured)
        gc.freeze()
        _confine.set_parent_death_signal(signal.SIGKILL)
        channel_fd, ruleset = _setup_fds(jobdir, [channel_fd, ruleset])
        os.chdir(jobdir)
        os.environ.update(HOME=jobdir, TMPDIR=jobdir, **_THREADS)
        tempfile.tempdir = jobdir
        # System V and POSIX IPC objects outlive their process: seccomp refuses them, and
        # where it is missing a namespace of the job's own makes them die with it (making and
        # tearing one down per job costs, and adds nothing where seccomp is in force)
        ipc = bool(worker.features.get("ipc_namespace")) and not worker.features.get("seccomp")
        _confine_here(worker, ruleset, ipc=ipc)
        channel = _plain.Channel(channel_fd, worker.max_message)
        order = channel.receive()
        if order is None or order.get("op") != "load":
            raise SystemExit(0)
        channel.send({"received": True})  # from here on, how this process ends is the program's
        program, timeout = str(order.get("program", "")), float(order.get("timeout", 3.0))
        _limit_cpu(float(order.get("budget", timeout)))
        seccomp = bool(worker.features.get("seccomp"))
        if order.get("mode", "function") == "function":
            if seccomp:
                _confine.install_seccomp()
            _candidate.serve_function(program, channel, timeout)
        else:

            def confine_run() -> None:
                os.close(channel_fd)  # a run talks to no one
                if seccomp:
                    _confine.install_seccomp()

            _candidate.serve_stdio(
                program,
                channel,
                max_output=int(worker.limits.get("file_size", 64 << 20)),
                repr_limit=1 << 16,
                confine_run=confine_run,
            )
        status = 0
    except BaseException:
        status = 71
    finally:
        os._exit(status)


def _judge_child(
    worker: Worker, channel_fd: int, job_fd: int, verdict_fd: int, token: bytes
) -> NoReturn:
    """Confine this process (it writes nothing), wait for the job, hand the program to the
    candidate's process and run the tests; never returns."""
    status = 70
    try:
        # what this process inherited is never garbage here: a collection that walked it
        # would copy every page it touched (most of this process's cost, measured)
        gc.freeze()
        _confine.set_parent_death_signal(signal.SIGKILL)
        channel_fd, job_fd, verdict_fd, ruleset = _setup_fds(
            None, [channel_fd, job_fd, verdict_fd, worker.judge_ruleset]
        )
        write = os.write
        dumps = json.dumps

        def send(event: dict[str, Any]) -> None:
            if event.get("event") in ("done", "error", "gone", "judge_error"):
                event = {**event, "last": True}  # lets the worker end the candidate early
            data = token + dumps(event).encode("utf-8", "surrogateescape") + b"\n"
            while data:
                data = data[write(verdict_fd, data) :]

        os.chdir("/")
        _confine_here(worker, ruleset, ipc=False)
        if worker.features.get("seccomp"):
            _confine.install_seccomp()
        chunks = []
        while chunk := os.read(job_fd, 1 << 20):
            chunks.append(chunk)
        if not chunks:
            raise SystemExit(0)  # the worker closed without a job
        job = json.loads(b"".join(chunks))
        try:
            _judge(worker, job, _plain.Channel(channel_fd, worker.max_message), send)
        except Exception as exc:  # a fault of the judge itself: say where, for the report
            import traceback

            where = traceback.extract_tb(exc.__traceback__)[-1:]
            place = f" at {where[0].name}:{where[0].lineno}" if where else ""
            send({"event": "judge_error", "message": f"{_harness.describe(exc)}{place}"})
        status = 0
    except BaseException:
        status = 71
    finally:
        os._exit(status)


def _judge(
    worker: Worker,
    job: dict[str, Any],
    channel: _plain.Channel,
    send: Any,
) -> None:
    mode = job.get("mode", "function")
    cases: list[Any] = job.get("cases", [])
    timeout = float(job.get("timeout", 3.0))
    budget = timeout if mode == "function" else timeout * max(1, len(cases))
    _limit_cpu(budget)
    repr_limit = int(job.get("repr_limit", 200))
    if mode == "function":
        try:
            compiled = [_compile_case(str(case)) for case in cases]
        except (SyntaxError, ValueError) as exc:
            message = f"test code does not compile: {_harness.describe(exc)}"
            send({"event": "error", "message": message})
            return
    load = {"op": "load", "program": str(job.get("program", "")), "mode": mode}
    try:
        channel.send({**load, "timeout": timeout, "budget": budget})
    except (OSError, _plain.PlainError) as exc:
        send({"event": "gone", "message": f"the program could not be sent: {exc}", "early": True})
        return
    if mode == "function":
        _harness.judge_function(
            channel,
            str(job.get("setup", "")),
            compiled,
            send,
            timeout=timeout,
            case_timeout=job.get("case_timeout"),
            stop_on_failure=bool(job.get("stop_on_failure", True)),
            capture_stdout=bool(job.get("capture_stdout", False)),
            repr_limit=repr_limit,
            used=_names_used([str(job.get("setup", "")), *map(str, cases)]),
        )
    else:
        _harness.judge_stdio(
            channel,
            cases,
            send,
            timeout=timeout,
            stop_on_failure=bool(job.get("stop_on_failure", True)),
            compare=str(job.get("compare", "tokens")),
            repr_limit=repr_limit,
        )


def _setup_fds(out_dir: str | None, keep: list[int]) -> list[int]:
    """A process group of its own; 0 from /dev/null; 1 and 2 to files in `out_dir` (or
    /dev/null); each fd of `keep` (-1: none) moved to a high, unpredictable descriptor; every
    other descriptor closed. Returns the new numbers of `keep`, in order."""
    # a group of its own: kill(0, ...) reaches nothing of the worker's, and the worker can
    # kill the whole group. Not setsid(): the worker has no terminal to detach from, and a
    # new session costs a scheduler autogroup (milliseconds, measured)
    os.setpgid(0, 0)
    devnull = os.open(os.devnull, os.O_RDWR)
    if out_dir is None:
        out = err = devnull
    else:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        out = os.open(os.path.join(out_dir, "stdout"), flags, 0o600)
        err = os.open(os.path.join(out_dir, "stderr"), flags, 0o600)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    base = 200 + int.from_bytes(os.urandom(1), "little") % 50
    moved = []
    for offset, fd in enumerate(keep):
        if fd < 0:
            moved.append(-1)
            continue
        os.dup2(fd, base + offset, inheritable=False)
        moved.append(base + offset)
    low = 3
    for fd in sorted(set(moved) - {-1}):
        os.closerange(low, fd)  # close_range(2) where the kernel has it
        low = fd + 1
    os.closerange(low, 1 << 20)
    return moved


# ---------------------------------------------------------------- watching the judge


def _watch(
    pid: int, read_end: int, token: bytes, budget: float, on_last: Any = None
) -> tuple[list[dict[str, Any]], int | None, bool, str]:
    """Collect the judge's messages until it exits or the deadline passes; `on_last()` as
    soon as its last message (done, error, gone) is in."""
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
                    if on_last is not None and _LAST in chunk:
                        on_last()
                        on_last = None
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


def _compile_case(source: str) -> Any:
    cached = _CASE_CACHE.get(source)
    if cached is None:
        cached = _harness.compile_case(source)
        if len(_CASE_CACHE) > 256:
            _CASE_CACHE.clear()
        _CASE_CACHE[source] = cached
    return cached


def _names_used(sources: list[str]) -> frozenset[str]:
    used: set[str] = set()
    for source in sources:
        names = _NAMES_CACHE.get(source)
        if names is None:
            names = _harness.names_used([source])
            if len(_NAMES_CACHE) > 256:
                _NAMES_CACHE.clear()
            _NAMES_CACHE[source] = names
        used |= names
    return frozenset(used)


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


def _probe(action: Any) -> bool:
    """Whether `action` succeeds in a throwaway child."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            action()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


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


def _end_tree(pid: int, spare: tuple[int, ...] = ()) -> None:
    """Kill a job process (already reaped or not), what it left behind (our children but
    `spare`), and reap them."""
    _kill_tree(pid)
    for _ in range(50):
        leftovers = [child for child in _own_children() if child not in spare]
        for child in leftovers:
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGKILL)
        _reap()
        if not leftovers:
            return
        time.sleep(0.002)


def _clean_up(pid: int, jobdir: str, spare: tuple[int, ...] = ()) -> bool:
    """Kill and reap everything the job left (reparented to us as subreaper; our children
    but `spare`) and remove its directory. Whether all of that worked."""
    _end_tree(pid, spare)
    return not [c for c in _own_children() if c not in spare] and _clean_up_directory(jobdir)


def _clean_up_directory(jobdir: str) -> bool:
    """Remove a job's directory (whatever its program left there); whether it is gone."""
    try:  # the usual case, quickly: nothing but the output files
        for name in ("stdout", "stderr"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(jobdir, name))
        os.rmdir(jobdir)
    except OSError:
        shutil.rmtree(jobdir, onerror=_force_remove)
    return not os.path.lexists(jobdir)


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


def _verdict(
    events: list[dict[str, Any]],
    status: int | None,
    timed_out: bool,
    note: str,
    n_cases: int,
    candidate: dict[str, Any] | None,
) -> dict[str, Any]:
    """The job's result from the judge's events; where the judge says the candidate's
    process went away, what the spawner saw of it says why."""
    cases = [e for e in events if e.get("event") == "case"]
    for case in cases:
        case.pop("event", None)
    kinds = {e.get("event") for e in events}
    errors = [e for e in events if e.get("event") == "error"]
    if "judge_error" in kinds:
        fault = next(e for e in events if e.get("event") == "judge_error")
        return _result(
            "error", f"sandbox judge: {fault.get('message', '')}", cases, sandbox_error=True
        )
    if errors:
        outcome = "timeout" if errors[0].get("timeout") else "error"
        return _result(outcome, str(errors[0].get("message", "")), cases)
    if "done" in kinds:
        failing = next((c for c in cases if c.get("outcome") != "passed"), None)
        if failing is None and len(cases) == n_cases:
            return _result("passed", "", cases)
        if failing is None:
            return _result("error", "not every case reported", cases)
        message = f"case {failing.get('index')}: {failing.get('message', '')}"
        return _result(str(failing.get("outcome")), message, cases)
    if "gone" in kinds:
        gone = next(e for e in events if e.get("event") == "gone")
        if gone.get("broke") is True:  # what the candidate's process did, whatever its end
            return _result("error", str(gone.get("message", "")), cases)
        return _candidate_ended(candidate, str(gone.get("message") or ""), cases)
    if timed_out:
        return _result("timeout", "timed out (killed)", cases)
    if note:
        return _result("error", note, cases)
    if status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
        return _result("timeout", "CPU time limit exceeded", cases)
    code = _describe_status(status)
    return _result("error", f"the judge ended ({code}) before the tests finished", cases, True)


def _candidate_ended(
    candidate: dict[str, Any] | None, message: str, cases: list[dict[str, Any]]
) -> dict[str, Any]:
    """The candidate's process went away before the tests finished: why, from its status."""
    if candidate is None:
        return _result("error", message or "the candidate's process ended", cases)
    status = candidate.get("status")
    if candidate.get("timed_out"):
        return _result("timeout", "timed out (killed)", cases)
    if type(status) is int and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return _result("timeout", "CPU time limit exceeded", cases)
        if sig == signal.SIGXFSZ:
            return _result("error", "file size limit exceeded (SIGXFSZ)", cases)
        return _result("error", f"killed by {_signal_name(sig)}", cases)
    if type(status) is int:
        code = os.waitstatus_to_exitcode(status)
        return _result("error", f"exited (status {code}) before the tests finished", cases)
    return _result("error", message or str(candidate.get("note", "")) or "no candidate", cases)


def _signal_name(sig: int) -> str:
    return signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)


def _describe_status(status: int | None) -> str:
    if status is None:
        return "no status"
    if os.WIFSIGNALED(status):
        return f"killed by {_signal_name(os.WTERMSIG(status))}"
    return f"status {os.waitstatus_to_exitcode(status)}"


def _result(
    outcome: str,
    message: str,
    cases: list[dict[str, Any]] | None = None,
    sandbox_error: bool = False,
) -> dict[str, Any]:
    result: dict[str, Any] = {"outcome": outcome, "message": message[:500], "cases": cases or []}
    if sandbox_error:
        result["sandbox_error"] = True
    return result


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
    try:
        worker.prepare()
        reply({"ready": True, "features": worker.features, "pid": os.getpid(), "root": worker.root})
        while True:
            line = stdin.readline()
            if not line:
                break
            try:
                job = json.loads(line)
                result = worker.run(job)
            except SystemExit:
                raise
            except Exception as exc:  # a fault of the sandbox: answer, and be replaced
                result = _result("error", f"sandbox worker: {_harness.describe(exc)}")
                result.update(sandbox_error=True, retire=True)
            reply(result)
            if result.get("retire"):
                break  # the pool starts a fresh worker for the next job
    finally:
        worker.close()
        _reap()
        shutil.rmtree(worker.root, onerror=_force_remove)


if __name__ == "__main__":
    main()

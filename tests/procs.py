"""Sandbox worker processes as /proc shows them, for tests that check nothing is left behind."""

from __future__ import annotations

import os
from pathlib import Path

WORKER_SCRIPT = "ranker/sandbox/_worker.py"


def sandbox_processes() -> dict[int, int]:
    """pid -> parent pid of every process running the worker script (workers and any child
    of theirs, which inherits the command line)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if WORKER_SCRIPT.encode() in cmdline:
            found[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def descends_from(pid: int, ancestor: int, procs: dict[int, int]) -> bool:
    """Whether `pid` is below `ancestor` through the processes of `procs` (pid -> parent)."""
    seen = set()
    while pid in procs and pid not in seen:
        seen.add(pid)
        pid = procs[pid]
        if pid == ancestor:
            return True
    return False


def own_sandbox_processes() -> list[int]:
    """Sandbox processes this process started, however deep (workers and their candidate
    processes), and none of another test run's sharing the machine."""
    procs = sandbox_processes()
    return [pid for pid in procs if descends_from(pid, os.getpid(), procs)]


def own_sandbox_workers() -> list[int]:
    """This process's children that are sandbox worker interpreters."""
    return [pid for pid, parent in sandbox_processes().items() if parent == os.getpid()]

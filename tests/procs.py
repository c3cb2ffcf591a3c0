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


def own_sandbox_workers() -> list[int]:
    """This process's children that are sandbox worker interpreters."""
    return [pid for pid, parent in sandbox_processes().items() if parent == os.getpid()]

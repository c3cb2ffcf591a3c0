"""One candidate cannot poison the ones after it: its writable area is a fresh directory of
its own, gone when its job is; a worker whose directory it managed to touch anyway is
replaced; and verdicts that are the sandbox's own errors are never cached."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from ranker.sandbox import ExecResult, FunctionJob, Isolation, Limits, Outcome, Sandbox
from ranker.sandbox.jobs import error_result
from ranker.signals.execution import Probe
from train import labelling, signals
from train.labelling import LabelCache, label_pool
from train.problems import problem_from_record
from train.slates import Slate

LIMITS = Limits(timeout=3.0, memory=1 << 30, file_size=16 << 20, open_files=64)

# What the issue saw: a candidate that creates the directories the next jobs would get, fills
# the disk and leaves files for the next candidate to read.
POISON = """
import os
def add(a, b):
    made = 0
    for n in range(1, 60):
        for name in (f"../job{n}", f"../job-{n}", f"../job{n}/stdout"):
            try:
                os.makedirs(name)
                made += 1
            except OSError:
                pass
    try:
        for entry in os.listdir(".."):  # the next job's directory, if it can be seen
            os.makedirs(os.path.join("..", entry, "planted"), exist_ok=True)
            made += 1
    except OSError:
        pass
    for path in ("../poison", "/tmp/toppass-poison", os.path.expanduser("~/poison"), "poison"):
        try:
            with open(path, "w") as handle:
                handle.write("the answer is 42")
            made += 1
        except OSError:
            pass
    chunk = b"0" * (1 << 20)
    for i in range(14):  # 14 files of 14 MiB, under the 16 MiB file size limit
        try:
            with open(f"fill{i}", "wb") as handle:
                for _ in range(14):
                    handle.write(chunk)
        except OSError:
            break
    return made
"""

# An honest candidate that also reports what it finds around it.
LOOKS_AROUND = """
import os
def add(a, b):
    return a + b
def around():
    seen = sorted(os.listdir("."))
    for path in ("../poison", "/tmp/toppass-poison", os.path.expanduser("~/poison"), "poison",
                 "planted"):
        if os.path.exists(path):
            seen.append(path)
    return seen
"""
CHECKS = ["assert add(1, 2) == 3", "around()"]


def _honest_runs(box: Sandbox, count: int) -> list[ExecResult]:
    return [box.run(FunctionJob(LOOKS_AROUND, CHECKS, stop_on_failure=False)) for _ in range(count)]


def _assert_clean(results: list[ExecResult]) -> None:
    for result in results:
        assert result.passed and not result.sandbox_error, result
        leftovers = set(json.loads(result.cases[1].value.replace("'", '"'))) - {"stdout", "stderr"}
        assert not leftovers, leftovers  # nothing of the candidate before


def test_a_candidate_cannot_poison_the_jobs_after_it():
    with Sandbox(workers=1, limits=LIMITS) as box:
        if not box.features.get("landlock"):
            pytest.skip("Landlock is not available: the worker's directory is writable")
        root = box.scratch_directories[0]
        attack = box.run(FunctionJob(POISON, ["assert add(1, 2) >= 0"]))
        assert not attack.sandbox_error, attack
        _assert_clean(_honest_runs(box, 6))
        assert box.scratch_directories == [root]  # nothing was touched: the same worker
    assert not Path("/tmp/toppass-poison").exists()


def test_a_worker_whose_directory_was_touched_is_replaced():
    """Without Landlock a candidate can write beside its own directory; the spawner sees the
    worker's directory changed, and the worker is retired, not reused."""
    with Sandbox(workers=1, limits=LIMITS, isolation=Isolation(landlock=False)) as box:
        assert box.features["landlock"] == 0  # starts the worker
        root = box.scratch_directories[0]
        attack = box.run(FunctionJob(POISON, ["assert add(1, 2) >= 0"]))
        assert not attack.sandbox_error, attack
        assert not Path(root).exists()  # the retired worker removed its directory
        # without Landlock the rest of the machine is open to it: not what this test is about
        Path("/tmp/toppass-poison").unlink(missing_ok=True)
        results = _honest_runs(box, 3)
        assert box.scratch_directories != [root]
        _assert_clean(results)


class SandboxThatFails:
    """Stands in for `Sandbox` where a test needs the sandbox itself to fail."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __enter__(self) -> SandboxThatFails:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def imap_unordered(self, jobs, stop=None):
        for key, _ in jobs:
            yield key, error_result("the sandbox worker died or stopped answering (restarted)")


def test_the_label_cache_keeps_no_sandbox_error(tmp_path):
    cache = LabelCache(tmp_path / "cache.jsonl")
    cache.put("k1", error_result("the sandbox worker died or stopped answering (restarted)"))
    cache.put("k2", ExecResult(Outcome.ERROR, "raised while loading: NameError: x"))
    cache.close()
    assert cache.get("k1") is None and cache.get("k2") is not None
    assert [json.loads(line)["key"] for line in (tmp_path / "cache.jsonl").open()] == ["k2"]


def test_a_fresh_labelling_run_does_not_reuse_sandbox_errors(tmp_path, monkeypatch):
    record = {
        "task_id": "acme/add",
        "prompt": 'def add(a, b):\n    """Sum."""\n',
        "entry_point": "add",
        "tests": ["assert add(1, 2) == 3"],
    }
    problems = {"acme/add": problem_from_record(record)}
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        json.dumps({"task_id": "acme/add", "code": POISON})
        + "\n"
        + "".join(
            json.dumps(
                {"task_id": "acme/add", "code": f"def add(a, b):\n    return a + b + {i} * 0\n"}
            )
            + "\n"
            for i in range(6)
        )
    )
    cache = tmp_path / "cache.jsonl"
    monkeypatch.setattr(labelling, "Sandbox", SandboxThatFails)
    label_pool(
        problems, pool, tmp_path / "broken.jsonl", workers=1, limits=LIMITS, cache_path=cache
    )
    assert not cache.exists() or cache.read_text() == ""
    monkeypatch.undo()
    out = tmp_path / "labelled.jsonl"
    label_pool(problems, pool, out, workers=1, limits=LIMITS, cache_path=cache)
    rows = [json.loads(line) for line in out.open()]
    assert [r["passed"] for r in rows if r["index"] > 0] == [True] * 6
    again = tmp_path / "again.jsonl"
    stats = label_pool(problems, pool, again, workers=1, limits=LIMITS, cache_path=cache)
    assert stats.from_cache == 7 and stats.executed == 0
    assert [json.loads(line)["passed"] for line in again.open()][1:] == [True] * 6


def test_the_visible_run_cache_keeps_no_sandbox_error(tmp_path, monkeypatch):
    record = {
        "task_id": "acme/add",
        "prompt": 'def add(a, b):\n    """Sum."""\n',
        "entry_point": "add",
        "tests": ["assert add(1, 2) == 3"],
        "visible_tests": ["assert add(1, 2) == 3"],
    }
    problems = {"acme/add": problem_from_record(record)}
    slate = Slate(
        "acme/add", record["prompt"], ("def add(a, b):\n    return a + b\n",), (True,), (1,)
    )
    monkeypatch.setattr(signals, "visible_probes", lambda p: [Probe("assert add(1, 2) == 3", None)])
    cache = tmp_path / "runs.jsonl"
    monkeypatch.setattr(signals, "Sandbox", SandboxThatFails)
    signals.execution_signals([slate], problems, workers=1, cache_path=cache)
    assert not cache.exists() or cache.read_text() == ""
    monkeypatch.setattr(signals, "Sandbox", Sandbox)
    out = signals.execution_signals([slate], problems, workers=1, cache_path=cache)
    assert out["acme/add"].execution is not None
    assert out["acme/add"].execution.runs[0].passed == 1
    assert len(cache.read_text().splitlines()) == 1


def test_job_directories_are_never_reused_or_shared():
    """Each job's directory is new (never the name of an earlier one) and private: a job
    sees no file an earlier job wrote, even with a predictable name."""
    program = textwrap.dedent(
        """
        import os
        def mark():
            seen = sorted(os.listdir("."))
            with open("mark", "w") as handle:
                handle.write("x")
            return [os.getcwd(), seen]
        """
    )
    with Sandbox(workers=1, limits=LIMITS) as box:
        values = [box.run(FunctionJob(program, ["mark()"])).cases[0].value for _ in range(4)]
    directories = [json.loads(v.replace("'", '"'))[0] for v in values]
    assert len(set(directories)) == 4
    assert all(json.loads(v.replace("'", '"'))[1] == ["stderr", "stdout"] for v in values)


SYSV = """
import ctypes, ctypes.util
libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
def leave():
    segment = libc.shmget(0x70707, 4096, 0o1666)  # IPC_CREAT | 0666
    if segment < 0:
        return "refused"
    address = libc.shmat(segment, None, 0)
    ctypes.memmove(address, b"the answer is 42", 16)
    return "left"
def find():
    segment = libc.shmget(0x70707, 4096, 0o666)
    if segment < 0:
        return "nothing"
    address = libc.shmat(segment, None, 0)
    return ctypes.string_at(address, 16).decode()
"""


@pytest.mark.parametrize(
    "isolation", [Isolation(), Isolation(seccomp=False)], ids=["seccomp", "ipc-namespace"]
)
def test_no_system_v_segment_outlives_its_job(isolation):
    """System V shared memory outlives its process: seccomp refuses it, and without seccomp
    a job's own IPC namespace takes it away with the job."""
    with Sandbox(workers=1, limits=LIMITS, isolation=isolation) as box:
        features = box.features
        if not (features.get("seccomp") or features.get("ipc_namespace")):
            pytest.skip("neither seccomp nor IPC namespaces are available")
        left = box.run(FunctionJob(SYSV, ["leave()"])).cases[0].value
        found = box.run(FunctionJob(SYSV, ["find()"])).cases[0].value
    assert left == ("'refused'" if features.get("seccomp") else "'left'")
    assert found == "'nothing'"


def test_a_candidate_process_gone_before_its_job_is_the_sandboxs_fault():
    """Each job's candidate process is made ahead and waits for its program; if it is gone
    by then (killed from outside), that says nothing about the program: the verdict is a
    sandbox error (never cached) and the worker is replaced."""
    import os
    import signal

    from procs import own_sandbox_processes

    with Sandbox(workers=1, limits=LIMITS) as box:
        assert box.run(FunctionJob(LOOKS_AROUND, CHECKS)).passed
        waiting = [
            pid
            for pid in own_sandbox_processes()
            if Path(f"/proc/{pid}/comm").read_text().strip() == "toppass-cand"
        ]
        assert len(waiting) == 1
        os.kill(waiting[0], signal.SIGKILL)
        lost = box.run(FunctionJob(LOOKS_AROUND, CHECKS))
        assert lost.outcome is Outcome.ERROR and lost.sandbox_error, lost
        assert box.run(FunctionJob(LOOKS_AROUND, CHECKS)).passed

"""JSONL, problem and pool files: bad input is named by file and line, nothing is lost."""

import gzip
import json

import pytest

from train.jsonl import DataError, JsonlAppender, read_jsonl
from train.pools import candidate_program, read_pool
from train.problems import IOTest, problem_from_record, read_problem_file

FUNCTION_PROBLEM = {
    "task_id": "acme/add",
    "prompt": 'def add(a, b):\n    """Sum."""\n',
    "entry_point": "add",
    "tests": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"],
    "visible_tests": ["assert add(1, 2) == 3"],
}
STDIO_PROBLEM = {
    "task_id": "acme/sum",
    "prompt": "Read two integers, print their sum.",
    "tests": [{"input": "1 2\n", "output": "3\n"}],
}


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_problem_records_parse_both_modes(tmp_path):
    path = write_lines(
        tmp_path / "p.jsonl", [json.dumps(FUNCTION_PROBLEM), json.dumps(STDIO_PROBLEM)]
    )
    problems = read_problem_file(path)
    add, total = problems["acme/add"], problems["acme/sum"]
    assert add.mode == "function" and add.tests == "assert add(1, 2) == 3\nassert add(0, 0) == 0"
    assert add.visible_tests == ("assert add(1, 2) == 3",)
    assert total.mode == "stdio" and total.io_tests == (IOTest("1 2\n", "3\n"),)


@pytest.mark.parametrize(
    "broken,field",
    [
        ({k: v for k, v in FUNCTION_PROBLEM.items() if k != "prompt"}, "prompt"),
        ({k: v for k, v in FUNCTION_PROBLEM.items() if k != "tests"}, "tests"),
        ({**STDIO_PROBLEM, "tests": ["print(1)"]}, "tests"),
        ({**FUNCTION_PROBLEM, "tests": [1, 2]}, "tests"),
    ],
)
def test_bad_problem_names_line_and_field(tmp_path, broken, field):
    path = write_lines(tmp_path / "p.jsonl", [json.dumps(FUNCTION_PROBLEM), json.dumps(broken)])
    with pytest.raises(DataError, match=rf"p.jsonl:2: .*'{field}'"):
        read_problem_file(path)


def test_duplicate_task_id_is_an_error(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [json.dumps(FUNCTION_PROBLEM)] * 2)
    with pytest.raises(DataError, match=r"p\.jsonl:2: duplicate task_id"):
        read_problem_file(path)


def test_pool_malformed_line_is_named_or_skipped_with_count(tmp_path):
    path = write_lines(
        tmp_path / "pool.jsonl",
        [
            json.dumps({"task_id": "acme/add", "code": "def add(a, b): return a + b"}),
            '{"task_id": "acme/add", "code": ',  # cut off
            json.dumps({"task_id": "acme/add", "completion": "    return a - b\n"}),
            json.dumps({"task_id": "acme/add"}),  # neither code nor completion
            json.dumps({"task_id": "acme/add", "index": 0, "code": "x"}),  # duplicate index
        ],
    )
    with pytest.raises(DataError, match=r"pool.jsonl:2: malformed JSON"):
        read_pool(path)
    pool = read_pool(path, skip_bad_lines=True)
    assert [c.index for c in pool.candidates] == [0, 1]
    assert len(pool.skipped) == 3
    assert [s.split(": ")[0].rsplit(":", 1)[1] for s in pool.skipped] == ["2", "4", "5"]


def test_pool_completion_is_joined_to_prompt():
    problem = problem_from_record(FUNCTION_PROBLEM)
    pool_row = {"task_id": "acme/add", "completion": "    return a + b\n"}
    from train.pools import candidate_from_record

    prepared = candidate_program(candidate_from_record(pool_row, "x:1", 0), problem)
    assert prepared.program == FUNCTION_PROBLEM["prompt"] + "    return a + b\n"


def test_appender_survives_interruption_and_resume_skips_cut_line(tmp_path):
    for name in ("out.jsonl", "out.jsonl.gz"):
        path = tmp_path / name
        with JsonlAppender(path) as out:
            out.append({"a": 1})
            out.append({"a": 2})
        rows = [r for _, r in read_jsonl(path)]
        assert rows == [{"a": 1}, {"a": 2}]
    plain = tmp_path / "out.jsonl"
    with open(plain, "a") as handle:
        handle.write('{"a": 3')  # the writer died mid-record
    assert [r["a"] for _, r in read_jsonl(plain, resuming=True)] == [1, 2]
    with pytest.raises(DataError):
        list(read_jsonl(plain))
    gz = tmp_path / "out.jsonl.gz"
    with open(gz, "ab") as handle:
        member = gzip.compress(b'{"a": 3, "padding": "' + b"x" * 200 + b'"}\n')
        handle.write(member[: len(member) // 2])  # gzip member cut short
    assert [r["a"] for _, r in read_jsonl(gz, resuming=True)] == [1, 2]

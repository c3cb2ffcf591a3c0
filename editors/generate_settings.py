"""Write the editors' copies of the server settings from `toppass_ls.settings.settings_schema()`.

The server's schema is the one place a setting is defined; the VS Code extension's
`contributes.configuration` and the Neovim defaults table are generated from it, and
`tests/editors/test_editor_settings.py` fails when they drift. After changing a setting in the
server:

    python editors/generate_settings.py          # rewrite both files
    python editors/generate_settings.py --check  # exit 1 if either file is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

EDITORS = Path(__file__).resolve().parent
PACKAGE_JSON = EDITORS / "vscode" / "package.json"
NVIM_SETTINGS = EDITORS / "nvim" / "lua" / "toppass" / "settings.lua"
SECTION = "toppass"

# JSON-schema fields VS Code understands in a configuration property; anything else the server
# puts in its schema stays on the server side.
_VSCODE_FIELDS = (
    "type",
    "default",
    "description",
    "enum",
    "enumDescriptions",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "items",
)

# Settings of the VS Code extension itself; they are never sent to the server
# (editors/vscode/src/settings.ts EDITOR_ONLY_KEYS lists the same keys).
EDITOR_ONLY_PROPERTIES: dict[str, dict[str, Any]] = {
    f"{SECTION}.serverPath": {
        "type": "string",
        "default": "toppass-ls",
        "description": "Editor only, not sent to the server: the toppass-ls executable, a name "
        "on PATH or a full path such as /path/to/toppass/.venv/bin/toppass-ls. Changing it "
        "restarts the server.",
    },
    f"{SECTION}.serverArgs": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": 'Editor only, not sent to the server: arguments put before "--stdio", '
        'e.g. ["--log-level", "DEBUG"], or ["-m", "toppass_ls"] when serverPath is a Python '
        "interpreter. Changing them restarts the server.",
    },
    f"{SECTION}.trace.server": {
        "type": "string",
        "enum": ["off", "messages", "verbose"],
        "default": "off",
        "description": "Editor only, not sent to the server: log the protocol messages between "
        "VS Code and toppass-ls in the toppass output channel.",
    },
}


# Server settings VS Code keeps in its SecretStorage instead of settings.json, where they would
# be plain text: the extension's "toppass: Set API key" stores them and sends them with the other
# settings (src/settings.ts SECRET_KEYS lists the same keys). package.json still declares them,
# deprecated (hidden in the Settings UI unless set), only so that the extension may remove a
# value left there after moving it into SecretStorage: VS Code writes registered keys only.
# Neovim's defaults keep them (nil: the server reads OPENAI_API_KEY).
SECRET_SETTINGS: dict[str, str] = {
    "openai.apiKey": "Not read from settings: the API key is kept in VS Code's secret storage. "
    'Run "toppass: Set API key"; a value put here is moved there and removed from this file.',
}


def load_schema() -> dict[str, dict[str, Any]]:
    from toppass_ls.settings import settings_schema

    return settings_schema()


def vscode_properties(schema: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """package.json `contributes.configuration.properties`: every server key as `toppass.<key>`
    in schema order (kept in the Settings UI by `order`; the secret ones deprecated), then the
    editor's own."""
    properties: dict[str, dict[str, Any]] = {}
    for order, (key, spec) in enumerate(schema.items()):
        prop = {field: spec[field] for field in _VSCODE_FIELDS if field in spec}
        if key in SECRET_SETTINGS:
            prop["description"] = prop["deprecationMessage"] = SECRET_SETTINGS[key]
        prop["order"] = order
        properties[f"{SECTION}.{key}"] = prop
    for order, (key, prop) in enumerate(EDITOR_ONLY_PROPERTIES.items(), start=len(schema)):
        properties[key] = {**prop, "order": order}
    return properties


def package_json_text(current: str, schema: Mapping[str, Mapping[str, Any]]) -> str:
    """The package.json text with its configuration replaced and everything else kept."""
    package = json.loads(current)
    package.setdefault("contributes", {})["configuration"] = {
        "title": "toppass",
        "properties": vscode_properties(schema),
    }
    return json.dumps(package, indent=2, ensure_ascii=False) + "\n"


_LUA_KEYWORDS = frozenset(
    [
        "and",
        "break",
        "do",
        "else",
        "elseif",
        "end",
        "false",
        "for",
        "function",
        "goto",
        "if",
        "in",
        "local",
        "nil",
        "not",
        "or",
        "repeat",
        "return",
        "then",
        "true",
        "until",
        "while",
    ]
)
_LUA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _lua_key(name: str) -> str:
    if _LUA_NAME.match(name) and name not in _LUA_KEYWORDS:
        return name
    return f"[{_lua_value(name)}]"


def _lua_value(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # Lua reads JSON's escapes for these
    if isinstance(value, list):
        return "{ " + ", ".join(_lua_value(v) for v in value) + " }" if value else "{}"
    raise TypeError(f"no Lua literal for a default of type {type(value).__name__}: {value!r}")


def _nest(schema: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, spec in schema.items():
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = spec
    return tree


def _lua_comment(spec: Mapping[str, Any], indent: str) -> list[str]:
    text = spec.get("description", "")
    if "enum" in spec:
        text += " One of: " + ", ".join(_lua_value(v) for v in spec["enum"]) + "."
    return textwrap.wrap(
        text, width=96, initial_indent=f"{indent}-- ", subsequent_indent=f"{indent}-- "
    )


def _lua_table(tree: Mapping[str, Any], depth: int) -> list[str]:
    indent = "  " * depth
    lines: list[str] = []
    for name, node in tree.items():
        if "default" in node and "type" in node:  # a setting (groups hold no "type")
            lines.extend(_lua_comment(node, indent))
            lines.append(f"{indent}{_lua_key(name)} = {_lua_value(node['default'])},")
        else:
            lines.append(f"{indent}{_lua_key(name)} = {{")
            lines.extend(_lua_table(node, depth + 1))
            lines.append(f"{indent}}},")
    return lines


def nvim_settings_text(schema: Mapping[str, Mapping[str, Any]]) -> str:
    """editors/nvim/lua/toppass/settings.lua: every server setting with its default and doc."""
    header = [
        "-- Generated by editors/generate_settings.py from toppass_ls.settings.settings_schema();",
        "-- do not edit by hand. Every toppass-ls setting with its default: require('toppass')",
        "-- sends this table (merged with your `settings`) as { toppass = ... } in",
        "-- init_options and in workspace/didChangeConfiguration. A `nil` default means the server",
        "-- decides (see the description).",
        "return {",
    ]
    return "\n".join([*header, *_lua_table(_nest(schema), 1), "}"]) + "\n"


def generated_files(schema: Mapping[str, Mapping[str, Any]]) -> dict[Path, str]:
    return {
        PACKAGE_JSON: package_json_text(PACKAGE_JSON.read_text(encoding="utf-8"), schema),
        NVIM_SETTINGS: nvim_settings_text(schema),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report out-of-date files")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generated_files(load_schema()).items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    for path in stale:
        verb = "out of date" if args.check else "rewritten"
        print(f"{path.relative_to(EDITORS.parent)}: {verb}", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())

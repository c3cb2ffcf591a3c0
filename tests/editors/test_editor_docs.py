"""The README's editor set-ups stay true to the files under editors/."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_points_at_the_tested_older_neovim_config() -> None:
    # tests/editors/test_nvim_e2e.py runs this file in Neovim (0.11 still has vim.lsp.start).
    legacy = REPO / "editors" / "nvim" / "legacy.lua"
    assert 'dofile("/path/to/toppass/editors/nvim/legacy.lua")' in README
    assert "vim.lsp.start(" in legacy.read_text(encoding="utf-8")
    assert "vim.g.toppass_settings" in legacy.read_text(encoding="utf-8")
    nvim_readme = (REPO / "editors" / "nvim" / "README.md").read_text(encoding="utf-8")
    assert "## Older Neovim (0.8-0.10)" in nvim_readme and "vim.g.toppass_settings" in nvim_readme


def test_readme_names_what_the_editors_really_provide() -> None:
    init = (REPO / "editors" / "nvim" / "lua" / "toppass" / "init.lua").read_text(encoding="utf-8")
    for snippet in [
        'keymap = "<leader>ta"',
        'nvim_create_user_command("Toppass"',
        "vim.lsp.enable",
    ]:
        assert snippet in init
    for mention in ["<leader>ta", ":Toppass", 'require("toppass").setup(', "vim.lsp.enable"]:
        assert mention in README, mention
    package = json.loads((REPO / "editors" / "vscode" / "package.json").read_text("utf-8"))
    command = package["contributes"]["commands"][0]
    assert f"{command['category']}: {command['title']}" in README
    for key in ["toppass.serverPath", "toppass.serverArgs", "toppass.trace.server"]:
        assert key in package["contributes"]["configuration"]["properties"]
        assert key in README

// The commands and keybindings the extension contributes, and the arguments of the server
// command its "Generate ranked candidates" sends.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import {
  CANCEL_COMMAND,
  GENERATE_AT_CURSOR_COMMAND,
  GENERATE_COMMAND,
  GENERATING_CONTEXT,
  generateParams,
  REMOVE_API_KEY_COMMAND,
  SET_API_KEY_COMMAND,
} from "../commands";

interface Contributes {
  commands: { command: string; title: string; category?: string; enablement?: string }[];
  keybindings: { command: string; key: string; mac?: string; when?: string }[];
  menus: { commandPalette: { command: string; when?: string }[] };
}

const pkg = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf-8")) as {
  contributes: Contributes;
  activationEvents: string[];
};

function paletteTitle(command: string): string {
  const contributed = pkg.contributes.commands.find((c) => c.command === command);
  assert.ok(contributed, `${command} is not in package.json`);
  return `${contributed.category}: ${contributed.title}`;
}

test("generate targets one document line, 0-based", () => {
  assert.deepEqual(generateParams("file:///w/a.py", 0), {
    command: "toppass.generate",
    arguments: [{ uri: "file:///w/a.py", line: 0 }],
  });
  assert.throws(() => generateParams("file:///w/a.py", -1), RangeError);
  assert.throws(() => generateParams("file:///w/a.py", 1.5), RangeError);
});

test("the palette commands are contributed and differ from the server's command", () => {
  // vscode-languageclient registers the server's own commands (toppass.generate) in VS Code;
  // a second registration of the same id would fail.
  for (const command of [GENERATE_AT_CURSOR_COMMAND, CANCEL_COMMAND, SET_API_KEY_COMMAND]) {
    assert.notEqual(command, GENERATE_COMMAND);
  }
  assert.equal(paletteTitle(GENERATE_AT_CURSOR_COMMAND), "toppass: Generate ranked candidates");
  assert.equal(paletteTitle(CANCEL_COMMAND), "toppass: Cancel generation");
  assert.equal(paletteTitle(SET_API_KEY_COMMAND), "toppass: Set API key");
  assert.equal(paletteTitle(REMOVE_API_KEY_COMMAND), "toppass: Remove API key");
  assert.ok(pkg.activationEvents.includes("onLanguage:python"));
});

test("generate and cancel have keybindings; cancel only while a generation runs", () => {
  const binding = (command: string) => {
    const found = pkg.contributes.keybindings.filter((k) => k.command === command);
    assert.equal(found.length, 1, `${command}: ${JSON.stringify(found)}`);
    return found[0];
  };
  assert.equal(binding(GENERATE_AT_CURSOR_COMMAND).key, "ctrl+alt+g");
  assert.match(binding(GENERATE_AT_CURSOR_COMMAND).when ?? "", /editorLangId == python/);
  assert.equal(binding(CANCEL_COMMAND).key, "ctrl+alt+c");
  assert.equal(binding(CANCEL_COMMAND).when, GENERATING_CONTEXT);
  const cancel = pkg.contributes.commands.find((c) => c.command === CANCEL_COMMAND);
  assert.equal(cancel?.enablement, GENERATING_CONTEXT);
});

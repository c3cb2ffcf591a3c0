// The arguments of the server command the extension's "Generate ranked candidates" sends.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { GENERATE_AT_CURSOR_COMMAND, GENERATE_COMMAND, generateParams } from "../commands";

test("generate targets one document line, 0-based", () => {
  assert.deepEqual(generateParams("file:///w/a.py", 0), {
    command: "toppass.generate",
    arguments: [{ uri: "file:///w/a.py", line: 0 }],
  });
  assert.throws(() => generateParams("file:///w/a.py", -1), RangeError);
  assert.throws(() => generateParams("file:///w/a.py", 1.5), RangeError);
});

test("the palette command is contributed and differs from the server's command", () => {
  // vscode-languageclient registers the server's own commands (toppass.generate) in VS Code;
  // a second registration of the same id would fail.
  assert.notEqual(GENERATE_AT_CURSOR_COMMAND, GENERATE_COMMAND);
  const pkg = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf-8")) as {
    contributes: { commands: { command: string; title: string; category?: string }[] };
    activationEvents: string[];
  };
  const contributed = pkg.contributes.commands.find(
    (c) => c.command === GENERATE_AT_CURSOR_COMMAND,
  );
  assert.ok(contributed, "the command is not in package.json");
  assert.equal(
    `${contributed.category}: ${contributed.title}`,
    "toppass: Generate ranked candidates",
  );
  assert.ok(pkg.activationEvents.includes("onLanguage:python"));
});

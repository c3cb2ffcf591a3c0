// The settings the extension sends: shaped from package.json's keys, editor-only keys left out.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import {
  EDITOR_ONLY_KEYS,
  type PackageJson,
  serverCommand,
  serverSettingKeys,
  shapeServerSettings,
} from "../settings";

const packageJson = JSON.parse(
  readFileSync(join(__dirname, "..", "..", "package.json"), "utf-8"),
) as PackageJson;

test("every contributed setting is documented and has a default", () => {
  const properties = packageJson.contributes.configuration.properties;
  assert.ok(Object.keys(properties).length > EDITOR_ONLY_KEYS.length);
  for (const [key, property] of Object.entries(properties)) {
    assert.ok(key.startsWith("toppass."), key);
    assert.ok("default" in property, `${key} has no default`);
    assert.ok((property.description ?? "").trim().length > 0, `${key} has no description`);
  }
});

test("server keys are package.json's keys without the editor-only ones", () => {
  const keys = serverSettingKeys(packageJson);
  for (const key of EDITOR_ONLY_KEYS) {
    assert.ok(`toppass.${key}` in packageJson.contributes.configuration.properties, key);
    assert.ok(!keys.includes(key), `${key} would be sent to the server`);
  }
  for (const key of ["provider", "openai.baseUrl", "openai.apiKey", "samples", "topK"]) {
    assert.ok(keys.includes(key), key);
  }
});

test("flat keys become the nested tree the server reads", () => {
  const user: Record<string, unknown> = {
    provider: "openai",
    "openai.baseUrl": "http://127.0.0.1:8000/v1",
    "openai.apiKey": null,
    samples: 32,
    serverPath: "/opt/toppass/bin/toppass-ls",
  };
  const tree = shapeServerSettings(
    ["provider", "openai.baseUrl", "openai.apiKey", "samples", "topK"],
    (key) => user[key],
  );
  assert.deepEqual(tree, {
    provider: "openai",
    openai: { baseUrl: "http://127.0.0.1:8000/v1", apiKey: null },
    samples: 32,
  });
});

test("the server command defaults to toppass-ls on PATH and always talks stdio", () => {
  assert.deepEqual(serverCommand(undefined, undefined), {
    command: "toppass-ls",
    args: ["--stdio"],
  });
  assert.deepEqual(serverCommand("  ", []), { command: "toppass-ls", args: ["--stdio"] });
  assert.deepEqual(serverCommand("/venv/bin/python", ["-m", "toppass_ls"]), {
    command: "/venv/bin/python",
    args: ["-m", "toppass_ls", "--stdio"],
  });
});

// The settings the extension sends: shaped from package.json's keys, editor-only keys left out.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import {
  EDITOR_ONLY_KEYS,
  type PackageJson,
  SECRET_KEYS,
  serverCommand,
  serverSettingKeys,
  serverSettings,
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
  for (const key of ["provider", "openai.baseUrl", "samples", "topK"]) {
    assert.ok(keys.includes(key), key);
  }
});

test("the API key is no setting: it comes from SecretStorage and is always sent", () => {
  const properties = packageJson.contributes.configuration.properties;
  assert.deepEqual(SECRET_KEYS, ["openai.apiKey"]);
  // Declared only so that a value left in settings.json can be removed; hidden as deprecated.
  assert.match(properties["toppass.openai.apiKey"].deprecationMessage ?? "", /Set API key/);
  const keys = serverSettingKeys(packageJson);
  // A value left in settings.json is never sent: only the stored secret is.
  const user: Record<string, unknown> = { "openai.apiKey": "sk-plain-text", provider: "openai" };
  const withKey = serverSettings(keys, (key) => user[key], " sk-secret ");
  assert.deepEqual(withKey.openai, { apiKey: "sk-secret" });
  assert.equal(withKey.provider, "openai");
  // None stored (or removed): null, so that the server drops a key it had and reads
  // OPENAI_API_KEY instead.
  assert.deepEqual(serverSettings(keys, (key) => user[key], undefined).openai, { apiKey: null });
  assert.deepEqual(serverSettings(keys, (key) => user[key], "  ").openai, { apiKey: null });
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

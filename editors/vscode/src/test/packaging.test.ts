// The extension as users install it: one esbuild bundle, a .vsix of a handful of files that
// `vsce package` builds without --skip-license or --allow-missing-repository, the licence, the
// icon, and a bundle that loads (against a stand-in for the `vscode` module).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import Module from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const EXTENSION = join(__dirname, "..", "..");
const REPO = join(EXTENSION, "..", "..");
const BIN = join(EXTENSION, "node_modules", ".bin");
const BUNDLE = join(EXTENSION, "dist", "extension.js");

const pkg = JSON.parse(readFileSync(join(EXTENSION, "package.json"), "utf-8")) as {
  main: string;
  publisher: string;
  license: string;
  icon: string;
  repository: { type: string; url: string };
  scripts: Record<string, string>;
  dependencies?: Record<string, string>;
};

function run(tool: string, args: string[]): string {
  return execFileSync(join(BIN, tool), args, { cwd: EXTENSION, encoding: "utf-8" });
}

test("the manifest names a publisher, a licence, a repository and an icon", () => {
  assert.equal(pkg.publisher, "toppass");
  assert.equal(pkg.license, "Apache-2.0");
  assert.equal(pkg.repository.type, "git");
  assert.match(pkg.repository.url, /^https:\/\//);
  assert.equal(pkg.main, "./dist/extension.js");
  // Everything the extension runs is in the bundle: nothing to install beside it.
  assert.deepEqual(pkg.dependencies ?? {}, {});
  assert.deepEqual(
    readFileSync(join(EXTENSION, "LICENSE"), "utf-8"),
    readFileSync(join(REPO, "LICENSE"), "utf-8"),
    "editors/vscode/LICENSE is not the repository's LICENSE",
  );
  const png = readFileSync(join(EXTENSION, pkg.icon));
  assert.equal(png.subarray(1, 4).toString("latin1"), "PNG");
  assert.equal(png.subarray(12, 16).toString("latin1"), "IHDR");
  assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [128, 128]);
});

test("the bundle loads and exports activate/deactivate", () => {
  run("esbuild", pkg.scripts.bundle.split(" ").slice(1));
  // A stand-in for the `vscode` module: any member is a class (the language client extends
  // some at load time); nothing is called until activate(). `__esModule` keeps TypeScript's
  // __importStar from copying its (no) own properties.
  const stub: unknown = new Proxy(
    {},
    { get: (_target, name) => (name === "__esModule" ? true : class {}) },
  );
  const loader = Module as unknown as {
    _load: (request: string, parent: unknown, isMain: boolean) => unknown;
  };
  const load = loader._load;
  loader._load = (request, parent, isMain) =>
    request === "vscode" ? stub : load(request, parent, isMain);
  try {
    const extension = require(BUNDLE) as Record<string, unknown>;
    assert.equal(typeof extension.activate, "function");
    assert.equal(typeof extension.deactivate, "function");
  } finally {
    loader._load = load;
    delete require.cache[BUNDLE];
  }
  // Only `vscode` and Node's own modules stay outside the bundle.
  const required = [...readFileSync(BUNDLE, "utf-8").matchAll(/require\("([^"]+)"\)/g)].map(
    (m) => m[1],
  );
  const outside = required.filter((name) => name !== "vscode" && !Module.isBuiltin(name));
  assert.deepEqual([...new Set(outside)], []);
});

test("vsce lists a handful of files and packages without extra flags", { timeout: 120_000 }, () => {
  run("esbuild", pkg.scripts.bundle.split(" ").slice(1));
  const listed = run("vsce", ["ls"])
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .sort();
  assert.deepEqual(listed, [
    "LICENSE",
    "README.md",
    "dist/extension.js",
    "images/icon.png",
    "package.json",
  ]);
  const folder = mkdtempSync(join(tmpdir(), "toppass-vsix-"));
  try {
    const vsix = join(folder, "toppass.vsix");
    const output = run("vsce", ["package", "--out", vsix]);
    assert.ok(existsSync(vsix), output);
    assert.doesNotMatch(output, /WARNING/, output);
    assert.match(output, /Packaged: .*\(7 files/, output);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

// The extension's side of the protocol against the real toppass-ls over stdio, from Node through
// vscode-jsonrpc, as vscode-languageclient would talk to it: initialize with the settings the
// extension shapes, open a file, ask for code actions, run the generate command the extension's
// palette command sends, answer window/showMessageRequest and apply workspace/applyEdit.
// The server samples from tests/editors/fake_openai_server.py, a real HTTP server speaking the
// OpenAI API with the fixed answers of tests/editors/scenario.json.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

import {
  createMessageConnection,
  type MessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
} from "vscode-jsonrpc/node";
import {
  ApplyWorkspaceEditRequest,
  type ApplyWorkspaceEditParams,
  type CodeAction,
  CodeActionRequest,
  CodeActionTriggerKind,
  ConfigurationRequest,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  ExecuteCommandRequest,
  ExitNotification,
  InitializedNotification,
  InitializeRequest,
  type MessageActionItem,
  RegistrationRequest,
  ShowMessageNotification,
  ShowMessageRequest,
  type ShowMessageRequestParams,
  ShutdownRequest,
  type TextEdit,
  WorkDoneProgressCreateRequest,
  type WorkspaceEdit,
} from "vscode-languageserver-protocol";

import { generateParams } from "../commands";
import {
  type PackageJson,
  serverCommand,
  serverSettingKeys,
  shapeServerSettings,
} from "../settings";

const REPO = resolve(__dirname, "..", "..", "..", "..");
const EDITOR_TESTS = join(REPO, "tests", "editors");

interface Scenario {
  file: string;
  source: string;
  line: number;
  function: string;
  candidates: string[];
  bodies: string[];
  placeholder: string;
}

const scenario = JSON.parse(readFileSync(join(EDITOR_TESTS, "scenario.json"), "utf-8")) as Scenario;
const packageJson = JSON.parse(
  readFileSync(join(__dirname, "..", "..", "package.json"), "utf-8"),
) as PackageJson;

/** The Python environment with toppass installed: $TOPPASS_PYTHON, else the repo's .venv. */
function findPython(): string | undefined {
  const candidates = [process.env.TOPPASS_PYTHON, join(REPO, ".venv", "bin", "python")];
  return candidates.find((path): path is string => !!path && existsSync(path));
}

/** Why this test cannot run here, or undefined when it can. */
function missingPrerequisite(python: string | undefined): string | undefined {
  if (python === undefined) {
    return "no Python environment with toppass: run `make install-dev` or set TOPPASS_PYTHON";
  }
  return undefined;
}

function startFakeOpenAI(
  python: string,
  folder: string,
): Promise<{ url: string; proc: ChildProcess; log: string }> {
  const candidates = join(folder, "candidates.json");
  writeFileSync(candidates, JSON.stringify(scenario.candidates));
  const log = join(folder, "requests.jsonl");
  const proc = spawn(
    python,
    [join(EDITOR_TESTS, "fake_openai_server.py"), "--candidates", candidates, "--log", log],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  return new Promise((resolveUrl, reject) => {
    proc.once("error", reject);
    proc.once("exit", (code) => reject(new Error(`fake OpenAI server exited with ${code}`)));
    createInterface({ input: proc.stdout! }).once("line", (url) => resolveUrl({ url, proc, log }));
  });
}

function requestCount(log: string): number {
  return existsSync(log)
    ? readFileSync(log, "utf-8")
        .split("\n")
        .filter((l) => l.trim()).length
    : 0;
}

function offset(text: string, line: number, character: number): number {
  const lines = text.split("\n");
  let at = 0;
  for (let i = 0; i < line; i++) {
    at += lines[i].length + 1;
  }
  return at + character;
}

function applyTextEdits(text: string, edits: TextEdit[]): string {
  const sorted = [...edits].sort(
    (a, b) =>
      offset(text, b.range.start.line, b.range.start.character) -
      offset(text, a.range.start.line, a.range.start.character),
  );
  for (const edit of sorted) {
    const start = offset(text, edit.range.start.line, edit.range.start.character);
    const end = offset(text, edit.range.end.line, edit.range.end.character);
    text = text.slice(0, start) + edit.newText + text.slice(end);
  }
  return text;
}

/** The edits of a WorkspaceEdit for `uri` (documentChanges or changes), checked for version. */
function editsFor(edit: WorkspaceEdit, uri: string, version: number): TextEdit[] {
  if (edit.documentChanges) {
    const changes = edit.documentChanges.filter(
      (change) => "textDocument" in change && change.textDocument.uri === uri,
    );
    assert.equal(changes.length, 1, JSON.stringify(edit));
    const change = changes[0] as { textDocument: { version: number | null }; edits: TextEdit[] };
    assert.equal(change.textDocument.version, version, "the edit is for another document version");
    return change.edits;
  }
  assert.ok(edit.changes?.[uri], JSON.stringify(edit));
  return edit.changes[uri];
}

/** The body each title's candidate puts in place of the placeholder, checked against the source. */
function bodyOf(text: string): string {
  const body = scenario.bodies.find(
    (b) => scenario.source.replace(scenario.placeholder, b) === text,
  );
  assert.ok(body !== undefined, `not the source with one candidate's body:\n${text}`);
  return body;
}

const TITLE = /^toppass #(\d+) \((\d\.\d\d)(?:, x(\d+))?\): (.+)$/;

function assertRankedTitles(titles: string[]): void {
  const parsed = titles.map((title) => {
    const match = TITLE.exec(title);
    assert.ok(match, `not a ranked toppass title: ${title}`);
    return { rank: Number(match[1]), score: Number(match[2]), count: Number(match[3] ?? 1) };
  });
  assert.deepEqual(
    parsed.map((p) => p.rank),
    parsed.map((_, i) => i + 1),
  );
  const scores = parsed.map((p) => p.score);
  assert.deepEqual(
    scores,
    [...scores].sort((a, b) => b - a),
  );
  assert.equal(parsed.length, scenario.bodies.length); // duplicates merged, unparsable dropped
  assert.deepEqual(parsed.map((p) => p.count).sort(), [1, 1, 2]);
}

class Client {
  readonly messageRequests: ShowMessageRequestParams[] = [];
  readonly messages: string[] = [];
  readonly progress: unknown[] = [];
  readonly applied: ApplyWorkspaceEditParams[] = [];
  /** What to answer the next showMessageRequest with: the first action, or nothing. */
  choose: "first" | "dismiss" = "first";
  text = scenario.source;
  version = 1;

  constructor(
    readonly connection: MessageConnection,
    readonly uri: string,
    readonly settings: Record<string, unknown>,
  ) {
    connection.onRequest(WorkDoneProgressCreateRequest.type, () => undefined);
    connection.onRequest(RegistrationRequest.type, () => undefined);
    connection.onRequest(ConfigurationRequest.type, (params) =>
      params.items.map((item) => (item.section === "toppass" ? settings : null)),
    );
    // vscode-jsonrpc routes $/progress for tokens nobody registered here.
    connection.onUnhandledProgress((params) => {
      this.progress.push(params);
    });
    connection.onNotification(ShowMessageNotification.type, (params) => {
      this.messages.push(params.message);
    });
    connection.onNotification("window/logMessage", () => undefined);
    connection.onRequest(ShowMessageRequest.type, (params): MessageActionItem | null => {
      this.messageRequests.push(params);
      return this.choose === "first" && params.actions?.length ? params.actions[0] : null;
    });
    connection.onRequest(ApplyWorkspaceEditRequest.type, async (params) => {
      this.applied.push(params);
      await this.change(applyTextEdits(this.text, editsFor(params.edit, this.uri, this.version)));
      return { applied: true };
    });
  }

  async change(text: string): Promise<void> {
    this.text = text;
    this.version += 1;
    await this.connection.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri: this.uri, version: this.version },
      contentChanges: [{ text }],
    });
  }

  codeActions(
    triggerKind: CodeActionTriggerKind,
  ): Promise<(CodeAction | { title: string; command: string })[] | null> {
    const position = { line: scenario.line, character: 4 };
    return this.connection.sendRequest(CodeActionRequest.type, {
      textDocument: { uri: this.uri },
      range: { start: position, end: position },
      context: { diagnostics: [], triggerKind },
    });
  }
}

test(
  "generate, offer, cache and apply through the real toppass-ls",
  { timeout: 300_000 },
  async (t) => {
    const python = findPython();
    const missing = missingPrerequisite(python);
    if (missing !== undefined) {
      t.skip(missing);
      return;
    }
    const folder = mkdtempSync(join(tmpdir(), "toppass-protocol-"));
    const fake = await startFakeOpenAI(python!, folder);
    // Started the way the extension starts it: toppass.serverPath = the environment's toppass-ls.
    const { command, args } = serverCommand(
      process.env.TOPPASS_LS ?? join(dirname(python!), "toppass-ls"),
      [],
    );
    const server = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
    const connection = createMessageConnection(
      new StreamMessageReader(server.stdout),
      new StreamMessageWriter(server.stdin),
    );
    try {
      connection.listen();
      const file = join(folder, scenario.file);
      writeFileSync(file, scenario.source);
      const uri = pathToFileURL(file).href;
      // What a user would put in settings.json; serverPath stays in the editor.
      const user: Record<string, unknown> = {
        provider: "openai",
        "openai.baseUrl": fake.url,
        "openai.apiKey": "test",
        "openai.model": "fake",
        samples: scenario.candidates.length,
        serverPath: command,
      };
      const settings = shapeServerSettings(serverSettingKeys(packageJson), (key) => user[key]);
      assert.equal("serverPath" in settings, false);
      const client = new Client(connection, uri, settings);

      const init = await connection.sendRequest(InitializeRequest.type, {
        processId: process.pid,
        rootUri: pathToFileURL(folder).href,
        workspaceFolders: [{ uri: pathToFileURL(folder).href, name: "project" }],
        initializationOptions: { toppass: settings },
        capabilities: {
          workspace: {
            applyEdit: true,
            workspaceEdit: { documentChanges: true },
            configuration: true,
            didChangeConfiguration: { dynamicRegistration: false },
          },
          window: { workDoneProgress: true, showMessage: { messageActionItem: {} } },
          textDocument: {
            synchronization: { dynamicRegistration: false },
            codeAction: {
              codeActionLiteralSupport: {
                codeActionKind: { valueSet: ["", "refactor", "refactor.rewrite", "quickfix"] },
              },
              isPreferredSupport: true,
            },
          },
        },
      });
      const provider = init.capabilities.executeCommandProvider;
      assert.ok(provider?.commands.includes("toppass.generate"), JSON.stringify(init.capabilities));
      await connection.sendNotification(InitializedNotification.type, {});
      await connection.sendNotification(DidOpenTextDocumentNotification.type, {
        textDocument: { uri, languageId: "python", version: client.version, text: client.text },
      });

      // Nothing sampled yet: an automatic request gets nothing, an invoked one the generate action.
      assert.deepEqual((await client.codeActions(CodeActionTriggerKind.Automatic)) ?? [], []);
      const first = await client.codeActions(CodeActionTriggerKind.Invoked);
      assert.ok(first && first.length === 1, JSON.stringify(first));
      const generate = first[0] as CodeAction;
      assert.equal(
        generate.title,
        `toppass: generate ranked candidates for \`${scenario.function}()\``,
      );
      assert.equal(generate.command?.command, "toppass.generate");
      assert.equal(requestCount(fake.log), 0, "a code-action request sampled");

      // The palette command: sample, rank, offer; dismissing applies nothing.
      client.choose = "dismiss";
      const params = generateParams(uri, scenario.line);
      const dismissed = (await connection.sendRequest(ExecuteCommandRequest.type, params)) as {
        applied: number | null;
        candidates: { rank: number; title: string }[];
      } | null;
      assert.equal(client.messageRequests.length, 1);
      const offered = client.messageRequests[0].actions?.map((a) => a.title) ?? [];
      assertRankedTitles(offered);
      assert.ok(client.messageRequests[0].message.includes(scenario.function));
      assert.equal(client.applied.length, 0);
      assert.equal(client.text, scenario.source);
      assert.ok(dismissed === null || dismissed.applied === null, JSON.stringify(dismissed));
      const sampled = requestCount(fake.log);
      assert.ok(sampled > 0, "the server never called the fake OpenAI endpoint");
      assert.ok(client.progress.length > 0, "no work-done progress was reported");

      // Cached for this version: the code actions are the ranked candidates, #1 preferred.
      const ranked = (await client.codeActions(CodeActionTriggerKind.Invoked)) as CodeAction[];
      assert.deepEqual(
        ranked.map((a) => a.title),
        offered,
      );
      assert.equal(ranked[0].isPreferred, true);
      for (const action of ranked) {
        assert.ok(action.kind === "refactor.rewrite.toppass", action.kind);
        const body = bodyOf(
          applyTextEdits(client.text, editsFor(action.edit!, uri, client.version)),
        );
        const preview = TITLE.exec(action.title)![4].replace(/…$/, "").trim();
        assert.ok(body.trim().startsWith(preview), `${action.title} does not preview ${body}`);
      }

      // Generating again on the same version reuses the cache and applies the chosen #1.
      client.choose = "first";
      const chosen = (await connection.sendRequest(ExecuteCommandRequest.type, params)) as {
        applied: number | null;
      } | null;
      assert.equal(requestCount(fake.log), sampled, "cached candidates were sampled again");
      assert.equal(client.applied.length, 1);
      assert.equal(client.applied[0].label, offered[0]);
      assert.equal(chosen?.applied, 1);
      assert.equal(
        bodyOf(client.text),
        bodyOf(applyTextEdits(scenario.source, editsFor(ranked[0].edit!, uri, 1))),
      );
      assert.deepEqual(client.messages, []);

      await connection.sendRequest(ShutdownRequest.type);
      await connection.sendNotification(ExitNotification.type);
    } finally {
      connection.dispose();
      server.kill();
      fake.proc.kill();
      rmSync(folder, { recursive: true, force: true });
    }
  },
);

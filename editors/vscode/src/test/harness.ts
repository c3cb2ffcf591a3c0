// What the protocol tests share: the real toppass-ls started over stdio the way the extension
// starts it, a vscode-jsonrpc client standing in for vscode-languageclient (it answers the
// server's requests as VS Code does and feeds $/progress to the extension's own ./generation
// module), the fake OpenAI endpoints, and helpers to apply and check edits.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
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
  ExitNotification,
  type InitializeResult,
  InitializedNotification,
  InitializeRequest,
  type MessageActionItem,
  type ProgressToken,
  RegistrationRequest,
  ShowMessageNotification,
  ShowMessageRequest,
  type ShowMessageRequestParams,
  ShutdownRequest,
  type TextEdit,
  WorkDoneProgressCreateRequest,
  type WorkspaceEdit,
} from "vscode-languageserver-protocol";

import { Generations, type ProgressState } from "../generation";
import { type PackageJson, serverCommand, serverSettingKeys, serverSettings } from "../settings";

export const REPO = resolve(__dirname, "..", "..", "..", "..");
export const EDITOR_TESTS = join(REPO, "tests", "editors");

export interface Scenario {
  file: string;
  source: string;
  line: number;
  function: string;
  candidates: string[];
  bodies: string[];
  placeholder: string;
}

export const scenario = JSON.parse(
  readFileSync(join(EDITOR_TESTS, "scenario.json"), "utf-8"),
) as Scenario;
export const packageJson = JSON.parse(
  readFileSync(join(__dirname, "..", "..", "package.json"), "utf-8"),
) as PackageJson;

/** The Python environment with toppass installed: $TOPPASS_PYTHON, else the repo's .venv. */
export function findPython(): string | undefined {
  const candidates = [process.env.TOPPASS_PYTHON, join(REPO, ".venv", "bin", "python")];
  return candidates.find((path): path is string => !!path && existsSync(path));
}

export const NO_PYTHON =
  "no Python environment with toppass: run `make install-dev` or set TOPPASS_PYTHON";

/** Start a program that prints a URL on its first stdout line. */
function startUrlPrinter(
  python: string,
  argv: string[],
): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(python, argv, { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolveUrl, reject) => {
    proc.once("error", reject);
    proc.once("exit", (code) => reject(new Error(`${argv[0]} exited with ${code}`)));
    createInterface({ input: proc.stdout! }).once("line", (url) => resolveUrl({ url, proc }));
  });
}

/** tests/editors/fake_openai_server.py answering with the scenario's candidates; every request
 * is logged (with its Authorization header) to `log`. */
export async function startScenarioOpenAI(
  python: string,
  folder: string,
): Promise<{ url: string; proc: ChildProcess; log: string }> {
  const candidates = join(folder, "candidates.json");
  writeFileSync(candidates, JSON.stringify(scenario.candidates));
  const log = join(folder, "requests.jsonl");
  const script = join(EDITOR_TESTS, "fake_openai_server.py");
  const started = await startUrlPrinter(python, [script, "--candidates", candidates, "--log", log]);
  return { ...started, log };
}

/** tests/fake_openai.py in its `slow` mode: every answer takes `seconds` (or until the client
 * hangs up), so that a generation is still sampling when the test cancels it. */
export async function startSlowOpenAI(
  python: string,
  seconds: number,
): Promise<{ url: string; proc: ChildProcess }> {
  const script = join(REPO, "tests", "fake_openai.py");
  const started = await startUrlPrinter(python, [script, "--slow-seconds", String(seconds)]);
  return { url: `${started.url}/slow/v1`, proc: started.proc };
}

export function requestLog(log: string): { authorization: string | null }[] {
  return existsSync(log)
    ? readFileSync(log, "utf-8")
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as { authorization: string | null })
    : [];
}

function offset(text: string, line: number, character: number): number {
  const lines = text.split("\n");
  let at = 0;
  for (let i = 0; i < line; i++) {
    at += lines[i].length + 1;
  }
  return at + character;
}

export function applyTextEdits(text: string, edits: TextEdit[]): string {
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
export function editsFor(edit: WorkspaceEdit, uri: string, version: number): TextEdit[] {
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
export function bodyOf(text: string): string {
  const body = scenario.bodies.find(
    (b) => scenario.source.replace(scenario.placeholder, b) === text,
  );
  assert.ok(body !== undefined, `not the source with one candidate's body:\n${text}`);
  return body;
}

export const TITLE = /^toppass #(\d+) \((?:p=)?(\d\.\d\d)(?:, x(\d+))?\): (.+)$/;

export function assertRankedTitles(titles: string[]): void {
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

/** Poll until `predicate` holds, or fail after `ms`. */
export async function waitFor(what: string, ms: number, predicate: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The editor's side: answers the server's requests as VS Code does, records what the user
 * would see, and runs generations through the extension's `Generations`. */
export class Client {
  readonly messageRequests: ShowMessageRequestParams[] = [];
  readonly messages: string[] = [];
  readonly progress: { token: ProgressToken; value: unknown }[] = [];
  /** What the extension's progress notification was told, in order. */
  readonly shown: { event: "begin" | "report" | "end"; state: ProgressState; message?: string }[] =
    [];
  readonly applied: ApplyWorkspaceEditParams[] = [];
  readonly generations: Generations;
  /** What to answer the next showMessageRequest with: the first action, or nothing. */
  choose: "first" | "dismiss" = "first";
  text = scenario.source;
  version = 1;

  constructor(
    readonly connection: MessageConnection,
    readonly uri: string,
    readonly settings: Record<string, unknown>,
  ) {
    const copy = (state: ProgressState): ProgressState => ({ ...state });
    this.generations = new Generations(connection, {
      begin: (state) => this.shown.push({ event: "begin", state: copy(state) }),
      report: (state) => this.shown.push({ event: "report", state: copy(state) }),
      end: (state, message) => this.shown.push({ event: "end", state: copy(state), message }),
    });
    connection.onRequest(WorkDoneProgressCreateRequest.type, () => undefined);
    connection.onRequest(RegistrationRequest.type, () => undefined);
    connection.onRequest(ConfigurationRequest.type, (params) =>
      params.items.map((item) => (item.section === "toppass" ? settings : null)),
    );
    // vscode-jsonrpc routes $/progress for tokens nobody registered here; the extension gets
    // the same values from the language client's handleWorkDoneProgress middleware.
    connection.onUnhandledProgress((params) => {
      this.progress.push(params);
      this.generations.handleProgress(params.token, params.value);
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

export interface Session {
  client: Client;
  init: InitializeResult;
  /** The server command line, as the extension builds it from toppass.serverPath. */
  command: string;
  /** Shut the server down politely, then make sure it is gone. */
  close(): Promise<void>;
}

/**
 * Start toppass-ls the way the extension does (toppass.serverPath = the environment's
 * toppass-ls), initialize it with the settings the extension shapes from `user` (flat VS Code
 * keys) and `apiKey` (SecretStorage), and open the scenario's file from `folder`.
 */
export async function startSession(
  python: string,
  folder: string,
  user: Record<string, unknown>,
  apiKey: string | undefined,
): Promise<Session> {
  const { command, args } = serverCommand(
    process.env.TOPPASS_LS ?? join(dirname(python), "toppass-ls"),
    [],
  );
  const server = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
  const connection = createMessageConnection(
    new StreamMessageReader(server.stdout),
    new StreamMessageWriter(server.stdin),
  );
  const kill = (): void => {
    connection.dispose();
    server.kill();
  };
  try {
    connection.listen();
    const file = join(folder, scenario.file);
    writeFileSync(file, scenario.source);
    const uri = pathToFileURL(file).href;
    const settings = serverSettings(serverSettingKeys(packageJson), (key) => user[key], apiKey);
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
    await connection.sendNotification(InitializedNotification.type, {});
    await connection.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri, languageId: "python", version: client.version, text: client.text },
    });
    const close = async (): Promise<void> => {
      try {
        await connection.sendRequest(ShutdownRequest.type);
        await connection.sendNotification(ExitNotification.type);
      } finally {
        kill();
      }
    };
    return { client, init, command, close };
  } catch (error) {
    kill();
    throw error;
  }
}

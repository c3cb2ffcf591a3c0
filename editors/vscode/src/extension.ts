/**
 * The toppass extension: starts `toppass-ls --stdio` for Python files over vscode-languageclient,
 * sends it the `toppass.*` settings and the API key from SecretStorage, and adds the commands
 * "toppass: Generate ranked candidates", "toppass: Cancel generation" and "toppass: Set API key".
 * Code actions, the choice of candidate and the edit come from the server through the standard
 * protocol. The server's work-done progress is shown as a notification with a Cancel button
 * (the language client alone would put it in the status bar, where it cannot be cancelled);
 * running and cancelling live in ./generation, which the protocol test drives.
 */

import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  type LanguageClientOptions,
  type ProgressToken,
  type ServerOptions,
  State,
  TransportKind,
} from "vscode-languageclient/node";

import {
  CANCEL_COMMAND,
  GENERATE_AT_CURSOR_COMMAND,
  GENERATE_COMMAND,
  GENERATING_CONTEXT,
  generateParams,
  REMOVE_API_KEY_COMMAND,
  SET_API_KEY_COMMAND,
} from "./commands";
import { type GenerationListener, Generations, type ProgressState } from "./generation";
import {
  API_KEY_SECRET,
  API_KEY_SETTING,
  type PackageJson,
  SECTION,
  serverCommand,
  serverSettingKeys,
  serverSettings,
} from "./settings";

let client: LanguageClient | undefined;
let generations: Generations | undefined;
/** The API key from SecretStorage, read before the server starts (initializationOptions is
 * synchronous) and kept current by `secrets.onDidChange`. */
let apiKey: string | undefined;

function readServerSettings(keys: readonly string[]): Record<string, unknown> {
  const configuration = vscode.workspace.getConfiguration(SECTION);
  return serverSettings(keys, (key) => configuration.get(key), apiKey);
}

/** One progress notification: VS Code may start its task after the server's `end` came. */
interface Shown {
  progress?: vscode.Progress<{ message?: string; increment?: number }>;
  /** Percent reported so far (VS Code takes increments). */
  reported: number;
  done?: () => void;
  ended: boolean;
}

/** Each server progress as a notification with a Cancel button, for as long as it runs. */
class ProgressNotifications implements GenerationListener {
  private readonly shown = new Map<ProgressToken, Shown>();

  constructor(private readonly cancel: (token: ProgressToken) => void) {}

  begin(state: ProgressState): void {
    const entry: Shown = { reported: 0, ended: false };
    this.shown.set(state.token, entry);
    void vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: state.title,
        cancellable: state.cancellable,
      },
      (progress, cancellation) =>
        new Promise<void>((resolve) => {
          if (entry.ended) {
            resolve();
            return;
          }
          entry.progress = progress;
          entry.done = resolve;
          cancellation.onCancellationRequested(() => this.cancel(state.token));
          this.report(state);
        }),
    );
  }

  report(state: ProgressState): void {
    const entry = this.shown.get(state.token);
    if (entry?.progress === undefined) {
      return;
    }
    const percentage = Math.max(0, Math.min(state.percentage ?? entry.reported, 100));
    const increment = Math.max(0, percentage - entry.reported);
    entry.reported += increment;
    entry.progress.report({ message: state.message, increment });
  }

  end(state: ProgressState, message: string | undefined): void {
    const entry = this.shown.get(state.token);
    this.shown.delete(state.token);
    if (entry !== undefined) {
      entry.ended = true;
      entry.done?.();
    }
    if (message === "cancelled") {
      vscode.window.setStatusBarMessage(`${state.title}: cancelled, nothing applied`, 5000);
    }
  }

  runningChanged(running: boolean): void {
    void vscode.commands.executeCommand("setContext", GENERATING_CONTEXT, running);
  }
}

function createClient(keys: readonly string[]): LanguageClient {
  const configuration = vscode.workspace.getConfiguration(SECTION);
  const { command, args } = serverCommand(
    configuration.get<string>("serverPath"),
    configuration.get<string[]>("serverArgs"),
  );
  const serverOptions: ServerOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "python" },
      { scheme: "untitled", language: "python" },
    ],
    initializationOptions: () => ({ [SECTION]: readServerSettings(keys) }),
    middleware: {
      workspace: {
        // The server may pull its section; answer with the same shaped tree we push.
        configuration: async (params, token, next) => {
          const answers = await next(params, token);
          if (!Array.isArray(answers)) {
            return answers;
          }
          return params.items.map((item, i) =>
            item.section === SECTION ? readServerSettings(keys) : answers[i],
          );
        },
      },
      // The code action "generate ranked candidates" runs the server command through here too:
      // send it ourselves, with a cancellation token that toppass.cancel can use.
      executeCommand: async (name, args, next) =>
        name === GENERATE_COMMAND ? runGeneration(args) : next(name, args),
      // Our notification shows the progress; the client's own status-bar item (which has no
      // Cancel) is not started. It still sees `end`, so that it forgets the token.
      handleWorkDoneProgress: (token, params, next) => {
        generations?.handleProgress(token, params);
        if (params.kind === "end") {
          next(token, params);
        }
      },
    },
  };
  const created = new LanguageClient(SECTION, "toppass", serverOptions, clientOptions);
  const running = new Generations(
    created,
    new ProgressNotifications((token) => void running.cancelProgress(token)),
  );
  created.onDidChangeState((event) => {
    if (event.newState === State.Stopped) {
      running.reset();
    }
  });
  generations = running;
  return created;
}

async function runGeneration(args: unknown[]): Promise<unknown> {
  if (generations === undefined) {
    void vscode.window.showErrorMessage("toppass: the language server is not running.");
    return null;
  }
  const outcome = await generations.generate(args);
  if (outcome.status === "failed") {
    const reason = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
    void vscode.window.showErrorMessage(`toppass: generating failed: ${reason}`);
    return null;
  }
  return outcome.status === "finished" ? outcome.result : null;
}

async function generateAtCursor(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== "python") {
    void vscode.window.showInformationMessage(
      "toppass: put the cursor inside a Python function first.",
    );
    return;
  }
  const params = generateParams(editor.document.uri.toString(), editor.selection.active.line);
  // The server reports progress, offers the ranked candidates and applies the choice itself.
  await runGeneration(params.arguments);
}

async function cancelGeneration(): Promise<void> {
  const cancelled = (await generations?.cancelAll()) ?? 0;
  if (cancelled === 0) {
    vscode.window.setStatusBarMessage("toppass: nothing to cancel", 3000);
  }
}

async function setApiKey(context: vscode.ExtensionContext): Promise<void> {
  const value = await vscode.window.showInputBox({
    title: "toppass: Set API key",
    prompt:
      "The API key for toppass.openai.baseUrl (OpenAI if unset). Kept in VS Code's secret " +
      "storage, never in settings; leave empty to remove it (the server then reads " +
      "OPENAI_API_KEY).",
    password: true,
    ignoreFocusOut: true,
  });
  if (value === undefined) {
    return; // escaped
  }
  if (value.trim() === "") {
    await context.secrets.delete(API_KEY_SECRET);
  } else {
    await context.secrets.store(API_KEY_SECRET, value.trim());
  }
}

/**
 * An API key left in settings.json (from before it moved to SecretStorage) moves into
 * SecretStorage and out of the settings files, so that it is not kept in plain text.
 */
async function moveApiKeyOutOfSettings(context: vscode.ExtensionContext): Promise<void> {
  const configuration = vscode.workspace.getConfiguration(SECTION);
  const inspected = configuration.inspect<unknown>(API_KEY_SETTING);
  const targets: [unknown, vscode.ConfigurationTarget][] = [
    [inspected?.workspaceValue, vscode.ConfigurationTarget.Workspace],
    [inspected?.globalValue, vscode.ConfigurationTarget.Global],
  ];
  const found = targets.filter(([value]) => typeof value === "string" && value.trim() !== "");
  if (found.length === 0) {
    return;
  }
  const key = `${SECTION}.${API_KEY_SETTING}`;
  if ((await context.secrets.get(API_KEY_SECRET)) === undefined) {
    await context.secrets.store(API_KEY_SECRET, (found[0][0] as string).trim());
  }
  try {
    for (const [, target] of found) {
      await configuration.update(API_KEY_SETTING, undefined, target);
    }
  } catch (error) {
    void vscode.window.showWarningMessage(
      `toppass: the API key is now in VS Code's secret storage, but ${key} could not be ` +
        `removed from settings.json (${String(error)}): remove it there by hand.`,
    );
    return;
  }
  void vscode.window.showInformationMessage(
    `toppass: moved ${key} out of settings.json into VS Code's secret storage (on this ` +
      'machine). "toppass: Set API key" changes it.',
  );
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const keys = serverSettingKeys(context.extension.packageJSON as PackageJson);
  await moveApiKeyOutOfSettings(context);
  apiKey = await context.secrets.get(API_KEY_SECRET);
  client = createClient(keys);

  const pushSettings = async (): Promise<void> => {
    if (client?.state === State.Running) {
      await client.sendNotification(DidChangeConfigurationNotification.type, {
        settings: { [SECTION]: readServerSettings(keys) },
      });
    }
  };

  context.subscriptions.push(
    vscode.commands.registerCommand(GENERATE_AT_CURSOR_COMMAND, generateAtCursor),
    vscode.commands.registerCommand(CANCEL_COMMAND, cancelGeneration),
    vscode.commands.registerCommand(SET_API_KEY_COMMAND, () => setApiKey(context)),
    vscode.commands.registerCommand(REMOVE_API_KEY_COMMAND, () =>
      context.secrets.delete(API_KEY_SECRET),
    ),
    context.secrets.onDidChange(async (event) => {
      if (event.key === API_KEY_SECRET) {
        apiKey = await context.secrets.get(API_KEY_SECRET);
        await pushSettings();
      }
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (!client || !event.affectsConfiguration(SECTION)) {
        return;
      }
      if (
        event.affectsConfiguration(`${SECTION}.serverPath`) ||
        event.affectsConfiguration(`${SECTION}.serverArgs`)
      ) {
        await client.stop();
        client = createClient(keys);
        await client.start();
        return;
      }
      if (event.affectsConfiguration(`${SECTION}.${API_KEY_SETTING}`)) {
        await moveApiKeyOutOfSettings(context); // pasted into settings.json again
      }
      await pushSettings();
    }),
  );
  await client.start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
  generations = undefined;
}

/**
 * The toppass extension: starts `toppass-ls --stdio` for Python files over vscode-languageclient,
 * sends it the `toppass.*` settings, and adds the command "toppass: Generate ranked candidates".
 * Code actions, progress, the choice of candidate and the edit all come from the server through
 * the standard protocol; this file only wires VS Code to it.
 */

import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

import { GENERATE_AT_CURSOR_COMMAND, generateParams } from "./commands";
import {
  type PackageJson,
  SECTION,
  serverCommand,
  serverSettingKeys,
  shapeServerSettings,
} from "./settings";

let client: LanguageClient | undefined;

function readServerSettings(keys: readonly string[]): Record<string, unknown> {
  const configuration = vscode.workspace.getConfiguration(SECTION);
  return shapeServerSettings(keys, (key) => configuration.get(key));
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
    },
  };
  return new LanguageClient(SECTION, "toppass", serverOptions, clientOptions);
}

async function generateAtCursor(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== "python") {
    void vscode.window.showInformationMessage(
      "toppass: put the cursor inside a Python function first.",
    );
    return;
  }
  if (!client) {
    void vscode.window.showErrorMessage("toppass: the language server is not running.");
    return;
  }
  const params = generateParams(editor.document.uri.toString(), editor.selection.active.line);
  // The server reports progress, offers the ranked candidates and applies the choice itself.
  await client.sendRequest(ExecuteCommandRequest.type, params);
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const keys = serverSettingKeys(context.extension.packageJSON as PackageJson);
  client = createClient(keys);

  context.subscriptions.push(
    vscode.commands.registerCommand(GENERATE_AT_CURSOR_COMMAND, generateAtCursor),
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
      await client.sendNotification(DidChangeConfigurationNotification.type, {
        settings: { [SECTION]: readServerSettings(keys) },
      });
    }),
  );
  await client.start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}

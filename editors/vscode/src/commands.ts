/**
 * The command ids the extension contributes and the server command it invokes, kept free of the
 * `vscode` API so that tests (and the protocol test against the real server) build exactly the
 * arguments the extension sends.
 */

/** Executed on the server through `workspace/executeCommand` (see toppass-ls). */
export const GENERATE_COMMAND = "toppass.generate";

/** The extension's own command id (the palette entry "toppass: Generate ranked candidates"). */
export const GENERATE_AT_CURSOR_COMMAND = "toppass.generateAtCursor";

/** "toppass: Cancel generation": stops the running generation; nothing is applied. */
export const CANCEL_COMMAND = "toppass.cancel";

/** "toppass: Set API key" / "toppass: Remove API key" (VS Code's SecretStorage). */
export const SET_API_KEY_COMMAND = "toppass.setApiKey";
export const REMOVE_API_KEY_COMMAND = "toppass.removeApiKey";

/** Context key, true while a generation can be cancelled (the cancel keybinding's `when`). */
export const GENERATING_CONTEXT = "toppass.generating";

export interface GenerateArgument {
  /** The document's URI as the server knows it (from textDocument/didOpen). */
  uri: string;
  /** 0-based line anywhere inside the function, its `def` line or its decorators. */
  line: number;
}

/** `workspace/executeCommand` params that sample, rank and offer candidates for one function. */
export function generateParams(
  uri: string,
  line: number,
): { command: string; arguments: [GenerateArgument] } {
  if (!Number.isInteger(line) || line < 0) {
    throw new RangeError(`line must be a 0-based integer, got ${line}`);
  }
  return { command: GENERATE_COMMAND, arguments: [{ uri, line }] };
}

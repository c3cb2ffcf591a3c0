/**
 * Running and cancelling toppass generations, free of the `vscode` API so that the protocol test
 * drives exactly this code against the real server over vscode-jsonrpc.
 *
 * A generation is the server command `toppass.generate` (workspace/executeCommand). While it
 * samples and ranks, the server reports server-initiated work-done progress
 * (`window/workDoneProgress/create`, then `$/progress` begin/report/end, `cancellable: true`).
 * Two messages stop it, and `cancelAll` sends both because each reaches a phase the other does
 * not:
 *   - `window/workDoneProgress/cancel` for the progress token stops sampling and ranking (also
 *     for an invoked inline completion, which has progress but no command of ours);
 *   - `$/cancelRequest` for the command's request also stops it while it waits for the user to
 *     pick a candidate (the progress has ended by then).
 * Either way the server applies nothing, and cancelling closes its HTTP requests.
 */

import {
  type CancellationToken,
  CancellationTokenSource,
  ExecuteCommandRequest,
  type ProgressToken,
  WorkDoneProgressCancelNotification,
  type WorkDoneProgressBegin,
  type WorkDoneProgressEnd,
  type WorkDoneProgressReport,
} from "vscode-languageserver-protocol";

import { GENERATE_COMMAND } from "./commands";

/** What this module needs of a connection: vscode-languageclient's `LanguageClient` and
 * vscode-jsonrpc's `MessageConnection` both have it. */
export interface ServerConnection {
  sendRequest<R>(method: string, param: unknown, token?: CancellationToken): Promise<R>;
  sendNotification(method: string, params: unknown): Promise<void>;
}

/** One server progress as the user sees it. */
export interface ProgressState {
  token: ProgressToken;
  title: string;
  message?: string;
  /** 0-100 when the server reports it. */
  percentage?: number;
  cancellable: boolean;
}

/** How a generation ended. `result` is the server command's answer (see toppass-ls). */
export type GenerationOutcome =
  | { status: "finished"; result: GenerateResult | null }
  | { status: "cancelled" }
  | { status: "failed"; error: unknown };

/** The server's answer to `toppass.generate` (null when nothing could be offered). */
export interface GenerateResult {
  function?: string;
  candidates?: { rank: number; title: string }[];
  applied: number | null;
}

/** Told about progress, so that an editor can show it (all optional). */
export interface GenerationListener {
  begin?(progress: ProgressState): void;
  report?(progress: ProgressState): void;
  end?(progress: ProgressState, message: string | undefined): void;
  /** Whether anything can be cancelled now changed (VS Code: the `toppass.generating` context). */
  runningChanged?(running: boolean): void;
}

type WorkDoneProgressValue = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

export class Generations {
  private readonly progress = new Map<ProgressToken, ProgressState>();
  private readonly requests = new Set<CancellationTokenSource>();
  private wasRunning = false;

  constructor(
    private readonly connection: ServerConnection,
    private readonly listener: GenerationListener = {},
  ) {}

  /** Something the user could cancel: a generate request in flight or a server progress. */
  get running(): boolean {
    return this.requests.size > 0 || this.progress.size > 0;
  }

  /** The server progress now running, oldest first. */
  active(): ProgressState[] {
    return [...this.progress.values()];
  }

  /**
   * Run `toppass.generate` with `args` (one `{uri, line}` object: see `generateParams`) and
   * resolve when the server answers: after the user picked a candidate (the server applies it
   * itself), dismissed the offer, or the generation was cancelled.
   */
  async generate(args: unknown[]): Promise<GenerationOutcome> {
    const source = new CancellationTokenSource();
    this.requests.add(source);
    this.changed();
    try {
      const result = await this.connection.sendRequest<GenerateResult | null | undefined>(
        ExecuteCommandRequest.method,
        { command: GENERATE_COMMAND, arguments: args },
        source.token,
      );
      if (source.token.isCancellationRequested) {
        return { status: "cancelled" };
      }
      return { status: "finished", result: result ?? null };
    } catch (error) {
      // vscode-jsonrpc rejects a cancelled request with RequestCancelled; the language client
      // answers undefined instead (above).
      if (source.token.isCancellationRequested) {
        return { status: "cancelled" };
      }
      return { status: "failed", error };
    } finally {
      this.requests.delete(source);
      source.dispose();
      this.changed();
    }
  }

  /**
   * A `$/progress` notification from the server (VS Code: the language client's
   * `handleWorkDoneProgress` middleware; the protocol test: `onUnhandledProgress`).
   */
  handleProgress(token: ProgressToken, value: WorkDoneProgressValue): void {
    if (value.kind === "begin") {
      const state: ProgressState = {
        token,
        title: value.title,
        message: value.message,
        percentage: value.percentage,
        cancellable: value.cancellable === true,
      };
      this.progress.set(token, state);
      this.listener.begin?.(state);
      this.changed();
      return;
    }
    const state = this.progress.get(token);
    if (state === undefined) {
      return; // a progress that began before we listened, or ended already
    }
    if (value.kind === "report") {
      state.message = value.message ?? state.message;
      state.percentage = value.percentage ?? state.percentage;
      state.cancellable = value.cancellable ?? state.cancellable;
      this.listener.report?.(state);
      return;
    }
    this.progress.delete(token);
    this.listener.end?.(state, value.message);
    this.changed();
  }

  /** Cancel one progress (VS Code: its notification's Cancel button). */
  async cancelProgress(token: ProgressToken): Promise<void> {
    if (this.progress.get(token)?.cancellable) {
      await this.connection.sendNotification(WorkDoneProgressCancelNotification.method, { token });
    }
  }

  /**
   * Cancel everything running (`toppass.cancel`): every cancellable progress and every generate
   * request in flight. Returns how many things were cancelled (0: nothing was running).
   */
  async cancelAll(): Promise<number> {
    const tokens = [...this.progress.values()].filter((p) => p.cancellable).map((p) => p.token);
    const requests = [...this.requests].filter((s) => !s.token.isCancellationRequested);
    await Promise.all(tokens.map((token) => this.cancelProgress(token)));
    for (const source of requests) {
      source.cancel(); // the connection sends $/cancelRequest for it
    }
    return tokens.length + requests.length;
  }

  /** Forget all progress (the server stopped: no `end` will come). */
  reset(): void {
    for (const state of [...this.progress.values()]) {
      this.progress.delete(state.token);
      this.listener.end?.(state, undefined);
    }
    this.changed();
  }

  private changed(): void {
    const running = this.running;
    if (running !== this.wasRunning) {
      this.wasRunning = running;
      this.listener.runningChanged?.(running);
    }
  }
}

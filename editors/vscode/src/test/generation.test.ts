// The bookkeeping behind the progress notification and "toppass: Cancel generation", against
// a recording connection (cancel.test.ts runs the same code against the real server).
import assert from "node:assert/strict";
import { test } from "node:test";

import type { CancellationToken } from "vscode-languageserver-protocol";

import { type GenerationListener, Generations, type ServerConnection } from "../generation";

/** Records what would go to the server; each request waits until the test answers it. */
class RecordingConnection implements ServerConnection {
  readonly notifications: { method: string; params: unknown }[] = [];
  readonly requests: {
    method: string;
    params: unknown;
    token?: CancellationToken;
    answer: (value: unknown) => void;
    fail: (error: unknown) => void;
  }[] = [];

  sendRequest<R>(method: string, params: unknown, token?: CancellationToken): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.requests.push({
        method,
        params,
        token,
        answer: (value) => resolve(value as R),
        fail: reject,
      });
    });
  }

  async sendNotification(method: string, params: unknown): Promise<void> {
    this.notifications.push({ method, params });
  }
}

function recorder(): { events: string[]; listener: GenerationListener } {
  const events: string[] = [];
  return {
    events,
    listener: {
      begin: (p) => events.push(`begin ${p.title} ${p.cancellable}`),
      report: (p) => events.push(`report ${p.message} ${p.percentage}`),
      end: (p, message) => events.push(`end ${p.title} ${message}`),
      runningChanged: (running) => events.push(`running ${running}`),
    },
  };
}

const ARGS = [{ uri: "file:///w/a.py", line: 3 }];

test("generate sends toppass.generate and resolves with the server's answer", async () => {
  const connection = new RecordingConnection();
  const { events, listener } = recorder();
  const generations = new Generations(connection, listener);
  const running = generations.generate(ARGS);
  assert.equal(generations.running, true);
  assert.deepEqual(connection.requests[0].params, {
    command: "toppass.generate",
    arguments: ARGS,
  });
  assert.equal(connection.requests[0].method, "workspace/executeCommand");
  connection.requests[0].answer({ applied: 1 });
  assert.deepEqual(await running, { status: "finished", result: { applied: 1 } });
  assert.equal(generations.running, false);
  assert.deepEqual(events, ["running true", "running false"]);
});

test("server progress is followed from begin to end", () => {
  const connection = new RecordingConnection();
  const { events, listener } = recorder();
  const generations = new Generations(connection, listener);
  generations.handleProgress("t1", { kind: "report", message: "before begin" }); // ignored
  generations.handleProgress("t1", {
    kind: "begin",
    title: "toppass: f()",
    cancellable: true,
    message: "starting",
    percentage: 0,
  });
  generations.handleProgress("t1", { kind: "report", message: "sampling 8/16", percentage: 45 });
  assert.deepEqual(generations.active(), [
    {
      token: "t1",
      title: "toppass: f()",
      message: "sampling 8/16",
      percentage: 45,
      cancellable: true,
    },
  ]);
  generations.handleProgress("t1", { kind: "end", message: "done" });
  assert.deepEqual(generations.active(), []);
  assert.deepEqual(events, [
    "begin toppass: f() true",
    "running true",
    "report sampling 8/16 45",
    "end toppass: f() done",
    "running false",
  ]);
});

test("cancelAll cancels the progress and the request; the outcome says cancelled", async () => {
  const connection = new RecordingConnection();
  const generations = new Generations(connection);
  const running = generations.generate(ARGS);
  generations.handleProgress(7, { kind: "begin", title: "toppass: f()", cancellable: true });
  generations.handleProgress(8, { kind: "begin", title: "other", cancellable: false });
  assert.equal(await generations.cancelAll(), 2);
  assert.deepEqual(connection.notifications, [
    { method: "window/workDoneProgress/cancel", params: { token: 7 } },
  ]);
  assert.equal(connection.requests[0].token?.isCancellationRequested, true);
  // vscode-jsonrpc rejects a cancelled request (the language client answers undefined).
  connection.requests[0].fail(new Error("Request cancelled"));
  assert.deepEqual(await running, { status: "cancelled" });
  // The request is gone; the progress stays until the server ends it.
  assert.equal(await generations.cancelAll(), 1);
});

test("cancelProgress cancels only a cancellable progress; a failure is reported", async () => {
  const connection = new RecordingConnection();
  const generations = new Generations(connection);
  generations.handleProgress("a", { kind: "begin", title: "x", cancellable: false });
  await generations.cancelProgress("a");
  await generations.cancelProgress("unknown");
  assert.deepEqual(connection.notifications, []);
  const running = generations.generate(ARGS);
  const error = new Error("boom");
  connection.requests[0].fail(error);
  assert.deepEqual(await running, { status: "failed", error });
});

test("reset ends every progress when the server stops", () => {
  const { events, listener } = recorder();
  const generations = new Generations(new RecordingConnection(), listener);
  generations.handleProgress("t", { kind: "begin", title: "toppass: f()", cancellable: true });
  generations.reset();
  assert.equal(generations.running, false);
  assert.deepEqual(events.slice(-2), ["end toppass: f() undefined", "running false"]);
});

// Cancelling a running generation through the extension's own code path (./generation, which
// the progress notification's Cancel button and the "toppass: Cancel generation" command call),
// against the real toppass-ls sampling from tests/fake_openai.py in its slow mode (each answer
// takes a minute unless the client hangs up). The server must stop within seconds, end its
// progress as cancelled, offer nothing and apply nothing, and still serve the next request.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { CodeActionTriggerKind } from "vscode-languageserver-protocol";

import { generateParams } from "../commands";
import type { GenerationOutcome } from "../generation";
import {
  type Client,
  findPython,
  NO_PYTHON,
  scenario,
  startSession,
  startSlowOpenAI,
  waitFor,
} from "./harness";

const SLOW_SECONDS = 60;
/** Far below SLOW_SECONDS: the generation stopped because it was cancelled. */
const STOPS_WITHIN_MS = 15_000;

/** Start a generation, wait until the server's progress shows, cancel it with `cancel`, and
 * return how it ended and how long cancelling took. */
async function generateThenCancel(
  client: Client,
  cancel: () => Promise<unknown>,
): Promise<{ outcome: GenerationOutcome; ms: number; endMessage: string | undefined }> {
  const before = client.shown.length;
  const running = client.generations.generate(generateParams(client.uri, scenario.line).arguments);
  await waitFor("the server's progress to begin", 60_000, () =>
    client.shown.slice(before).some((s) => s.event === "begin"),
  );
  assert.equal(client.generations.running, true);
  const started = Date.now();
  await cancel();
  const outcome = await running;
  const ms = Date.now() - started;
  await waitFor("the server's progress to end", 10_000, () =>
    client.shown.slice(before).some((s) => s.event === "end"),
  );
  const end = client.shown.slice(before).find((s) => s.event === "end");
  return { outcome, ms, endMessage: end?.message };
}

test(
  "a running generation is cancelled by toppass.cancel and by the progress's Cancel button",
  { timeout: 300_000 },
  async (t) => {
    const python = findPython();
    if (python === undefined) {
      t.skip(NO_PYTHON);
      return;
    }
    const folder = mkdtempSync(join(tmpdir(), "toppass-cancel-"));
    const fake = await startSlowOpenAI(python, SLOW_SECONDS);
    const user: Record<string, unknown> = {
      provider: "openai",
      "openai.baseUrl": fake.url,
      "openai.model": "fake",
      // One request per sample, like Ollama: several connections for the cancel to close.
      "openai.honoursN": "no",
      samples: 4,
    };
    const session = await startSession(python, folder, user, "test");
    const { client } = session;
    try {
      // "toppass: Cancel generation": cancels the progress and the command's request.
      const command = await generateThenCancel(client, async () => {
        assert.ok((await client.generations.cancelAll()) >= 1, "nothing to cancel");
      });
      assert.equal(command.outcome.status, "cancelled", JSON.stringify(command.outcome));
      assert.ok(command.ms < STOPS_WITHIN_MS, `cancelling took ${command.ms} ms`);
      assert.equal(command.endMessage, "cancelled");
      assert.equal(client.generations.running, false);
      assert.equal(await client.generations.cancelAll(), 0, "something still ran after cancel");

      // The notification's Cancel button: window/workDoneProgress/cancel for its token only.
      const button = await generateThenCancel(client, async () => {
        const [progress] = client.generations.active();
        assert.ok(progress?.cancellable, JSON.stringify(progress));
        await client.generations.cancelProgress(progress.token);
      });
      assert.ok(
        button.outcome.status === "cancelled" ||
          (button.outcome.status === "finished" && button.outcome.result === null),
        JSON.stringify(button.outcome),
      );
      assert.ok(button.ms < STOPS_WITHIN_MS, `cancelling took ${button.ms} ms`);
      assert.equal(button.endMessage, "cancelled");

      // Nothing was offered or applied, nothing went wrong, and the server still answers:
      // nothing is cached, so the code action is "generate" again.
      assert.deepEqual(client.messageRequests, []);
      assert.deepEqual(client.applied, []);
      assert.equal(client.text, scenario.source);
      assert.deepEqual(client.messages, []);
      const actions = await client.codeActions(CodeActionTriggerKind.Invoked);
      assert.equal(actions?.length, 1, JSON.stringify(actions));
      assert.match(actions![0].title, /^toppass: generate ranked candidates/);
    } finally {
      await session.close();
      fake.proc.kill();
      rmSync(folder, { recursive: true, force: true });
    }
  },
);

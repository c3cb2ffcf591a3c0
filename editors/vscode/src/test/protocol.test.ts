// The extension's side of the protocol against the real toppass-ls over stdio, from Node through
// vscode-jsonrpc, as vscode-languageclient would talk to it: initialize with the settings the
// extension shapes (the API key from SecretStorage), open a file, ask for code actions, run the
// generate command through the extension's own ./generation (what its palette command and the
// "generate" code action run), answer window/showMessageRequest and apply workspace/applyEdit.
// The server samples from tests/editors/fake_openai_server.py, a real HTTP server speaking the
// OpenAI API with the fixed answers of tests/editors/scenario.json.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { type CodeAction, CodeActionTriggerKind } from "vscode-languageserver-protocol";

import { generateParams } from "../commands";
import {
  applyTextEdits,
  assertRankedTitles,
  bodyOf,
  editsFor,
  findPython,
  NO_PYTHON,
  requestLog,
  scenario,
  startScenarioOpenAI,
  startSession,
  TITLE,
} from "./harness";

test(
  "generate, offer, cache and apply through the real toppass-ls",
  { timeout: 300_000 },
  async (t) => {
    const python = findPython();
    if (python === undefined) {
      t.skip(NO_PYTHON);
      return;
    }
    const folder = mkdtempSync(join(tmpdir(), "toppass-protocol-"));
    const fake = await startScenarioOpenAI(python, folder);
    // What a user would put in settings.json (serverPath stays in the editor), and the key
    // "toppass: Set API key" stored in SecretStorage.
    const user: Record<string, unknown> = {
      provider: "openai",
      "openai.baseUrl": fake.url,
      "openai.model": "fake",
      samples: scenario.candidates.length,
      serverPath: "toppass-ls",
    };
    const session = await startSession(python, folder, user, "sk-from-secret-storage");
    const { client, init } = session;
    try {
      assert.equal("serverPath" in client.settings, false);
      const provider = init.capabilities.executeCommandProvider;
      assert.ok(provider?.commands.includes("toppass.generate"), JSON.stringify(init.capabilities));
      const uri = client.uri;

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
      assert.equal(requestLog(fake.log).length, 0, "a code-action request sampled");

      // The palette command: sample, rank, offer; dismissing applies nothing.
      client.choose = "dismiss";
      const params = generateParams(uri, scenario.line);
      const dismissed = await client.generations.generate(params.arguments);
      assert.equal(dismissed.status, "finished", JSON.stringify(dismissed));
      assert.equal(client.messageRequests.length, 1);
      const offered = client.messageRequests[0].actions?.map((a) => a.title) ?? [];
      assertRankedTitles(offered);
      assert.ok(client.messageRequests[0].message.includes(scenario.function));
      assert.equal(client.applied.length, 0);
      assert.equal(client.text, scenario.source);
      assert.ok(
        dismissed.status === "finished" && (dismissed.result?.applied ?? null) === null,
        JSON.stringify(dismissed),
      );
      const requests = requestLog(fake.log);
      const sampled = requests.length;
      assert.ok(sampled > 0, "the server never called the fake OpenAI endpoint");
      // The key came from SecretStorage, through the settings the extension sends.
      assert.deepEqual(
        [...new Set(requests.map((r) => r.authorization))],
        ["Bearer sk-from-secret-storage"],
      );
      // The progress the extension shows: one cancellable notification, begun and ended.
      assert.ok(client.progress.length > 0, "no work-done progress was reported");
      const events = client.shown.map((s) => s.event);
      assert.equal(events[0], "begin");
      assert.equal(events.at(-1), "end");
      assert.equal(client.shown[0].state.cancellable, true);
      const title = client.shown[0].state.title;
      assert.ok(title.includes(scenario.function), title);
      assert.equal(client.shown.at(-1)?.message, "done");
      assert.equal(client.generations.running, false);

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
      const chosen = await client.generations.generate(params.arguments);
      assert.equal(requestLog(fake.log).length, sampled, "cached candidates were sampled again");
      assert.equal(client.applied.length, 1);
      assert.equal(client.applied[0].label, offered[0]);
      assert.ok(
        chosen.status === "finished" && chosen.result?.applied === 1,
        JSON.stringify(chosen),
      );
      assert.equal(
        bodyOf(client.text),
        bodyOf(applyTextEdits(scenario.source, editsFor(ranked[0].edit!, uri, 1))),
      );
      assert.deepEqual(client.messages, []);
    } finally {
      await session.close();
      fake.proc.kill();
      rmSync(folder, { recursive: true, force: true });
    }
  },
);

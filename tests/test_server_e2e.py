"""The real server over stdio (pytest-lsp), sampling from a real HTTP server that speaks the
OpenAI API (tests/fake_openai.py), ranking with a tiny random ranker."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import pytest_lsp
from fake_openai import DEFAULT_BODIES, FakeOpenAI
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.workspace import TextDocument
from pytest_lsp import ClientServerConfig, LanguageClient

from toppass_ls import settings as settings_module
from toppass_ls.settings import settings_schema

# One server process for the module (starting one costs seconds); every test gets a fresh
# document URI, full default settings and empty records, so tests do not see each other.
pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

SOURCE = '''import math


def unique_sorted(xs: list[int]) -> list[int]:
    """Return the distinct elements of xs in increasing order."""
    raise NotImplementedError


class Stats:
    def spread(self, xs):
        """Largest minus smallest."""
        return 0
'''
FUNCTION_LINE = 3  # `def unique_sorted`
AUTOMATIC = types.CodeActionTriggerKind.Automatic
BODY_LINE = 5
# the consent answers the server remembers go to a directory of the tests' own
STATE_DIR = tempfile.mkdtemp(prefix="toppass-state-")
SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "toppass_ls", "--stdio"],
    server_env={**os.environ, "TOPPASS_STATE_DIR": STATE_DIR},
)
DEFAULTS = {key: entry["default"] for key, entry in settings_schema().items()}
_documents = itertools.count()


@pytest.fixture(scope="session")
def tiny_ranker_dir(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from ranker import Ranker, RankerConfig

    torch.manual_seed(0)
    config = RankerConfig(backbone=str(tiny_encoder_dir), head_hidden=(8,), max_length=128)
    return Ranker(config).save_pretrained(tmp_path_factory.mktemp("tiny-ranker"))


@pytest.fixture(scope="module")
def fake() -> Any:
    server = FakeOpenAI(slow_seconds=60).start()
    yield server
    server.stop()


class Editor:
    """What a test editor remembers: documents, applied edits, message requests."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.documents: dict[str, TextDocument] = {}
        self.initialized: types.InitializeResult | None = None
        self.reset()

    def reset(self) -> None:
        self.uri = f"file:///work/demo_{next(_documents)}.py"
        self.applied: list[types.ApplyWorkspaceEditParams] = []
        self.message_requests: list[types.ShowMessageRequestParams] = []
        self.choose: int | None = 0  # which offered action to pick; None dismisses
        self.client.messages.clear()
        self.client.log_messages.clear()
        self.client.progress_reports.clear()

    def open(self, uri: str, text: str) -> None:
        self.documents[uri] = TextDocument(uri, text, version=1)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=text
                )
            )
        )

    def edit_text(self, text: str, uri: str | None = None) -> None:
        """The user replaces the document's text (a full-text change)."""
        document = self.documents[uri or self.uri]
        document.apply_change(types.TextDocumentContentChangeWholeDocument(text))
        document.version = (document.version or 0) + 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=document.uri, version=document.version
                ),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text)],
            )
        )

    def save(self, uri: str | None = None) -> None:
        self.client.text_document_did_save(
            types.DidSaveTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=uri or self.uri)
            )
        )

    def text(self, uri: str | None = None) -> str:
        return self.documents[uri or self.uri].source

    def apply(self, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        self.applied.append(params)
        for change in params.edit.document_changes or []:
            assert isinstance(change, types.TextDocumentEdit)
            document = self.documents[change.text_document.uri]
            if change.text_document.version != document.version:
                return types.ApplyWorkspaceEditResult(applied=False, failure_reason="stale")
            for edit in change.edits:
                assert isinstance(edit, types.TextEdit)
                document.apply_change(
                    types.TextDocumentContentChangePartial(range=edit.range, text=edit.new_text)
                )
            document.version = (document.version or 0) + 1
            self.client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(
                        uri=document.uri, version=document.version
                    ),
                    content_changes=[types.TextDocumentContentChangeWholeDocument(document.source)],
                )
            )
        return types.ApplyWorkspaceEditResult(applied=True)

    def message_request(self, params: types.ShowMessageRequestParams) -> Any:
        if params.message.startswith("toppass: Run the candidates"):
            return None  # the consent question: dismissed here, answered where it is tested
        self.message_requests.append(params)
        if self.choose is None or not params.actions:
            return None
        return params.actions[self.choose]


def capabilities() -> types.ClientCapabilities:
    return types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=True),
        workspace=types.WorkspaceClientCapabilities(
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True),
            configuration=True,
        ),
    )


def base_settings(fake: FakeOpenAI, ranker_dir: Path, mode: str = "honours-n") -> dict[str, Any]:
    return {
        "provider": "openai",
        "openai": {"baseUrl": fake.url(mode), "apiKey": "test-key", "model": "fake-coder"},
        "samples": 8,
        "topK": 3,
        "timeBudget": 30,
        "rankerPath": str(ranker_dir),
        "allowExecution": False,  # the consent question has tests of its own
        "adaptiveSampling": False,  # all `samples` in one request; rounds have tests of their own
    }


async def start(lsp_client: LanguageClient, options: dict[str, Any]) -> Editor:
    state = Editor(lsp_client)
    # lsprotocol decodes any code action that has a `command` field as a Command (stringifying
    # the nested command object); tell them apart the way the spec does: Command.command is a
    # string, CodeAction.command is an object.
    converter = lsp_client.protocol._converter

    def command_or_code_action(obj: Any, _: Any) -> Any:
        is_command = isinstance(obj.get("command"), str)
        return converter.structure(obj, types.Command if is_command else types.CodeAction)

    converter.register_structure_hook(types.Command | types.CodeAction, command_or_code_action)

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        return state.apply(params)

    @lsp_client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def show_message_request(params: types.ShowMessageRequestParams) -> Any:
        return state.message_request(params)

    state.initialized = await lsp_client.initialize_session(
        types.InitializeParams(capabilities=capabilities(), initialization_options=options)
    )
    return state


@pytest_lsp.fixture(config=SERVER, scope="module")
async def shared_server(lsp_client: LanguageClient, fake: FakeOpenAI, tiny_ranker_dir: Path) -> Any:
    lsp_client.editor_state = await start(lsp_client, base_settings(fake, tiny_ranker_dir))  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


@pytest_asyncio.fixture(loop_scope="module")
async def editor(shared_server: LanguageClient, fake: FakeOpenAI, tiny_ranker_dir: Path) -> Editor:
    state: Editor = shared_server.editor_state  # type: ignore[attr-defined]
    fake.reset()
    state.reset()
    configure(state, base_settings(fake, tiny_ranker_dir))
    state.open(state.uri, SOURCE)
    return state


@pytest_lsp.fixture(config=SERVER, loop_scope="module")
async def fresh_server(lsp_client: LanguageClient, request: pytest.FixtureRequest) -> Any:
    """A server of its own, initialized with `request.param` as initializationOptions."""
    lsp_client.editor_state = await start(lsp_client, request.param)  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


async def code_actions(
    editor: Editor, line: int, trigger: types.CodeActionTriggerKind, only: list[str] | None = None
) -> list[types.CodeAction]:
    result = await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=editor.uri),
            range=types.Range(types.Position(line, 4), types.Position(line, 4)),
            context=types.CodeActionContext(diagnostics=[], only=only, trigger_kind=trigger),
        )
    )
    actions = list(result or [])
    assert all(isinstance(a, types.CodeAction) for a in actions), actions
    return actions  # type: ignore[return-value]


async def run_generate(editor: Editor, line: int = FUNCTION_LINE, uri: str | None = None) -> Any:
    return await editor.client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="toppass.generate", arguments=[{"uri": uri or editor.uri, "line": line}]
        )
    )


def progress_messages(client: LanguageClient) -> list[str]:
    return [
        getattr(value, "message", "") or ""
        for values in client.progress_reports.values()
        for value in values
    ]


def configure(editor: Editor, settings: dict[str, Any]) -> None:
    """Send every setting (defaults where `settings` has none): updates are merged."""
    full = {**DEFAULTS, **settings_module.normalise(settings)[0]}
    editor.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"toppass": full})
    )


async def test_generate_offers_ranked_candidates_and_applies_the_choice(editor, fake):
    invoked = await code_actions(editor, BODY_LINE, types.CodeActionTriggerKind.Invoked)
    assert [a.title for a in invoked] == [
        "toppass: generate ranked candidates for `unique_sorted()`"
    ]
    assert invoked[0].kind == "refactor.rewrite.toppass"
    assert invoked[0].command is not None
    assert invoked[0].command.command == "toppass.generate"
    assert list(invoked[0].command.arguments or []) == [{"uri": editor.uri, "line": FUNCTION_LINE}]

    editor.choose = None  # first: look at the offer, pick nothing
    summary = await run_generate(editor)
    assert [r.n for r in fake.requests] == [8]  # one request, n honoured
    assert fake.requests[0].endpoint == "chat/completions"
    prompt = fake.requests[0].body["messages"][-1]["content"]
    assert "def unique_sorted(xs: list[int]) -> list[int]:" in prompt and "import math" in prompt
    assert editor.applied == [] and summary["applied"] is None
    assert summary["sampled"] == 8
    # four distinct bodies, each sampled twice: merged with a count
    assert sorted(c["count"] for c in summary["candidates"]) == [2, 2, 2]
    offer = editor.message_requests[-1]
    assert offer.message == "toppass: 3 ranked candidates for unique_sorted()"
    titles = [a.title for a in offer.actions or []]
    assert titles == [c["title"] for c in summary["candidates"]]
    assert titles[0].startswith("toppass #1 (") and ", x2): " in titles[0]
    messages = progress_messages(editor.client)
    assert messages[0] == "starting" and "sampling 0/8" in messages and "sampling 8/8" in messages
    assert messages.index("ranking") > messages.index("sampling 8/8") and messages[-1] == "done"

    # cached: the code-action list itself shows the ranked candidates, even on automatic triggers
    for trigger in (types.CodeActionTriggerKind.Invoked, types.CodeActionTriggerKind.Automatic):
        ranked = await code_actions(editor, BODY_LINE, trigger)
        assert [a.title for a in ranked] == titles
        assert [a.is_preferred for a in ranked] == [True, None, None]
    assert len(fake.requests) == 1

    # apply #2 through the command: no new sampling, the body is replaced, docstring kept
    editor.choose = 1
    summary = await run_generate(editor)
    assert summary["applied"] == 2 and len(fake.requests) == 1
    chosen = summary["candidates"][1]["body"]
    text = editor.text()
    assert (
        '    """Return the distinct elements of xs in increasing order."""\n'
        + "".join("    " + line for line in chosen.splitlines(True))
        in text
    )
    assert "NotImplementedError" not in text
    assert text.endswith("        return 0\n")  # the rest of the file is untouched
    assert editor.applied[0].label == summary["candidates"][1]["title"]
    # the list lasts: after applying #2 the code actions still offer every candidate, and
    # applying #1 replaces the body #2 put there
    after = await code_actions(editor, BODY_LINE, types.CodeActionTriggerKind.Automatic)
    assert [a.title for a in after] == titles and len(fake.requests) == 1
    assert after[0].edit is not None
    editor.apply(types.ApplyWorkspaceEditParams(edit=after[0].edit))
    first = summary["candidates"][0]["body"]
    text = editor.text()
    assert "".join("    " + line for line in first.splitlines(True)) in text
    assert "".join("    " + line for line in chosen.splitlines(True)) not in text
    assert text.count("def unique_sorted") == 1 and text.endswith("        return 0\n")
    # typing elsewhere keeps it; changing the docstring asks for new candidates
    editor.edit_text(text.replace("return 0", "return 1"))
    assert [a.title for a in await code_actions(editor, BODY_LINE, AUTOMATIC)] == titles
    editor.edit_text(editor.text().replace("increasing order", "decreasing order"))
    assert await code_actions(editor, BODY_LINE, AUTOMATIC) == []


async def test_code_action_edit_replaces_the_body(editor, fake):
    editor.choose = None
    await run_generate(editor)
    ranked = await code_actions(editor, BODY_LINE, types.CodeActionTriggerKind.Invoked)
    edit = ranked[0].edit
    assert edit is not None
    editor.apply(types.ApplyWorkspaceEditParams(edit=edit))
    lines = editor.text().splitlines()
    assert lines[3:5] == SOURCE.splitlines()[3:5]  # signature and docstring
    assert lines[5].startswith("    ") and "NotImplementedError" not in editor.text()


async def test_automatic_trigger_never_samples(editor, fake):
    for line in (BODY_LINE, 10):
        assert await code_actions(editor, line, types.CodeActionTriggerKind.Automatic) == []
    assert await code_actions(editor, 1, types.CodeActionTriggerKind.Invoked) == []  # no function
    only_quickfix = await code_actions(
        editor, BODY_LINE, types.CodeActionTriggerKind.Invoked, only=["quickfix"]
    )
    assert only_quickfix == []
    refactors = await code_actions(
        editor, BODY_LINE, types.CodeActionTriggerKind.Invoked, only=["refactor"]
    )
    assert len(refactors) == 1
    assert fake.requests == []


async def test_method_in_a_class(editor, fake):
    editor.choose = 0
    summary = await run_generate(editor, line=10)
    assert summary["function"] == "spread" and summary["applied"] == 1
    text = editor.text()
    assert '        """Largest minus smallest."""\n        ' in text
    assert (
        "        return 0\n" not in text.split("def spread")[1]
        or summary["candidates"][0]["body"].strip() == "return 0"
    )


@pytest.mark.parametrize("api", ["chat", "completions"])
async def test_endpoint_that_ignores_n_gets_concurrent_seeded_requests(
    editor, fake, tiny_ranker_dir, api
):
    settings = base_settings(fake, tiny_ranker_dir, "ignores-n")
    settings["openai"]["api"] = api
    configure(editor, settings)
    editor.choose = None
    summary = await run_generate(editor)
    assert summary["sampled"] == 8
    assert len(fake.requests) == 8
    assert fake.requests[0].n == 8 and all(r.n == 1 for r in fake.requests[1:])
    assert len({r.seed for r in fake.requests[1:]}) == 7
    assert {r.endpoint for r in fake.requests} == {
        api if api == "completions" else "chat/completions"
    }
    messages = progress_messages(editor.client)
    assert {f"sampling {i}/8" for i in range(1, 9)} <= set(messages)
    # remembered: the next function is sampled with single requests from the start
    await run_generate(editor, line=10)
    assert all(r.n == 1 for r in fake.requests[8:]) and len(fake.requests) == 16


@pytest.mark.parametrize(
    ("bodies", "requested", "sampled"),
    [
        # four answers, the same program each time: settled, the other twelve never asked for
        (("    return sorted(set(xs))\n",), [4], 4),
        # four different programs: nothing settled, the rest in a second request
        (DEFAULT_BODIES, [4, 12], 16),
    ],
)
async def test_adaptive_sampling_stops_once_the_answers_agree(
    editor, fake, tiny_ranker_dir, bodies, requested, sampled
):
    configure(
        editor, {**base_settings(fake, tiny_ranker_dir), "samples": 16, "adaptiveSampling": True}
    )
    editor.choose = None
    fake.bodies = bodies
    try:
        summary = await run_generate(editor)
    finally:
        fake.bodies = DEFAULT_BODIES
    assert [r.n for r in fake.requests] == requested
    assert summary["sampled"] == sampled
    messages = progress_messages(editor.client)
    assert "sampling 4/16" in messages
    if sampled == 4:  # the progress says it stopped early, never that it sampled 16
        assert "settled: 4 of 16 sampled" in messages and "sampling 16/16" not in messages
    else:
        assert "sampling 16/16" in messages and not any("settled" in m for m in messages)
    assert messages.index("ranking") > messages.index("sampling 4/16")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("401", "rejected the API key (401): Incorrect API key provided"),
        ("404", "model 'fake-coder' not found"),
        ("500", "failed with HTTP 500: the fake server failed"),
        ("malformed", "the body is not valid JSON"),
        ("refused", "cannot reach http://127.0.0.1:9/v1 (connection refused)"),
    ],
)
async def test_endpoint_errors_reach_the_user_and_the_server_keeps_serving(
    editor, fake, tiny_ranker_dir, mode, expected
):
    settings = base_settings(fake, tiny_ranker_dir)
    settings["openai"]["baseUrl"] = "http://127.0.0.1:9/v1" if mode == "refused" else fake.url(mode)
    configure(editor, settings)
    assert await run_generate(editor) is None
    errors = [m for m in editor.client.messages if m.type == types.MessageType.Error]
    assert len(errors) == 1 and expected in errors[0].message
    assert errors[0].message.startswith("toppass: ")
    assert progress_messages(editor.client)[-1] == "failed"
    assert editor.applied == []
    # still serving: back to a working endpoint, the same request succeeds
    configure(editor, base_settings(fake, tiny_ranker_dir))
    editor.choose = None
    summary = await run_generate(editor)
    assert summary["sampled"] == 8


async def test_time_budget_spent_is_reported(editor, fake, tiny_ranker_dir):
    settings = base_settings(fake, tiny_ranker_dir, "slow")
    settings["timeBudget"] = 0.5
    configure(editor, settings)
    assert await run_generate(editor) is None
    errors = [m.message for m in editor.client.messages if m.type == types.MessageType.Error]
    assert errors == [f"toppass: no answer from {fake.url('slow')} within the time budget of 0.5 s"]
    assert await asyncio.to_thread(fake.wait_for, lambda f: f.disconnects == 1)


@pytest.mark.parametrize("honours_n", ["yes", "no"])
async def test_cancel_request_closes_http_requests_and_applies_nothing(
    editor, fake, tiny_ranker_dir, honours_n
):
    settings = base_settings(fake, tiny_ranker_dir, "slow")
    settings["openai"]["honoursN"] = honours_n
    configure(editor, settings)
    expected = 1 if honours_n == "yes" else 8
    pending = asyncio.ensure_future(
        editor.client.protocol.send_request_async(
            types.WORKSPACE_EXECUTE_COMMAND,
            types.ExecuteCommandParams(
                command="toppass.generate", arguments=[{"uri": editor.uri, "line": FUNCTION_LINE}]
            ),
            msg_id="generate-1",
        )
    )
    assert await asyncio.to_thread(fake.wait_for, lambda f: len(f.requests) == expected)
    editor.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="generate-1"))
    with pytest.raises(JsonRpcException, match="cancel"):
        await pending
    assert await asyncio.to_thread(fake.wait_for, lambda f: f.disconnects == expected)
    # requests are handled in order: once this answers, a late edit would have been sent
    assert await code_actions(editor, BODY_LINE, types.CodeActionTriggerKind.Automatic) == []
    assert editor.applied == [] and editor.message_requests == []
    assert editor.text() == SOURCE


async def test_progress_cancel_closes_http_requests_and_applies_nothing(
    editor, fake, tiny_ranker_dir
):
    configure(editor, base_settings(fake, tiny_ranker_dir, "slow"))
    pending = asyncio.ensure_future(run_generate(editor))
    assert await asyncio.to_thread(fake.wait_for, lambda f: len(f.requests) == 1)
    (token,) = editor.client.progress_reports
    editor.client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    assert await pending is None
    assert await asyncio.to_thread(fake.wait_for, lambda f: f.disconnects == 1)
    assert progress_messages(editor.client)[-1] == "cancelled"
    assert editor.applied == [] and editor.message_requests == []
    assert editor.client.messages == []  # cancelling is not an error


async def test_bad_settings_fall_back_to_defaults_with_a_message(editor, fake, tiny_ranker_dir):
    settings = base_settings(fake, tiny_ranker_dir)
    settings.update({"samples": -3, "temperature": "hot", "topK": 2})
    settings["openai"]["honoursN"] = "maybe"
    configure(editor, settings)
    await asyncio.sleep(0)
    editor.choose = None
    summary = await run_generate(editor)
    warnings = [m.message for m in editor.client.messages if m.type == types.MessageType.Warning]
    assert any(
        "invalid setting samples = -3" in m and "using the default 16" in m for m in warnings
    )
    assert any("invalid setting temperature = 'hot'" in m for m in warnings)
    assert any("invalid setting openai.honoursN = 'maybe'" in m for m in warnings)
    assert fake.requests[-1].n == 16  # the default
    assert fake.requests[-1].body["temperature"] == 0.8
    assert len(summary["candidates"]) == 2  # the valid key still applies


@pytest.mark.parametrize(
    "fresh_server",
    [{"toppass": {"samples": 0, "provider": "gpt", "timeBudget": -1, "unknownKey": 1}}],
    indirect=True,
)
async def test_bad_initialization_options_are_reported_once_initialized(fresh_server):
    client = fresh_server
    while len(client.messages) < 4:
        await client.wait_for_notification(types.WINDOW_SHOW_MESSAGE)
    text = "\n".join(m.message for m in client.messages)
    for key in ("samples = 0", "provider = 'gpt'", "timeBudget = -1"):
        assert f"toppass: invalid setting {key}" in text
    # a typo is worth a message too
    assert "toppass: unknown setting 'unknownKey' (ignored)" in text


async def test_five_thousand_line_file(editor, fake):
    filler = "".join(f"def helper_{i}(x):\n    return x + {i}\n\n\n" for i in range(1249))
    source = filler + SOURCE
    assert source.count("\n") > 5000
    uri = editor.uri.replace(".py", "_big.py")
    editor.open(uri, source)
    line = filler.count("\n") + FUNCTION_LINE
    summary = await run_generate(editor, line=line, uri=uri)
    assert summary["function"] == "unique_sorted" and summary["applied"] == 1
    text = editor.text(uri)
    assert text.startswith(filler) and "NotImplementedError" not in text
    body = summary["candidates"][0]["body"]
    assert "".join("    " + x for x in body.splitlines(True)) in text


async def test_inline_completion_is_opt_in_and_ranked(editor, fake, tiny_ranker_dir):
    def params(trigger: types.InlineCompletionTriggerKind) -> types.InlineCompletionParams:
        return types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=editor.uri),
            position=types.Position(BODY_LINE, 4),
            context=types.InlineCompletionContext(trigger_kind=trigger),
        )

    invoked = types.InlineCompletionTriggerKind.Invoked
    automatic = types.InlineCompletionTriggerKind.Automatic
    assert await editor.client.text_document_inline_completion_async(params(invoked)) is None
    settings = base_settings(fake, tiny_ranker_dir)
    settings["inlineCompletion"] = True
    configure(editor, settings)
    assert await editor.client.text_document_inline_completion_async(params(automatic)) is None
    assert fake.requests == []
    result = await editor.client.text_document_inline_completion_async(params(invoked))
    assert isinstance(result, types.InlineCompletionList) and len(result.items) == 3
    ranked = await code_actions(editor, BODY_LINE, types.CodeActionTriggerKind.Automatic)
    for item, action in zip(result.items, ranked, strict=True):
        assert action.edit is not None and action.edit.document_changes
        change = action.edit.document_changes[0]
        assert isinstance(change, types.TextDocumentEdit)
        edit = change.edits[0]
        assert isinstance(edit, types.TextEdit)
        assert (item.insert_text, item.range) == (edit.new_text, edit.range)
    assert len(fake.requests) == 1
    cached = await editor.client.text_document_inline_completion_async(params(automatic))
    assert cached is not None and len(cached.items) == 3


async def test_capabilities_and_bad_command_arguments(editor):
    assert editor.initialized is not None
    caps = editor.initialized.capabilities
    assert isinstance(caps.code_action_provider, types.CodeActionOptions)
    assert list(caps.code_action_provider.code_action_kinds or []) == ["refactor.rewrite.toppass"]
    assert caps.execute_command_provider is not None
    assert list(caps.execute_command_provider.commands) == ["toppass.applied", "toppass.generate"]
    assert caps.inline_completion_provider
    result = await editor.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="toppass.generate", arguments=[{"uri": editor.uri}])
    )
    assert result is None
    assert "needs one argument" in editor.client.messages[-1].message
    result = await run_generate(editor, line=1)
    assert result is None
    assert (
        editor.client.messages[-1].message
        == f"toppass: no Python function at line 2 of {editor.uri}"
    )


async def test_local_provider_through_the_server(editor, tiny_decoder_dir):
    """A local model (a tiny random GPT-2: its answers are noise) sampled in a worker thread;
    progress cancel stops the generation, and the server keeps serving."""
    local = {"provider": "local", "local": {"model": str(tiny_decoder_dir)}, "samples": 2}
    configure(editor, {**local, "maxTokens": 32768, "timeBudget": 600})
    pending = asyncio.ensure_future(run_generate(editor))
    while not any(m.startswith("sampling") for m in progress_messages(editor.client)):
        await asyncio.sleep(0.05)
    (token,) = editor.client.progress_reports
    editor.client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    assert await pending is None
    assert progress_messages(editor.client)[-1] == "cancelled"
    # the cancelled generation stopped: a short one gets the model and finishes
    configure(editor, {**local, "maxTokens": 4, "timeBudget": 600})
    summary = await run_generate(editor)
    assert summary["candidates"] == [] and summary["dropped"] == 2  # noise is never Python...
    warnings = [m.message for m in editor.client.messages if m.type == types.MessageType.Warning]
    assert warnings == [
        m for m in warnings if m.startswith("toppass: none of the 2 answers for unique_sorted()")
    ]
    assert len(warnings) == 1  # ...and the user is told so, not left with an empty list
    assert editor.applied == []


EXAMPLES_SOURCE = SOURCE.replace(
    '    """Return the distinct elements of xs in increasing order."""\n',
    '    """Return the distinct elements of xs in increasing order.\n\n'
    '    >>> unique_sorted([3, 1, 3, 2])\n    [1, 2, 3]\n    """\n',
)


async def test_allow_execution_runs_the_docstring_examples(editor, fake, tiny_ranker_dir):
    """The fake model's four bodies: two right (one behaviour), `list(xs)` and `sorted(xs)`
    wrong in two different ways; the examples run in the sandbox and the titles say so."""
    editor.uri = editor.uri.replace(".py", "_examples.py")
    editor.open(editor.uri, EXAMPLES_SOURCE)
    editor.choose = None
    configure(editor, base_settings(fake, tiny_ranker_dir))
    summary = await run_generate(editor)
    assert summary["execution"] == "examples not run: allowExecution is off"
    assert all("examples" not in c["title"] for c in summary["candidates"])

    settings = base_settings(fake, tiny_ranker_dir)
    settings["allowExecution"] = True
    configure(editor, settings)  # the setting clears the cached results
    summary = await run_generate(editor)
    assert summary["execution"] == "ran 4 candidates on 1 docstring example"
    assert summary["reviewer"] == "reviewer tie-break off"
    examples = sorted(c["examples"] for c in summary["candidates"])
    # three behaviours (right, and wrong in two ways): the best right body is always in the
    # top 3; its clone only where it passes more examples than the leader it displaces
    # (ranker.order.diverse_order; the order itself is unit-tested there)
    assert len(examples) == 3 and "1/1 examples" in examples
    assert examples in (
        ["0/1 examples", "0/1 examples", "1/1 examples"],
        ["0/1 examples", "1/1 examples", "1/1 examples"],
    )
    offer = editor.message_requests[-1]
    assert offer.message == (
        "toppass: 3 ranked candidates for unique_sorted() (run on 1 docstring example)"
    )
    titles = [a.title for a in offer.actions or []]
    # the examples decide the order: each title says how its candidate did on them first
    assert all(re.search(r"^toppass #\d \([01]/1 examples, \d\.\d\d, x2", t) for t in titles)
    assert "running examples, ranking" in progress_messages(editor.client)
    ranked = await code_actions(editor, BODY_LINE, types.CodeActionTriggerKind.Automatic)
    assert [a.title for a in ranked] == titles


async def test_probe_inputs_asks_the_endpoint_for_test_inputs(editor, fake, tiny_ranker_dir):
    """With probeInputs the server sends one more request, asking for calls of the function;
    the fake endpoint answers it with a function, which holds no call: nothing is proposed
    and the candidates run on the examples as before."""
    editor.uri = editor.uri.replace(".py", "_probes.py")
    editor.open(editor.uri, EXAMPLES_SOURCE)
    editor.choose = None
    settings = {**base_settings(fake, tiny_ranker_dir), "allowExecution": True}
    configure(editor, {**settings, "probeInputs": 3})
    fake.reset()
    summary = await run_generate(editor)
    asked = [
        r.body["messages"][-1]["content"]
        for r in fake.requests
        if "calls of unique_sorted()" in r.body["messages"][-1]["content"]
    ]
    assert len(asked) == 1 and "Write 3 calls of unique_sorted() with different" in asked[0]
    assert summary["execution"] == "ran 4 candidates on 1 docstring example"
    configure(editor, {**settings, "probeInputs": 0})  # the setting clears the cached results
    fake.reset()
    summary = await run_generate(editor)
    assert fake.requests and not any(
        "calls of unique_sorted()" in r.body["messages"][-1]["content"] for r in fake.requests
    )


async def test_execution_is_asked_for_once_per_workspace_and_nothing_runs_without_a_yes(
    editor, fake, tiny_ranker_dir, monkeypatch
):
    consent = Path(STATE_DIR) / "consent.json"
    consent.unlink(missing_ok=True)
    configure(editor, {**base_settings(fake, tiny_ranker_dir), "allowExecution": "ask"})
    workspace = "file:///consent"  # files of their own: other tests' documents are elsewhere
    answers = iter([1, None, 0])  # This time; dismissed; Always (the offers: none picked)
    asked: list[types.ShowMessageRequestParams] = []

    def answer(params: types.ShowMessageRequestParams) -> Any:
        if not params.message.startswith("toppass: Run the candidates"):
            return None
        asked.append(params)
        choice = next(answers)
        return None if choice is None else (params.actions or [])[choice]

    monkeypatch.setattr(editor, "message_request", answer)

    async def generate_in_a_new_file(step: str) -> Any:
        editor.uri = f"{workspace}/consent_{step}.py"  # a function not ranked before
        editor.open(editor.uri, EXAMPLES_SOURCE)
        return await run_generate(editor)

    summary = await generate_in_a_new_file("this_time")  # runs, nothing remembered
    assert [a.title for a in asked[0].actions or []] == ["Always", "This time", "Never"]
    assert "unique_sorted()" in asked[0].message and "sandbox" in asked[0].message
    assert summary["execution"].startswith("ran 4 candidates on 1 docstring example")
    assert not consent.exists()
    summary = await generate_in_a_new_file("dismissed")  # asked again; no answer, no run
    assert len(asked) == 2 and summary["execution"] == "examples not run: allowExecution is off"
    summary = await generate_in_a_new_file("always")  # runs, remembered for the workspace
    assert len(asked) == 3 and summary["execution"].startswith("ran 4 candidates")
    assert json.loads(consent.read_text()) == {workspace: "always"}
    summary = await generate_in_a_new_file("remembered")  # not asked again
    assert len(asked) == 3 and summary["execution"].startswith("ran 4 candidates")


async def test_no_candidate_passing_is_said_before_the_list(editor, fake, tiny_ranker_dir):
    editor.uri = editor.uri.replace(".py", "_none_pass.py")
    editor.open(editor.uri, EXAMPLES_SOURCE)
    editor.choose = None
    fake.bodies = ("    return list(xs)\n", "    return xs[::-1]\n", "    pass\n")
    try:
        configure(editor, {**base_settings(fake, tiny_ranker_dir), "allowExecution": True})
        summary = await run_generate(editor)
    finally:
        fake.bodies = FakeOpenAI.bodies
    assert summary["warning"] == "none of the 3 candidates passes the example"
    assert editor.message_requests[-1].message.startswith(
        "toppass: none of the 3 candidates passes the example. 3 ranked candidates"
    )
    # the body that does nothing comes last, after the ones that at least try
    assert summary["candidates"][-1]["body"] == "pass\n"
    ranked = await code_actions(editor, BODY_LINE, AUTOMATIC)
    assert ranked[0].title == "toppass: none of the 3 candidates passes the example"
    assert ranked[0].disabled is not None and ranked[0].edit is None


async def test_titles_tell_apart_candidates_that_start_alike(editor, fake, tiny_ranker_dir):
    editor.uri = editor.uri.replace(".py", "_alike.py")
    editor.open(editor.uri, SOURCE)
    editor.choose = None
    fake.bodies = (
        "    if not xs:\n        return []\n    return sorted(set(xs))\n",
        "    if not xs:\n        return []\n    out = sorted(set(xs))\n    return out\n",
        "    if not xs:\n        return []\n    return list(dict.fromkeys(sorted(xs)))\n",
    )
    try:
        configure(editor, base_settings(fake, tiny_ranker_dir))
        summary = await run_generate(editor)
    finally:
        fake.bodies = FakeOpenAI.bodies
    previews = sorted(c["title"].split("): ", 1)[1] for c in summary["candidates"])
    assert previews == [
        "… out = sorted(set(xs)) …",
        "… return list(dict.fromkeys(sorted(xs)))",
        "… return sorted(set(xs))",
    ]


async def test_the_log_goes_to_the_client_as_log_messages(editor, fake, tiny_ranker_dir):
    editor.choose = None
    configure(editor, base_settings(fake, tiny_ranker_dir))
    await run_generate(editor)
    logged = [m for m in editor.client.log_messages if "toppass_ls.server: settings:" in m.message]
    assert logged and all(m.type == types.MessageType.Info for m in logged)


async def test_a_document_closed_while_sampling_gets_no_edit(
    editor, fake, tiny_ranker_dir, monkeypatch
):
    monkeypatch.setattr(fake, "slow_seconds", 1.0)  # answers, but after the close
    configure(editor, base_settings(fake, tiny_ranker_dir, "slow"))
    pending = asyncio.ensure_future(run_generate(editor))
    assert await asyncio.to_thread(fake.wait_for, lambda f: len(f.requests) == 1)
    editor.client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(editor.uri))
    )
    summary = await pending
    assert summary["applied"] is None and editor.applied == []
    assert any(
        "was closed while sampling; nothing applied" in m.message for m in editor.client.messages
    )


def lsp_offset(text: str, position: types.Position) -> int:
    """A position's offset in `text` by LSP's rules (lines end at LF, CRLF or CR only; the
    text here has ASCII only before the position, so columns are characters)."""
    lines = re.split(r"(?<=\r\n)|(?<=\n)(?<!\r\n)|(?<=\r)(?!\n)", text)
    return sum(len(line) for line in lines[: position.line]) + position.character


async def test_positions_follow_lsp_line_breaks_not_other_separators(editor, fake, tiny_ranker_dir):
    # a form feed, U+2028 and U+0085 above the function: Python's splitlines breaks at each
    source = "# a form feed \f, a line separator \u2028 and a next line \x85 here\n" + SOURCE
    editor.uri = editor.uri.replace(".py", "_separators.py")
    editor.open(editor.uri, source)
    configure(editor, base_settings(fake, tiny_ranker_dir))
    # an incremental change below them: `raise NotImplementedError` becomes `pass`
    start = source.index("raise NotImplementedError")
    line = source[:start].count("\n")
    column = start - source.rfind("\n", 0, start) - 1
    edit = types.Range(
        types.Position(line, column),
        types.Position(line, column + len("raise NotImplementedError")),
    )
    editor.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=editor.uri, version=2),
            content_changes=[types.TextDocumentContentChangePartial(range=edit, text="pass")],
        )
    )
    text = source.replace("raise NotImplementedError", "pass")
    editor.choose = None
    summary = await run_generate(editor, FUNCTION_LINE + 1)
    ranked = await code_actions(editor, BODY_LINE + 1, AUTOMATIC)
    change = ranked[0].edit.document_changes[0].edits[0]  # type: ignore[union-attr]
    start_at, end_at = lsp_offset(text, change.range.start), lsp_offset(text, change.range.end)
    applied = text[:start_at] + change.new_text + text[end_at:]
    # exactly the body replaced: the server's copy of the document kept step with the client's
    body = summary["candidates"][0]["body"]
    indented = "".join("    " + x for x in body.splitlines(True)).rstrip("\n")
    assert applied == text.replace("    pass\n", indented + "\n", 1)


async def test_edits_keep_the_files_line_breaks(editor, fake, tiny_ranker_dir):
    editor.uri = editor.uri.replace(".py", "_crlf.py")
    editor.open(editor.uri, SOURCE.replace("\n", "\r\n"))
    configure(editor, base_settings(fake, tiny_ranker_dir))
    summary = await run_generate(editor)  # choose #1: applied
    assert summary["applied"] == 1
    text = editor.text()
    assert "\r\n" in text and re.search(r"(?<!\r)\n", text) is None, repr(text)


async def test_requests_with_invalid_positions_are_answered() -> None:
    """Raw JSON-RPC (a typed client would refuse to send these): a code-action request at
    line -1, 2**31 or null gets an InvalidParams answer, and the server goes on serving."""
    server = subprocess.Popen(
        SERVER.server_command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=SERVER.server_env,
    )
    assert server.stdin is not None and server.stdout is not None

    def send(message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        server.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # type: ignore[union-attr]
        server.stdin.flush()  # type: ignore[union-attr]

    def answer_to(msg_id: int) -> dict[str, Any]:
        while True:
            length = 0
            while (header := server.stdout.readline().strip()) != b"":  # type: ignore[union-attr]
                if header.lower().startswith(b"content-length:"):
                    length = int(header.split(b":")[1])
            message = json.loads(server.stdout.read(length))  # type: ignore[union-attr]
            if message.get("id") == msg_id and "method" not in message:
                return message

    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})
        answer_to(1)
        send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        document = {"uri": "file:///x.py", "languageId": "python", "version": 1}
        document["text"] = "def f(x):\n    return x\n"
        send(
            {
                "jsonrpc": "2.0",
                "method": "textDocument/didOpen",
                "params": {"textDocument": document},
            }
        )
        for msg_id, line in ((10, -1), (11, 2**31), (12, None)):
            position = {"line": line, "character": 0}
            params = {
                "textDocument": {"uri": "file:///x.py"},
                "range": {"start": position, "end": position},
                "context": {"diagnostics": []},
            }
            send(
                {
                    "jsonrpc": "2.0",
                    "id": msg_id,
                    "method": "textDocument/codeAction",
                    "params": params,
                }
            )
            assert answer_to(msg_id)["error"]["code"] == -32602  # InvalidParams
        position = {"line": 1, "character": 4}
        params = {
            "textDocument": {"uri": "file:///x.py"},
            "range": {"start": position, "end": position},
            "context": {"diagnostics": [], "triggerKind": 2},
        }
        send({"jsonrpc": "2.0", "id": 13, "method": "textDocument/codeAction", "params": params})
        assert answer_to(13)["result"] == []  # still serving
    finally:
        server.kill()
        server.wait()


async def test_a_damaged_ranker_is_named_and_nan_never_leaves_the_ranker(
    editor, fake, tiny_ranker_dir, tmp_path
):
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_ranker_dir, damaged)
    (damaged / "model.safetensors").write_bytes(b"not safetensors")
    configure(editor, {**base_settings(fake, tiny_ranker_dir), "rankerPath": str(damaged)})
    editor.choose = None
    assert await run_generate(editor) is None
    errors = [m.message for m in editor.client.messages if m.type == types.MessageType.Error]
    assert any("cannot load the ranker" in m and "safetensors" in m for m in errors), errors
    # a head that gives NaN: valid JSON, finite scores, and a defect still last
    nan = tmp_path / "nan"
    shutil.copytree(tiny_ranker_dir, nan)
    state = load_file(str(nan / "model.safetensors"))
    save_file(
        {k: torch.full_like(v, float("nan")) for k, v in state.items()},
        str(nan / "model.safetensors"),
    )
    fake.bodies = ("    return sorted(set(xs))\n", "    pass\n")
    try:
        configure(editor, {**base_settings(fake, tiny_ranker_dir), "rankerPath": str(nan)})
        summary = await run_generate(editor)
    finally:
        fake.bodies = FakeOpenAI.bodies
    assert all(math.isfinite(c["score"]) for c in summary["candidates"])
    assert summary["candidates"][-1]["defect"] == "empty body"


@pytest.fixture(scope="module")
def calibrated_ranker_dirs(
    tiny_ranker_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The tiny ranker with a calibration.json: one unsure of every candidate (p=0.30 where
    nothing ran), one sure (p=0.90)."""
    import shutil

    from ranker.model.calibration import Calibration, ModeMap
    from ranker.model.ranker import Ranker

    out = {}
    for name, value in (("unsure", 0.3), ("sure", 0.9)):
        path = tmp_path_factory.mktemp(f"calibrated-{name}")
        shutil.copytree(tiny_ranker_dir, path, dirs_exist_ok=True)
        ranker = Ranker.from_pretrained(path, device="cpu")
        ranker.calibration = Calibration({"none": ModeMap("isotonic", (0.0,), (value,))})
        ranker.save_calibration(path)
        out[name] = path
    return out


async def test_titles_show_the_calibrated_probability_and_a_low_one_is_said(
    editor, fake, calibrated_ranker_dirs
):
    editor.choose = None
    configure(editor, base_settings(fake, calibrated_ranker_dirs["unsure"]))
    summary = await run_generate(editor)
    warning = (
        "low confidence: #1 is correct with p=0.30 (nothing ran to decide between the candidates)"
    )
    assert summary["warning"] == warning
    assert [c["probability"] for c in summary["candidates"]] == [0.3, 0.3, 0.3]
    titles = [c["title"] for c in summary["candidates"]]
    assert all(re.match(r"toppass #\d \(p=0\.30, x2\): ", title) for title in titles), titles
    assert editor.message_requests[-1].message.startswith(f"toppass: {warning}. 3 ranked")
    ranked = await code_actions(editor, BODY_LINE, AUTOMATIC)
    assert ranked[0].title == f"toppass: {warning}" and ranked[0].disabled is not None
    assert [a.title for a in ranked[1:]] == titles
    assert not any(a.is_preferred for a in ranked)  # nothing is preferred when unsure

    configure(editor, base_settings(fake, calibrated_ranker_dirs["sure"]))  # a new ranker
    summary = await run_generate(editor)
    assert summary["warning"] is None
    assert all("(p=0.90, x2): " in c["title"] for c in summary["candidates"])
    ranked = await code_actions(editor, BODY_LINE, AUTOMATIC)
    assert ranked[0].title.startswith("toppass #1 (p=0.90") and ranked[0].is_preferred


def feedback_records(uri: str) -> list[dict[str, Any]]:
    """The feedback log's records of the requests for `uri` (other tests write there too)."""
    path = Path(STATE_DIR) / "feedback.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    mine = {r["request"] for r in rows if r["kind"] == "offer" and r["uri"] == uri}
    return [r for r in rows if r["request"] in mine]


async def wait_for_records(uri: str, count: int) -> list[dict[str, Any]]:
    for _ in range(100):  # notifications are not answered: wait until the server wrote them
        rows = feedback_records(uri)
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.05)
    return feedback_records(uri)


async def test_the_feedback_log_records_the_offer_the_choice_and_what_was_kept(editor, fake):
    editor.choose = 1  # apply #2 through the offer
    summary = await run_generate(editor)
    assert summary["applied"] == 2
    editor.save()
    offer, applied, outcome = await wait_for_records(editor.uri, 3)
    assert offer["kind"] == "offer" and offer["function"] == "unique_sorted"
    assert "def unique_sorted(xs: list[int]) -> list[int]:" in offer["prompt"]
    assert [c["body"] for c in offer["candidates"][:3]] == [
        c["body"] for c in summary["candidates"]
    ]
    assert offer["shown"] == 3 and offer["signals"]["counts"] == [2, 2, 2, 2]  # all four logged
    assert (applied["kind"], applied["rank"], applied["via"]) == ("applied", 2, "command")
    assert (outcome["kind"], outcome["rank"], outcome["outcome"]) == ("outcome", 2, "kept")
    assert {r["request"] for r in (offer, applied, outcome)} == {offer["request"]}

    # a ranked code action carries the command that tells the log it was applied
    actions = await code_actions(editor, BODY_LINE, AUTOMATIC)
    first = actions[0]
    assert first.edit is not None and first.command is not None
    assert first.command.command == "toppass.applied"
    editor.apply(types.ApplyWorkspaceEditParams(edit=first.edit))
    await editor.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=first.command.command, arguments=first.command.arguments)
    )
    editor.edit_text(editor.text().replace("return", "return  ", 1))  # a small edit
    editor.save()
    rows = await wait_for_records(editor.uri, 5)
    assert [(r["kind"], r["rank"], r.get("via")) for r in rows[3:]] == [
        ("applied", 1, "code action"),
        ("outcome", 1, None),
    ]
    assert rows[4]["outcome"] in ("kept", "edited")


async def test_with_feedback_log_off_nothing_is_logged_and_actions_carry_no_command(
    editor, fake, tiny_ranker_dir
):
    configure(editor, {**base_settings(fake, tiny_ranker_dir), "feedbackLog": False})
    editor.choose = 0
    summary = await run_generate(editor)
    assert summary["applied"] == 1
    editor.save()
    actions = await code_actions(editor, BODY_LINE, AUTOMATIC)
    assert actions and all(a.command is None for a in actions)
    await asyncio.sleep(0.2)
    assert feedback_records(editor.uri) == []

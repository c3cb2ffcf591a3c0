"""The language server: protocol state lives on `ToppassServer`, feature logic in plain modules
(context, edits, pipeline, settings, cache). Handlers decode params, call those, and answer
with `lsprotocol` types.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from generation.local import LocalProvider
from generation.provider import Provider, SamplingError
from ranker.model.config import RankerConfigError
from ranker.offer import RankedCandidate, RankedResult
from ranker.signals.examples_run import ExampleRunner
from ranker.signals.likelihood import LikelihoodScorer
from ranker.source import FunctionContext, function_at, split_lines
from toppass_ls import __version__
from toppass_ls.cache import ResultCache, cache_key
from toppass_ls.edits import (
    body_edit,
    candidate_json,
    candidate_title,
    generate_title,
    workspace_edit,
)
from toppass_ls.pipeline import (
    RankerLoader,
    generate,
    make_provider,
    provider_key,
)
from toppass_ls.progress import cancellable_progress
from toppass_ls.settings import SECTION, Settings, merge, parse_settings, to_json

logger = logging.getLogger(__name__)

GENERATE_COMMAND = "toppass.generate"
ACTION_KIND = "refactor.rewrite.toppass"


class ToppassProtocol(LanguageServerProtocol):
    """pygls runs a command handler as a task of its own, which `$/cancelRequest` for the
    executeCommand request does not reach; this cancels the tasks registered for that id."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.command_tasks: dict[Any, asyncio.Task[Any]] = {}

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        task = self.command_tasks.pop(msg_id, None)
        if task is not None:
            logger.info("request %s cancelled by the client", msg_id)
            task.cancel()
        super()._handle_cancel_notification(msg_id)


class ToppassServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(name="toppass-ls", version=__version__, protocol_cls=ToppassProtocol)
        self.raw_settings: dict[str, Any] = {}
        self.settings = Settings()
        self.results: ResultCache[RankedResult] = ResultCache()
        self.rankers = RankerLoader()
        self.pending_messages: list[str] = []
        self._provider: Provider | None = None
        self._provider_key: tuple[Any, ...] | None = None
        self._log_handler: logging.Handler | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._warmed: tuple[Any, ...] | None = None
        self._examples: ExampleRunner | None = None
        self._reviewer: LikelihoodScorer | None = None

    # -- settings ------------------------------------------------------------------------

    def update_settings(self, update: Any) -> list[str]:
        """Lay client settings over the current ones; returns problem messages for the user."""
        self.raw_settings = merge(self.raw_settings, update)
        settings, problems = parse_settings(self.raw_settings)
        if (
            provider_key(settings) != provider_key(self.settings)
            or settings.ranker_path != self.settings.ranker_path
            or settings.allow_execution != self.settings.allow_execution
            or settings.reviewer_tie_break != self.settings.reviewer_tie_break
            or settings.probe_inputs != self.settings.probe_inputs
        ):
            self.results.clear()
        self.settings = settings
        if not settings.allow_execution and self._examples is not None:
            runner, self._examples = self._examples, None
            self.in_background(asyncio.to_thread(runner.close))  # its workers stop
        if not settings.reviewer_tie_break and self._reviewer is not None:
            self._reviewer = None  # the model goes once a ranking still using it is done
        problems += self._configure_log_file(settings.log_file)
        logger.info("settings: %s", to_json(settings))
        return problems

    def _configure_log_file(self, path: str | None) -> list[str]:
        root = logging.getLogger()
        if self._log_handler is not None:
            if getattr(self._log_handler, "baseFilename", None) == path:
                return []
            root.removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None
        if path is None:
            return []
        try:
            handler = logging.FileHandler(path, encoding="utf-8")
        except OSError as exc:
            return [f"cannot open logFile {path!r}: {exc.strerror or exc}"]
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root.addHandler(handler)
        self._log_handler = handler
        return []

    def provider(self) -> Provider:
        key = provider_key(self.settings)
        if self._provider is None or key != self._provider_key:
            if self._provider is not None:
                self.in_background(self._provider.aclose())
            self._provider = make_provider(self.settings)
            self._provider_key = key
        return self._provider

    def example_runner(self) -> ExampleRunner | None:
        """The sandbox that runs candidates on docstring examples, when `allowExecution` is
        on (created on first use, kept for the session: its workers start once)."""
        if not self.settings.allow_execution:
            return None
        if self._examples is None:
            self._examples = ExampleRunner()
        return self._examples

    def reviewer_scorer(self) -> LikelihoodScorer | None:
        """The likelihood model for the reviewer, when `reviewerTieBreak` is on (created on
        first use, not loaded: `generate` loads it in a worker thread; kept for the session,
        dropped when the setting goes off)."""
        if not self.settings.reviewer_tie_break:
            return None
        if self._reviewer is None:
            self._reviewer = LikelihoodScorer()
        return self._reviewer

    def close_example_runner(self) -> None:
        if self._examples is not None:
            self._examples.close()
            self._examples = None

    # -- helpers -------------------------------------------------------------------------

    def in_background(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def show(self, kind: types.MessageType, message: str) -> None:
        logger.log(logging.ERROR if kind == types.MessageType.Error else logging.INFO, message)
        self.window_show_message(types.ShowMessageParams(type=kind, message=f"toppass: {message}"))

    def document_changes_supported(self) -> bool:
        workspace = self.client_capabilities.workspace
        edit = workspace.workspace_edit if workspace else None
        return bool(edit and edit.document_changes)

    def warm_up(self) -> None:
        """Start loading the ranker and a local model before the user needs them (once per
        provider and ranker settings)."""
        key = (provider_key(self.settings), self.settings.ranker_path)
        if key != self._warmed:
            self._warmed = key
            self.in_background(self._warm_up())

    async def _warm_up(self) -> None:
        try:
            await self.rankers.get(self.settings.ranker_path)
            provider = self.provider()
            if isinstance(provider, LocalProvider):
                await provider.warm_up()
        except Exception as exc:  # reported again, to the user, when a request needs it
            logger.warning("warm-up failed: %s", exc)

    async def ranked_results(
        self, uri: str, version: int | None, ctx: FunctionContext
    ) -> RankedResult | None:
        """Cached results for this function text and document version, else sample and rank
        with cancellable progress. Failures are shown to the user and give None."""
        key = cache_key(uri, version, ctx.text)
        cached = self.results.get(key)
        if cached is not None:
            return cached
        settings = self.settings
        try:
            async with cancellable_progress(self, f"toppass: {ctx.name}()") as report:
                result = await generate(
                    ctx,
                    self.provider(),
                    lambda: self.rankers.get(settings.ranker_path),
                    settings.samples,
                    report,
                    self.example_runner(),
                    self.reviewer_scorer(),
                    settings.probe_inputs,
                )
        except SamplingError as exc:
            self.show(types.MessageType.Error, str(exc))
            return None
        except RankerConfigError as exc:
            self.show(types.MessageType.Error, f"cannot load the ranker: {exc}")
            return None
        if self.rankers.warning:
            self.window_log_message(
                types.LogMessageParams(type=types.MessageType.Warning, message=self.rankers.warning)
            )
        if not result.candidates:
            self.show(types.MessageType.Warning, result.empty_message())
            return result
        self.results.put(key, result)
        return result

    def candidate_edit(
        self, uri: str, ctx: FunctionContext, candidate: RankedCandidate
    ) -> types.WorkspaceEdit:
        document = self.workspace.get_text_document(uri)
        edit = body_edit(
            ctx,
            candidate.body,
            split_lines(document.source),
            document.position_codec.client_num_units,
        )
        return workspace_edit(uri, document.version, edit, self.document_changes_supported())

    def ranked_actions(
        self, uri: str, ctx: FunctionContext, result: RankedResult
    ) -> list[types.CodeAction]:
        return [
            types.CodeAction(
                title=candidate_title(candidate),
                kind=ACTION_KIND,
                is_preferred=True if candidate.rank == 1 else None,
                edit=self.candidate_edit(uri, ctx, candidate),
            )
            for candidate in result.top(self.settings.top_k)
        ]


def _kind_requested(only: Sequence[str] | None) -> bool:
    return not only or any(k == ACTION_KIND or ACTION_KIND.startswith(k + ".") for k in only)


def _document_context(
    server: ToppassServer, uri: str, line: int
) -> tuple[int | None, FunctionContext | None]:
    document = server.workspace.get_text_document(uri)
    try:
        source = document.source
    except OSError:
        return None, None
    return document.version, function_at(source, line)


# -- handlers ----------------------------------------------------------------------------


def create_server() -> ToppassServer:
    server = ToppassServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: ToppassServer, params: types.InitializeParams) -> None:
        ls.pending_messages += ls.update_settings(params.initialization_options or {})

    @server.feature(types.INITIALIZED)
    def initialized(ls: ToppassServer, params: types.InitializedParams) -> None:
        for message in ls.pending_messages:
            ls.show(types.MessageType.Warning, message)
        ls.pending_messages.clear()
        ls.in_background(ls.rankers.get(ls.settings.ranker_path))

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: ToppassServer, params: types.DidChangeConfigurationParams
    ) -> None:
        update = params.settings
        workspace = ls.client_capabilities.workspace
        if update is None and workspace is not None and workspace.configuration:
            items = await ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
            )
            update = items[0] if items else None
        for message in ls.update_settings(update or {}):
            ls.show(types.MessageType.Warning, message)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ToppassServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.results.forget_document(params.text_document.uri)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[ACTION_KIND]),
    )
    def code_action(ls: ToppassServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        """Never samples: cached ranked candidates, or (when invoked) the generate action."""
        if not _kind_requested(params.context.only):
            return []
        uri = params.text_document.uri
        version, ctx = _document_context(ls, uri, params.range.start.line)
        if ctx is None:
            return []
        cached = ls.results.get(cache_key(uri, version, ctx.text))
        if cached is not None:
            return ls.ranked_actions(uri, ctx, cached)
        if params.context.trigger_kind != types.CodeActionTriggerKind.Invoked:
            return []
        ls.warm_up()
        title = generate_title(ctx.name)
        argument = {"uri": uri, "line": ctx.def_line}
        return [
            types.CodeAction(
                title=title,
                kind=ACTION_KIND,
                command=types.Command(title=title, command=GENERATE_COMMAND, arguments=[argument]),
            )
        ]

    @server.command(GENERATE_COMMAND)
    async def generate_command(ls: ToppassServer, *args: Any) -> dict[str, Any] | None:
        """Sample, rank, offer the top K with window/showMessageRequest, apply the choice."""
        msg_id = ls.protocol.msg_id
        task = asyncio.current_task()
        protocol = ls.protocol
        assert isinstance(protocol, ToppassProtocol)
        if msg_id is not None and task is not None:
            protocol.command_tasks[msg_id] = task
        try:
            return await _generate(ls, args)
        except asyncio.CancelledError:
            logger.info("%s cancelled; nothing applied", GENERATE_COMMAND)
            return None  # progress cancel: answer the request; $/cancelRequest answered already
        finally:
            protocol.command_tasks.pop(msg_id, None)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: ToppassServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList | None:
        """Opt-in (`inlineCompletion`); samples only when invoked, otherwise cached or nothing."""
        if not ls.settings.inline_completion:
            return None
        uri = params.text_document.uri
        version, ctx = _document_context(ls, uri, params.position.line)
        if ctx is None:
            return None
        result = ls.results.get(cache_key(uri, version, ctx.text))
        if result is None:
            if params.context.trigger_kind != types.InlineCompletionTriggerKind.Invoked:
                return None
            result = await ls.ranked_results(uri, version, ctx)
        if result is None or not result.candidates:
            return None
        document = ls.workspace.get_text_document(uri)
        lines = split_lines(document.source)
        items = []
        for candidate in result.top(ls.settings.top_k):
            edit = body_edit(ctx, candidate.body, lines, document.position_codec.client_num_units)
            items.append(
                types.InlineCompletionItem(
                    insert_text=edit.new_text,
                    range=edit.range,
                    filter_text=candidate_title(candidate),
                )
            )
        return types.InlineCompletionList(items=items)

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: ToppassServer, params: None) -> None:
        await asyncio.to_thread(ls.close_example_runner)  # stops the sandbox workers
        if ls._provider is not None:
            await ls._provider.aclose()

    return server


def _parse_target(args: tuple[Any, ...]) -> tuple[str, int] | None:
    if len(args) != 1 or not isinstance(args[0], dict):
        return None
    uri, line = args[0].get("uri"), args[0].get("line")
    if not isinstance(uri, str) or isinstance(line, bool) or not isinstance(line, int):
        return None
    return uri, line


async def _generate(ls: ToppassServer, args: tuple[Any, ...]) -> dict[str, Any] | None:
    target = _parse_target(args)
    if target is None:
        ls.show(
            types.MessageType.Error,
            f'{GENERATE_COMMAND} needs one argument {{"uri": str, "line": int}}, got {list(args)!r}',
        )
        return None
    uri, line = target
    version, ctx = _document_context(ls, uri, line)
    if ctx is None:
        ls.show(types.MessageType.Error, f"no Python function at line {line + 1} of {uri}")
        return None
    result = await ls.ranked_results(uri, version, ctx)
    if result is None:
        return None
    top = result.top(ls.settings.top_k)
    summary: dict[str, Any] = {
        "function": ctx.name,
        "candidates": [candidate_json(c) for c in top],
        "applied": None,
        "dropped": len(result.dropped),
        "sampled": result.sampled,
        "execution": result.execution,
        "reviewer": result.reviewer,
    }
    if not top:
        return summary
    try:
        choice = await ls.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Info,
                message=offer_message(ctx.name, len(top), result),
                actions=[types.MessageActionItem(title=candidate_title(c)) for c in top],
            )
        )
    except JsonRpcException as exc:  # a client without showMessageRequest: code actions remain
        logger.warning("window/showMessageRequest failed: %s", exc)
        return summary
    chosen = next(
        (c for c in top if choice is not None and candidate_title(c) == choice.title), None
    )
    if chosen is None:
        return summary
    summary["applied"] = await _apply(ls, uri, version, ctx, chosen)
    return summary


def offer_message(name: str, shown: int, result: RankedResult) -> str:
    """The showMessageRequest text: how many candidates, and on how many examples they ran."""
    plural = "" if result.examples == 1 else "s"
    ran = f" (run on {result.examples} docstring example{plural})" if result.examples else ""
    return f"toppass: {shown} ranked candidates for {name}(){ran}"


async def _apply(
    ls: ToppassServer,
    uri: str,
    version: int | None,
    ctx: FunctionContext,
    candidate: RankedCandidate,
) -> int | None:
    """Apply one candidate; if the document changed meanwhile, only when the function itself
    is unchanged (found again by its text)."""
    current_version, current = _document_context(ls, uri, ctx.def_line)
    if current_version != version and (current is None or current.text != ctx.text):
        document = ls.workspace.get_text_document(uri)
        offset = document.source.find(ctx.text)
        current = None
        if offset != -1:
            line = document.source.count("\n", 0, offset) + (ctx.def_line - ctx.start_line)
            current = function_at(document.source, line)
        if current is None or current.text != ctx.text:
            ls.show(
                types.MessageType.Warning,
                f"{ctx.name}() changed while sampling; nothing applied (run toppass again)",
            )
            return None
    target = current or ctx
    response = await ls.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(
            edit=ls.candidate_edit(uri, target, candidate), label=candidate_title(candidate)
        )
    )
    if not response.applied:
        ls.show(
            types.MessageType.Warning,
            f"the editor did not apply the edit: {response.failure_reason or 'no reason given'}",
        )
        return None
    return candidate.rank

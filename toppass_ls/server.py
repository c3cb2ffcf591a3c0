"""The language server: protocol state lives on `ToppassServer`, feature logic in plain modules
(context, edits, pipeline, settings, cache). Handlers decode params, call those, and answer
with `lsprotocol` types.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import JsonRPCNotification
from pygls.workspace import TextDocument

from generation.local import LocalProvider
from generation.provider import Provider, SamplingError
from ranker.model.config import RankerConfigError
from ranker.offer import RankedCandidate, RankedResult
from ranker.signals.examples_run import ExampleRunner, docstring_examples, probes_for
from ranker.signals.likelihood import LikelihoodScorer
from ranker.source import FunctionContext, function_at, split_lines
from toppass_ls import __version__
from toppass_ls.cache import ResultCache, cache_key
from toppass_ls.consent import ALWAYS, NEVER, QUESTION, THIS_TIME, ConsentStore
from toppass_ls.edits import (
    body_edit,
    candidate_json,
    candidate_titles,
    generate_title,
    line_break,
    workspace_edit,
)
from toppass_ls.feedback import FeedbackRecorder
from toppass_ls.pipeline import (
    RankerLoader,
    generate,
    make_provider,
    provider_key,
    stopping_rule,
)
from toppass_ls.progress import cancellable_progress
from toppass_ls.settings import SECTION, Settings, normalise, parse_settings, to_json

logger = logging.getLogger(__name__)

GENERATE_COMMAND = "toppass.generate"
APPLIED_COMMAND = "toppass.applied"
"""Sent by the editor after it applies a ranked code action's edit (the action carries it as
its command), so the feedback log learns which candidate the user took."""
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

    def structure_message(self, data: Any) -> Any:
        """pygls drops a request whose params do not decode (a position of -1, 2**31 or null),
        and the client waits forever: answer it with the error instead."""
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data, dict) and "id" in data and "method" in data:
                logger.warning("%s request %s: invalid params", data["method"], data["id"])
                self._send_response(data["id"], error=exc.to_response_error())
            return JsonRPCNotification(method=UNREADABLE, jsonrpc="2.0", params=None)


UNREADABLE = "$/toppass/unreadable"
"""What an undecodable message becomes once answered: a notification nothing handles."""


class LspTextDocument(TextDocument):
    """A document whose lines end where LSP says they do: at LF, CRLF or CR only. pygls
    splits with `str.splitlines`, which also breaks at form feeds, U+2028, U+0085 and other
    separators, so an incremental change after one of those landed on the wrong line."""

    @property
    def lines(self) -> Sequence[str]:
        parts = _LINE_BREAK.split(self.source)
        lines = [text + end for text, end in zip(parts[::2], [*parts[1::2], ""], strict=True)]
        return tuple(lines if lines[-1] else lines[:-1])


_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")


def use_lsp_line_breaks(workspace: Any) -> None:
    """Have `workspace` make `LspTextDocument`s (pygls offers no other hook than this one)."""
    original = workspace._create_text_document

    def create(*args: Any, **kwargs: Any) -> TextDocument:
        document = original(*args, **kwargs)
        document.__class__ = LspTextDocument
        return document

    workspace._create_text_document = create


class ClientLogHandler(logging.Handler):
    """Log records to the client as `window/logMessage`, with the record's level as the
    message type: editors keep them in their LSP log at that level (stderr, which Neovim logs
    as [ERROR] line by line, is only for start-up failures). Safe from any thread."""

    LEVELS = (
        (logging.ERROR, types.MessageType.Error),
        (logging.WARNING, types.MessageType.Warning),
        (logging.INFO, types.MessageType.Info),
    )

    def __init__(self, server: LanguageServer, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.server = server
        self.loop = loop
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("pygls"):
            return  # its own messages about sending this one: no loop
        kind = next((t for level, t in self.LEVELS if record.levelno >= level), None)
        params = types.LogMessageParams(
            type=kind or types.MessageType.Log, message=self.format(record)
        )
        with contextlib.suppress(RuntimeError):  # the loop closed: the server is going away
            self.loop.call_soon_threadsafe(self.server.window_log_message, params)


def log_to_client(server: LanguageServer) -> None:
    """From now on the server's log goes to the client (`ClientLogHandler`), not to stderr."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler:  # stderr, set up by `toppass-ls --stdio`
            root.removeHandler(handler)
    if not any(isinstance(h, ClientLogHandler) for h in root.handlers):
        root.addHandler(ClientLogHandler(server, asyncio.get_running_loop()))


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
        self.consent = ConsentStore()
        self.feedback = FeedbackRecorder()
        self.blocked: str | None = None  # why sampling must wait for the settings to be fixed

    # -- settings ------------------------------------------------------------------------

    def update_settings(self, update: Any) -> list[str]:
        """Lay client settings over the current ones; returns problem messages for the user."""
        flat, problems = normalise(update)
        self.raw_settings = {**self.raw_settings, **flat}
        settings, invalid = parse_settings(self.raw_settings)
        problems += invalid
        self.blocked = _blocking(settings, problems)
        if (
            provider_key(settings) != provider_key(self.settings)
            or settings.ranker_path != self.settings.ranker_path
            or settings.allow_execution != self.settings.allow_execution
            or settings.reviewer_tie_break != self.settings.reviewer_tie_break
            or settings.probe_inputs != self.settings.probe_inputs
        ):
            self.results.clear()
        self.settings = settings
        if settings.allow_execution is False and self._examples is not None:
            runner, self._examples = self._examples, None
            self.in_background(asyncio.to_thread(runner.close))  # its workers stop
        if not settings.reviewer_tie_break and self._reviewer is not None:
            self._reviewer = None  # the model goes once a ranking still using it is done
        problems += self._configure_log_file(settings.log_file)
        self.feedback.enabled = settings.feedback_log
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

    def example_runner(self) -> ExampleRunner:
        """The sandbox that runs candidates on docstring examples (created on first use, kept
        for the session: its workers start once)."""
        if self._examples is None:
            self._examples = ExampleRunner()
        return self._examples

    async def execution_for(self, uri: str, ctx: FunctionContext) -> ExampleRunner | None:
        """The example runner when candidates for `ctx` may run: `allowExecution` true, or
        "ask" and the user said yes (Always, remembered for the workspace, or This time). Asks
        only where something would run; no code runs without a yes."""
        allowed = self.settings.allow_execution
        if allowed is False:
            return None
        if allowed is True:
            return self.example_runner()
        examples, reason = docstring_examples(ctx)
        if not probes_for(ctx, examples, reason)[0]:
            return None  # nothing to run: nothing to ask
        workspace = self.workspace.root_uri or uri.rsplit("/", 1)[0]
        remembered = self.consent.get(workspace)
        if remembered is not None:
            return self.example_runner() if remembered == "always" else None
        try:
            choice = await self.window_show_message_request_async(
                types.ShowMessageRequestParams(
                    type=types.MessageType.Info,
                    message="toppass: " + QUESTION.format(name=ctx.name),
                    actions=[types.MessageActionItem(title=t) for t in (ALWAYS, THIS_TIME, NEVER)],
                )
            )
        except JsonRpcException as exc:  # no way to ask: nothing runs
            logger.info("cannot ask whether to run the examples: %s", exc)
            return None
        answer = choice.title if choice is not None else None
        if answer in (ALWAYS, NEVER):
            self.consent.remember(workspace, "always" if answer == ALWAYS else "never")
        return self.example_runner() if answer in (ALWAYS, THIS_TIME) else None

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
        """Cached results for this function (`cache_key`), else sample and rank with
        cancellable progress. Failures are shown to the user and give None."""
        key = cache_key(uri, ctx)
        cached = self.results.get(key)
        if cached is not None:
            return cached
        if self.blocked is not None:
            self.show(types.MessageType.Error, self.blocked)
            return None
        settings = self.settings
        examples = await self.execution_for(uri, ctx)
        try:
            async with cancellable_progress(self, f"toppass: {ctx.name}()") as report:
                result = await generate(
                    ctx,
                    self.provider(),
                    lambda: self.rankers.get(settings.ranker_path),
                    settings.samples,
                    report,
                    examples,
                    self.reviewer_scorer(),
                    settings.probe_inputs,
                    stopping_rule(settings),
                )
        except SamplingError as exc:
            self.show(types.MessageType.Error, str(exc))
            return None
        except RankerConfigError as exc:
            self.show(types.MessageType.Error, f"cannot load the ranker: {exc}")
            return None
        except Exception as exc:  # a failure of the server's own: said, not swallowed
            logger.exception("generating for %s() failed", ctx.name)
            self.show(types.MessageType.Error, f"{ctx.name}(): {type(exc).__name__}: {exc}")
            return None
        if self.rankers.warning:
            self.window_log_message(
                types.LogMessageParams(type=types.MessageType.Warning, message=self.rankers.warning)
            )
        if not result.candidates:
            self.show(types.MessageType.Warning, result.empty_message())
            return result
        self.results.put(key, result)
        self.feedback.offered(uri, ctx, result, settings.top_k, settings.ranker_path)
        return result

    def applied_command(
        self, candidate: RankedCandidate, result: RankedResult, via: str
    ) -> types.Command | None:
        """The command an editor runs after applying `candidate` itself (a code action, an
        inline completion): it tells the feedback log (None while the log is off)."""
        request = self.feedback.request_of(result) if self.feedback.enabled else None
        if request is None:
            return None
        argument = {"request": request, "rank": candidate.rank, "via": via}
        return types.Command(
            title="toppass: applied", command=APPLIED_COMMAND, arguments=[argument]
        )

    def candidate_edit(
        self, uri: str, ctx: FunctionContext, candidate: RankedCandidate
    ) -> types.WorkspaceEdit:
        document = self.workspace.get_text_document(uri)
        edit = body_edit(
            ctx,
            candidate.body,
            split_lines(document.source),
            document.position_codec.client_num_units,
            line_break(document.source),
        )
        return workspace_edit(uri, document.version, edit, self.document_changes_supported())

    def ranked_actions(
        self, uri: str, ctx: FunctionContext, result: RankedResult
    ) -> list[types.CodeAction]:
        """The ranked candidates as code actions; when none can be trusted (`warning`), a
        disabled action saying so comes first."""
        top = result.top(self.settings.top_k)
        actions = [
            types.CodeAction(
                title=title,
                kind=ACTION_KIND,
                is_preferred=True if candidate.rank == 1 and result.warning is None else None,
                edit=self.candidate_edit(uri, ctx, candidate),
                command=self.applied_command(candidate, result, "code action"),
            )
            for candidate, title in zip(top, candidate_titles(top), strict=True)
        ]
        if result.warning is not None:
            warning = f"toppass: {result.warning}"
            disabled = types.CodeActionDisabled(reason=warning)
            actions.insert(0, types.CodeAction(title=warning, kind=ACTION_KIND, disabled=disabled))
        return actions


def _blocking(settings: Settings, problems: Sequence[str]) -> str | None:
    """Why the openai provider must not sample: where its endpoint should be, the settings
    came malformed (the group not an object, keys beside `toppass`, an invalid baseUrl), so
    the key could go to an endpoint the user did not name (the default, or OPENAI_BASE_URL)."""
    if settings.provider != "openai":
        return None
    lost = (
        "ignoring setting openai",
        "invalid setting openai.baseUrl",
        "settings must be an object",
        f"{SECTION!r} must be an object",
    )
    shape = [p for p in problems if p.startswith(lost) or "beside the" in p]
    if not shape:
        return None
    return f"fix the settings before sampling ({shape[0]}); until then no request is sent"


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
        use_lsp_line_breaks(ls.workspace)
        ls.pending_messages += ls.update_settings(params.initialization_options or {})

    @server.feature(types.INITIALIZED)
    def initialized(ls: ToppassServer, params: types.InitializedParams) -> None:
        log_to_client(ls)
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
        uri = params.text_document.uri
        ls.results.forget_document(uri)
        if ls.feedback.waiting(uri):  # closed unsaved: what is on disk is what was kept
            ls.feedback.closed(uri, _text_on_disk(uri))

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(ls: ToppassServer, params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        if not ls.feedback.waiting(uri):
            return
        try:
            source = params.text or ls.workspace.get_text_document(uri).source
        except OSError:
            return
        ls.feedback.saved(uri, source)

    @server.command(APPLIED_COMMAND)
    def applied_command(ls: ToppassServer, *args: Any) -> None:
        """The editor applied a ranked code action (or inline completion): log which."""
        argument = args[0] if len(args) == 1 and isinstance(args[0], dict) else {}
        request, rank = argument.get("request"), argument.get("rank")
        via = argument.get("via")
        via = via if isinstance(via, str) else "code action"
        if isinstance(request, str) and isinstance(rank, int) and not isinstance(rank, bool):
            ls.feedback.applied(request, rank, via)
        else:
            logger.info("%s: ignored arguments %r", APPLIED_COMMAND, list(args))

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[ACTION_KIND]),
    )
    def code_action(ls: ToppassServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        """Never samples: cached ranked candidates, or (when invoked) the generate action."""
        if not _kind_requested(params.context.only):
            return []
        uri = params.text_document.uri
        _version, ctx = _document_context(ls, uri, params.range.start.line)
        if ctx is None:
            return []
        cached = ls.results.get(cache_key(uri, ctx))
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
        result = ls.results.get(cache_key(uri, ctx))
        if result is None:
            if params.context.trigger_kind != types.InlineCompletionTriggerKind.Invoked:
                return None
            result = await ls.ranked_results(uri, version, ctx)
        if result is None or not result.candidates:
            return None
        document = ls.workspace.get_text_document(uri)
        lines = split_lines(document.source)
        items = []
        top = result.top(ls.settings.top_k)
        for candidate, title in zip(top, candidate_titles(top), strict=True):
            edit = body_edit(
                ctx,
                candidate.body,
                lines,
                document.position_codec.client_num_units,
                line_break(document.source),
            )
            items.append(
                types.InlineCompletionItem(
                    insert_text=edit.new_text,
                    range=edit.range,
                    filter_text=title,
                    command=ls.applied_command(candidate, result, "inline completion"),
                )
            )
        return types.InlineCompletionList(items=items)

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: ToppassServer, params: None) -> None:
        await asyncio.to_thread(ls.close_example_runner)  # stops the sandbox workers
        if ls._provider is not None:
            await ls._provider.aclose()

    return server


def _text_on_disk(uri: str) -> str | None:
    """The saved text of a `file:` document, None where it cannot be read."""
    from pygls.uris import to_fs_path

    path = to_fs_path(uri)
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as saved:
            return saved.read()
    except (OSError, UnicodeDecodeError):
        return None


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
    titles = candidate_titles(top)
    summary: dict[str, Any] = {
        "function": ctx.name,
        "warning": result.warning,
        "candidates": [candidate_json(c, t) for c, t in zip(top, titles, strict=True)],
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
                actions=[types.MessageActionItem(title=title) for title in titles],
            )
        )
    except JsonRpcException as exc:  # a client without showMessageRequest: code actions remain
        logger.warning("window/showMessageRequest failed: %s", exc)
        return summary
    chosen = next(
        (
            (c, title)
            for c, title in zip(top, titles, strict=True)
            if choice is not None and title == choice.title
        ),
        None,
    )
    if chosen is None:
        return summary
    summary["applied"] = await _apply(ls, uri, version, ctx, *chosen)
    request = ls.feedback.request_of(result)
    if summary["applied"] is not None and request is not None:
        ls.feedback.applied(request, summary["applied"], "command")
    return summary


def offer_message(name: str, shown: int, result: RankedResult) -> str:
    """The showMessageRequest text: how many candidates, on how many examples they ran, and
    first, when none can be trusted, that none can (`RankedResult.warning`)."""
    plural = "" if result.examples == 1 else "s"
    ran = f" (run on {result.examples} docstring example{plural})" if result.examples else ""
    warning = f"{result.warning}. " if result.warning else ""
    return f"toppass: {warning}{shown} ranked candidates for {name}(){ran}"


async def _apply(
    ls: ToppassServer,
    uri: str,
    version: int | None,
    ctx: FunctionContext,
    candidate: RankedCandidate,
    title: str,
) -> int | None:
    """Apply one candidate; if the document changed meanwhile, only when the function itself
    is unchanged (found again by its text); never to a document closed meanwhile."""
    if uri not in ls.workspace.text_documents:
        ls.show(
            types.MessageType.Warning,
            f"{uri.rsplit('/', 1)[-1]} was closed while sampling; nothing applied",
        )
        return None
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
        types.ApplyWorkspaceEditParams(edit=ls.candidate_edit(uri, target, candidate), label=title)
    )
    if not response.applied:
        ls.show(
            types.MessageType.Warning,
            f"the editor did not apply the edit: {response.failure_reason or 'no reason given'}",
        )
        return None
    return candidate.rank

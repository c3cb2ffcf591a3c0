"""Work-done progress that the user can cancel: cancelling it cancels the running task."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from lsprotocol import types
from pygls.lsp.server import LanguageServer

logger = logging.getLogger(__name__)

Report = Callable[[str, "int | None"], None]


def client_supports_progress(server: LanguageServer) -> bool:
    window = server.client_capabilities.window
    return bool(window and window.work_done_progress)


@asynccontextmanager
async def cancellable_progress(server: LanguageServer, title: str) -> AsyncIterator[Report]:
    """Server-created work-done progress around a block; yields `report(message, percent)`.

    The progress is `cancellable`: a `window/workDoneProgress/cancel` from the client cancels
    the task running the block. Without client support, reports go to the log only.
    """
    token: str | None = None
    if client_supports_progress(server):
        token = f"toppass-{uuid.uuid4()}"
        try:
            await server.work_done_progress.create_async(token)
        except Exception as exc:  # the client refused: carry on without a progress bar
            logger.info("window/workDoneProgress/create failed: %s", exc)
            token = None
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if token is not None:
        server.work_done_progress.begin(
            token,
            types.WorkDoneProgressBegin(
                title=title, cancellable=True, message="starting", percentage=0
            ),
        )
        cancelled = server.work_done_progress.tokens[token]

        def on_cancel(future: object) -> None:
            if getattr(future, "cancelled", lambda: False)() and task is not None:
                logger.info("progress %s cancelled by the client", token)
                loop.call_soon_threadsafe(task.cancel)

        cancelled.add_done_callback(on_cancel)

    def report(message: str, percentage: int | None = None) -> None:
        logger.debug("%s: %s", title, message)
        if token is not None:
            server.work_done_progress.report(
                token, types.WorkDoneProgressReport(message=message, percentage=percentage)
            )

    outcome = "done"
    try:
        yield report
    except asyncio.CancelledError:
        outcome = "cancelled"
        raise
    except Exception:
        outcome = "failed"
        raise
    finally:
        if token is not None:
            server.work_done_progress.end(token, types.WorkDoneProgressEnd(message=outcome))
            server.work_done_progress.tokens.pop(token, None)

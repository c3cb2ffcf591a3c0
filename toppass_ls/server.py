"""The language server object: protocol state lives here, feature logic in plain modules."""

from __future__ import annotations

from pygls.lsp.server import LanguageServer

from toppass_ls import __version__


class ToppassServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(name="toppass-ls", version=__version__)


def create_server() -> ToppassServer:
    return ToppassServer()

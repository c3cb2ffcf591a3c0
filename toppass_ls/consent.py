"""The user's answer to "run candidates on the docstring's examples?" (`allowExecution: "ask"`),
remembered per workspace in a small JSON file under the user's state directory
($TOPPASS_STATE_DIR, else $XDG_STATE_HOME/toppass, else ~/.local/state/toppass). Nothing in it
leaves the machine."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

Answer = Literal["always", "never"]

QUESTION = (
    "Run the candidates for {name}() on its docstring's examples, in the sandbox on this "
    "machine? The results rank them much better; the code is model-written (see docs/sandbox.md "
    "for what the sandbox contains)."
)
ALWAYS, THIS_TIME, NEVER = "Always", "This time", "Never"


def state_dir() -> Path:
    configured = os.environ.get("TOPPASS_STATE_DIR")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "toppass"


class ConsentStore:
    """{workspace: "always" | "never"}, read once and written on each answer. A file that
    cannot be read or written only costs the memory across sessions (logged)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_dir() / "consent.json"
        self._answers: dict[str, Answer] = {}
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                self._answers = {str(k): v for k, v in loaded.items() if v in ("always", "never")}
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            logger.warning("cannot read %s: %s", self.path, exc)

    def get(self, workspace: str) -> Answer | None:
        return self._answers.get(workspace)

    def remember(self, workspace: str, answer: Answer) -> None:
        self._answers[workspace] = answer
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".partial")
            partial.write_text(json.dumps(self._answers, indent=2) + "\n", encoding="utf-8")
            partial.replace(self.path)
        except OSError as exc:
            logger.warning("cannot remember the answer in %s: %s", self.path, exc)

"""A real HTTP server speaking the OpenAI API (POST /v1/chat/completions, /v1/completions),
for driving the real `openai` client in tests. Standard library only.

The mode is the first path segment of the base URL, so one server serves every mode:
`http://127.0.0.1:PORT/<mode>/v1`. Modes:

    honours-n   answers n choices (vLLM, OpenAI)
    ignores-n   always answers one choice (Ollama, llama.cpp server)
    slow        waits `slow_seconds` before answering (watching for the client hanging up)
    401         rejects the API key
    404         model not found
    500         internal server error
    malformed   200 with a body that is not JSON
    rejects-n   400 for n > 1 (some servers only take n=1), else like honours-n
    no-logprobs like honours-n, but never returns log-probabilities (backends without them)
    rejects-logprobs  400 when a request asks for log-probabilities, else like honours-n

Choice i of a request with seed s is bodies[(s + i) % len(bodies)]: as a fenced whole function
(chat; the function header is taken from the request's last ```python block) or as the bare
body (completions). A request that asks for `logprobs` (every mode but no-logprobs) gets them:
the answer split by `fake_tokens`, each token's log-probability `fake_logprob(token)`. Every request is recorded in `requests`; `disconnects` counts slow
requests whose client closed the connection before the answer.

As a program (for editor tests in other languages):

    python tests/fake_openai.py [--port 0] [--slow-seconds 30]

prints `http://127.0.0.1:PORT` on its first stdout line and serves until killed.
"""

from __future__ import annotations

import argparse
import json
import re
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_BODIES = (
    "    return sorted(set(xs))\n",
    "    result = []\n    for x in sorted(xs):\n        if x not in result:\n            result.append(x)\n    return result\n",
    "    return list(xs)\n",
    "    return sorted(xs)\n",
)
MODES = (
    "honours-n",
    "ignores-n",
    "slow",
    "401",
    "404",
    "500",
    "malformed",
    "rejects-n",
    "no-logprobs",
    "rejects-logprobs",
)
_CODE_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
_FAKE_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")


def fake_tokens(text: str) -> list[str]:
    """How the fake server splits an answer into tokens: runs of whitespace, of word
    characters, and single other characters (they concatenate back to the text)."""
    return _FAKE_TOKEN.findall(text)


def fake_logprob(token: str) -> float:
    """The fake log-probability of a token: longer tokens are less likely."""
    return -0.1 * len(token)


@dataclass
class RecordedRequest:
    mode: str
    endpoint: str
    body: dict[str, Any]

    @property
    def n(self) -> int:
        return int(self.body.get("n") or 1)

    @property
    def seed(self) -> int | None:
        return self.body.get("seed")


@dataclass
class FakeOpenAI:
    bodies: tuple[str, ...] = DEFAULT_BODIES
    slow_seconds: float = 30.0
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[RecordedRequest] = field(default_factory=list)
    disconnects: int = 0
    _server: _Server | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _event: threading.Condition = field(default_factory=threading.Condition)

    def url(self, mode: str = "honours-n") -> str:
        assert mode in MODES, mode
        return f"http://{self.host}:{self.port}/{mode}/v1"

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = _Server((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def reset(self) -> None:
        with self._event:
            self.requests.clear()
            self.disconnects = 0

    def record(self, request: RecordedRequest) -> None:
        with self._event:
            self.requests.append(request)
            self._event.notify_all()

    def record_disconnect(self) -> None:
        with self._event:
            self.disconnects += 1
            self._event.notify_all()

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> bool:
        """Block until `predicate(self)` holds (True) or `timeout` passes (False)."""
        with self._event:
            return self._event.wait_for(lambda: predicate(self), timeout)

    def answers(self, body: dict[str, Any], count: int, chat: bool) -> list[str]:
        seed = int(body.get("seed") or 0)
        picked = [self.bodies[(seed + i) % len(self.bodies)] for i in range(count)]
        if not chat:
            return picked
        header = _function_header(body)
        return [f"Here you go:\n```python\n{header}{b}```\nIt works." for b in picked]


def _function_header(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    text = str(messages[-1].get("content", "")) if messages else ""
    blocks = _CODE_BLOCK.findall(text)
    return blocks[-1] if blocks else "def f(xs):\n"


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (a cancelled request: what the tests do on
        purpose) is not an error; anything else is printed as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(self, status: int, payload: Any, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _client_gone(self, seconds: float) -> bool:
        """Wait up to `seconds`; True as soon as the client closes the connection."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable:
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return True
                except OSError:
                    return True
        return False

    def do_GET(self) -> None:
        self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        parts = self.path.strip("/").split("/")
        mode = parts[0] if parts else ""
        endpoint = "/".join(parts[2:])
        self.owner.record(RecordedRequest(mode, endpoint, body))
        if mode == "401":
            self._send(
                401,
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
            )
            return
        if mode == "404":
            self._send(
                404,
                {
                    "error": {
                        "message": f"model '{body.get('model')}' not found",
                        "type": "not_found",
                    }
                },
            )
            return
        if mode == "500":
            self._send(
                500, {"error": {"message": "the fake server failed", "type": "server_error"}}
            )
            return
        if mode == "rejects-n" and int(body.get("n") or 1) > 1:
            self._send(
                400,
                {
                    "error": {
                        "message": "'n' must be 1",
                        "type": "invalid_request_error",
                        "param": "n",
                    }
                },
            )
            return
        wants_logprobs = bool(body.get("logprobs"))
        if mode == "rejects-logprobs" and wants_logprobs:
            self._send(
                400,
                {
                    "error": {
                        "message": "logprobs is not supported with this model",
                        "type": "invalid_request_error",
                        "param": "logprobs",
                    }
                },
            )
            return
        with_logprobs = wants_logprobs and mode != "no-logprobs"
        if mode == "malformed":
            self._send(200, None, raw=b'{"choices": [{"message": ')
            return
        if mode == "slow" and self._client_gone(self.owner.slow_seconds):
            self.owner.record_disconnect()
            self.close_connection = True
            return
        chat = endpoint == "chat/completions"
        count = 1 if mode == "ignores-n" else int(body.get("n") or 1)
        texts = self.owner.answers(body, count, chat)
        if chat:
            choices: list[dict[str, Any]] = [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": t},
                    "finish_reason": "stop",
                    "logprobs": _chat_logprobs(t) if with_logprobs else None,
                }
                for i, t in enumerate(texts)
            ]
            kind = "chat.completion"
        else:
            choices = [
                {
                    "index": i,
                    "text": t,
                    "finish_reason": "stop",
                    "logprobs": _completion_logprobs(t) if with_logprobs else None,
                }
                for i, t in enumerate(texts)
            ]
            kind = "text_completion"
        self._send(
            200,
            {
                "id": "fake-1",
                "object": kind,
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": choices,
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )


def _chat_logprobs(text: str) -> dict[str, Any]:
    return {
        "content": [
            {
                "token": token,
                "logprob": fake_logprob(token),
                "bytes": list(token.encode()),
                "top_logprobs": [],
            }
            for token in fake_tokens(text)
        ],
        "refusal": None,
    }


def _completion_logprobs(text: str) -> dict[str, Any]:
    tokens = fake_tokens(text)
    offsets = [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
    return {
        "tokens": tokens,
        "token_logprobs": [fake_logprob(t) for t in tokens],
        "top_logprobs": [{t: fake_logprob(t)} for t in tokens],
        "text_offset": offsets,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible server for tests.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--slow-seconds", type=float, default=30.0)
    args = parser.parse_args()
    fake = FakeOpenAI(port=args.port, slow_seconds=args.slow_seconds).start()
    print(f"http://{fake.host}:{fake.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()

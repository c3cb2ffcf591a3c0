"""A stand-in for an OpenAI-compatible endpoint, for the editor end-to-end tests.

A real HTTP server (stdlib only) that the language server's real `openai` client talks to. It
answers `POST /v1/chat/completions` and `POST /v1/completions` with fixed candidates read from a
JSON list, cycling through them to fill `n` choices; every request is appended to `--log` as one
JSON line. Run as a process so that both pytest and Node tests can use it:

    python tests/editors/fake_openai_server.py --candidates cands.json [--port 0] [--log requests.jsonl]

The first stdout line is the base URL to configure, e.g. `http://127.0.0.1:43127/v1`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def completion_body(path: str, request: dict[str, Any], candidates: list[str]) -> dict[str, Any]:
    n = int(request.get("n") or 1)
    texts = [candidates[i % len(candidates)] for i in range(n)]
    common = {"created": int(time.time()), "model": request.get("model", "fake")}
    usage = {"prompt_tokens": 10, "completion_tokens": 10 * n, "total_tokens": 10 + 10 * n}
    if path.endswith("/chat/completions"):
        choices: list[dict[str, Any]] = [
            {
                "index": i,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": None,
            }
            for i, text in enumerate(texts)
        ]
        return {"id": "chatcmpl-fake", "object": "chat.completion", **common, "choices": choices}
    choices = [
        {"index": i, "text": text, "finish_reason": "stop", "logprobs": None}
        for i, text in enumerate(texts)
    ]
    return {
        "id": "cmpl-fake",
        "object": "text_completion",
        **common,
        "choices": choices,
        "usage": usage,
    }


def make_handler(candidates: list[str], log: Path | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            path = self.path.rstrip("/")
            if log is not None:
                entry = {
                    "path": path,
                    "authorization": self.headers.get("Authorization"),
                    **request,
                }
                with log.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")
            if not path.endswith(("/chat/completions", "/completions")):
                self._send(404, {"error": {"message": f"no route {path}", "type": "not_found"}})
                return
            self._send(200, completion_body(path, request, candidates))

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # keep stderr quiet
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=Path, required=True, help="JSON list of answers")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--log", type=Path, help="append each request here as a JSON line")
    args = parser.parse_args()
    candidates = json.loads(args.candidates.read_text(encoding="utf-8"))
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(candidates, args.log))
    sys.stdout.write(f"http://127.0.0.1:{server.server_address[1]}/v1\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()

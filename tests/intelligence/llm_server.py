"""A local OpenAI-compatible chat-completions server that replays recorded answers.

Binds 127.0.0.1 on an ephemeral port, answers every ``POST .../chat/completions`` with the next
queued answer (a tool call when the request offers tools, else JSON content), or with an HTTP
error when the queued item is ``{"status": 500}``. It records each request and how many were in
flight at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class RecordedLlm:
    def __init__(self, answers: list[dict[str, Any]] | None = None, delay: float = 0.0) -> None:
        self.answers: deque[dict[str, Any]] = deque(answers or [])
        self.default: dict[str, Any] | None = None  # served when the queue is empty
        self.requests: list[dict[str, Any]] = []
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with owner._lock:
                    owner.requests.append(body)
                    owner.in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
                    answer = owner.answers.popleft() if owner.answers else owner.default
                try:
                    if owner.delay:
                        time.sleep(owner.delay)
                    if answer is None or "status" in answer:
                        status = 500 if answer is None else int(answer["status"])
                        self._send(
                            status,
                            {"error": {"message": "recorded failure", "type": "server_error"}},
                        )
                        return
                    self._send(200, owner.completion(body, answer))
                finally:
                    with owner._lock:
                        owner.in_flight -= 1

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @staticmethod
    def completion(request: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None}
        tools = request.get("tools") or []
        if tools:
            message["tool_calls"] = [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": tools[0]["function"]["name"],
                        "arguments": json.dumps(answer),
                    },
                }
            ]
            finish = "tool_calls"
        else:
            message["content"] = json.dumps(answer)
            finish = "stop"
        return {
            "id": "chatcmpl-recorded",
            "object": "chat.completion",
            "created": 0,
            "model": request.get("model", "recorded"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }

    def __enter__(self) -> RecordedLlm:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

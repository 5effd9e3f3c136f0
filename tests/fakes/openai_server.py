"""A scripted OpenAI-compatible server: POST /v1/chat/completions over real HTTP, JSON or SSE streaming.

Each request takes the next scripted reply, `text("...")` or `tool_call("name", {...})` (or raw, possibly broken,
argument text), and every request is recorded (path, headers, body) so tests can see what the model was sent.
An exhausted script answers 500, as an overloaded endpoint would.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    content: str | None = None
    tool_calls: list[dict[str, str]] = field(default_factory=list)  # {"id", "name", "arguments" (raw text)}


def text(content: str) -> Reply:
    return Reply(content=content)


def tool_call(name: str, args: dict[str, Any] | str, call_id: str = "call_1") -> Reply:
    return Reply(tool_calls=[{"id": call_id, "name": name,
                              "arguments": args if isinstance(args, str) else json.dumps(args)}])


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.body.get("tools", [])]


class ScriptedOpenAI:
    """`with ScriptedOpenAI([tool_call(...), text(...)]) as srv: ChatOpenAI(base_url=srv.base_url, ...)`."""

    def __init__(self, script: list[Reply], usage: tuple[int, int] = (11, 7)) -> None:
        self.script = list(script)
        self.requests: list[Request] = []
        self.usage = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="scripted-openai", daemon=True)

    def __enter__(self) -> ScriptedOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _next(self, request: Request) -> Reply | None:
        with self._lock:
            self.requests.append(request)
            return self.script.pop(0) if self.script else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                if self.path != "/v1/chat/completions":
                    server.requests.append(request)
                    self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                    return
                reply = server._next(request)
                if reply is None:
                    self._json(500, {"error": {"message": "script exhausted", "type": "server_error"}})
                elif body.get("stream"):
                    self._stream(body, reply)
                else:
                    self._json(200, server._completion(body, reply))

            def _json(self, status: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any], reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": int(time.time()),
                        "model": body["model"]}

                def send(delta: dict[str, Any] | None, finish: str | None = None,
                         usage: dict[str, int] | None = None) -> None:
                    chunk: dict[str, Any] = {**base, "choices": [] if delta is None else [
                        {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
                    if usage is not None:
                        chunk["usage"] = usage
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()

                send({"role": "assistant", "content": ""})
                if reply.tool_calls:
                    for i, tc in enumerate(reply.tool_calls):
                        send({"tool_calls": [{"index": i, "id": tc["id"], "type": "function",
                                              "function": {"name": tc["name"], "arguments": ""}}]})
                        args = tc["arguments"]
                        for k in range(0, len(args), 7):  # arguments arrive in pieces, as real servers send them
                            send({"tool_calls": [{"index": i, "function": {"arguments": args[k:k + 7]}}]})
                    send({}, finish="tool_calls")
                else:
                    content = reply.content or ""
                    for k in range(0, len(content), 5):
                        send({"content": content[k:k + 5]})
                    send({}, finish="stop")
                if (body.get("stream_options") or {}).get("include_usage"):
                    send(None, usage=server.usage)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        return Handler

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        finish = "stop"
        if reply.tool_calls:
            message["content"] = None
            message["tool_calls"] = [{"id": tc["id"], "type": "function",
                                      "function": {"name": tc["name"], "arguments": tc["arguments"]}}
                                     for tc in reply.tool_calls]
            finish = "tool_calls"
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": self.usage}

"""A loopback fake of OpenAI's Files and Batches endpoints (the real service is paid and remote), plus plain chat
completions so that `retry_failed` has somewhere to send the items a batch failed.

    POST /v1/files                 multipart upload (purpose=batch): the JSONL of requests
    POST /v1/batches               creates a batch from an uploaded file (counted in `batches_created`)
    GET  /v1/batches               lists them, newest first (one page)
    GET  /v1/batches/{id}          `in_progress` while `hold` is set or for `polls_in_progress` polls, then `final`
    GET  /v1/files/{id}/content    an uploaded file, or a finished batch's output / error file
    POST /v1/chat/completions      an ordinary answer (counted in `chat_calls`)
    GET  /v1/models                so the workbench's loopback probe sees a server

Scriptable: `final` ("completed", "expired", "failed"), `fail_every` (every n-th request of a batch goes to the
error file instead of the output file), `answer_share` (an expired batch still answers this share first).
"""
from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = '{"flagged": false, "categories": {}, "reason": "a plain test image"}'
PROMPT_TOKENS, COMPLETION_TOKENS = 120, 12


class _Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


class BatchApiServer:
    def __init__(self, final: str = "completed", polls_in_progress: int = 1, fail_every: int = 0,
                 answer_share: float = 0.0) -> None:
        self.final, self.polls_in_progress, self.fail_every, self.answer_share = (
            final, polls_in_progress, fail_every, answer_share)
        self.hold = False  # stay in_progress until the test clears it
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.batches_created = self.polls = self.chat_calls = 0
        self.lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "BatchApiServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- the endpoints' behaviour --------------------------------------------------------------------------

    def upload(self, content: bytes) -> dict:
        with self.lock:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = content
        return {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                "filename": "batch.jsonl", "purpose": "batch", "status": "processed"}

    def create(self, body: dict) -> dict:
        with self.lock:
            self.batches_created += 1
            batch_id = f"batch-{self.batches_created}"
            lines = [json.loads(line) for line in self.files[body["input_file_id"]].splitlines() if line.strip()]
            self.batches[batch_id] = {"id": batch_id, "object": "batch", "endpoint": body["endpoint"],
                                      "input_file_id": body["input_file_id"], "completion_window": "24h",
                                      "status": "validating", "created_at": int(time.time()),
                                      "output_file_id": None, "error_file_id": None, "polls": 0,
                                      "request_counts": {"total": len(lines), "completed": 0, "failed": 0}}
            return self._public(self.batches[batch_id])

    def retrieve(self, batch_id: str) -> dict | None:
        with self.lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return None
            self.polls += 1
            batch["polls"] += 1
            if batch["status"] not in ("completed", "expired", "failed"):
                if self.hold or batch["polls"] <= self.polls_in_progress:
                    batch["status"] = "in_progress"
                else:
                    self._finish(batch)
            return self._public(batch)

    def _finish(self, batch: dict) -> None:
        lines = [json.loads(line) for line in self.files[batch["input_file_id"]].splitlines() if line.strip()]
        answered = lines if self.final == "completed" else lines[:int(len(lines) * self.answer_share)]
        out, errors = [], []
        for n, line in enumerate(answered):
            if self.fail_every and n % self.fail_every == 0:
                errors.append({"id": f"req-{n}", "custom_id": line["custom_id"], "response": {
                    "status_code": 500, "request_id": f"r{n}", "body": {"error": {"message": "server overloaded",
                                                                                   "type": "server_error"}}},
                               "error": None})
            else:
                out.append({"id": f"req-{n}", "custom_id": line["custom_id"], "error": None, "response": {
                    "status_code": 200, "request_id": f"r{n}", "body": completion(line["body"])}})
        for name, rows in (("output_file_id", out), ("error_file_id", errors)):
            if rows:
                file_id = f"file-{len(self.files) + 1}"
                self.files[file_id] = "\n".join(json.dumps(r) for r in rows).encode()
                batch[name] = file_id
        batch["status"] = self.final
        batch["request_counts"] = {"total": len(lines), "completed": len(out), "failed": len(errors)}

    @staticmethod
    def _public(batch: dict) -> dict:
        return {k: v for k, v in batch.items() if k != "polls"}


def completion(body: dict) -> dict:
    return {"id": "chatcmpl-batch", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                      "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}}


def _multipart_file(content_type: str, body: bytes) -> bytes:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            return part.get_payload(decode=True)
    raise ValueError("no file part")


def _handler(server: BatchApiServer):
    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _send(self, status: int, data) -> None:
            payload = data if isinstance(data, bytes) else json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if isinstance(data, bytes)
                             else "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/v1/models":
                return self._send(200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})
            if path == "/v1/batches":  # newest first, as the provider lists them
                with server.lock:
                    data = [server._public(b) for b in reversed(server.batches.values())]
                return self._send(200, {"object": "list", "data": data, "has_more": False})
            if path.startswith("/v1/batches/"):
                batch = server.retrieve(path.rsplit("/", 1)[1])
                return self._send(200, batch) if batch else self._send(404, {"error": {"message": "no batch"}})
            if path.startswith("/v1/files/") and path.endswith("/content"):
                content = server.files.get(path.split("/")[3])
                return self._send(200, content) if content is not None else \
                    self._send(404, {"error": {"message": "no file"}})
            self._send(404, {"error": {"message": f"no route {path}"}})

        def do_POST(self) -> None:
            body = self._body()
            if self.path == "/v1/files":
                return self._send(200, server.upload(_multipart_file(self.headers["Content-Type"], body)))
            if self.path == "/v1/batches":
                return self._send(200, server.create(json.loads(body)))
            if self.path == "/v1/chat/completions":
                with server.lock:
                    server.chat_calls += 1
                return self._send(200, completion(json.loads(body)))
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    return Handler

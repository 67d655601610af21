"""A stand-in for the Hugging Face Hub on loopback (the real one is a remote service these machines cannot reach):
it serves one model folder as a repo through the endpoints huggingface_hub's snapshot_download calls, slowly
enough that a download's progress can be watched. Point HF_ENDPOINT at `url`."""
from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

SHA = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    def __init__(self, repo_id: str, folder: str | Path, bytes_per_s: float = 2e6):
        self.repo_id, self.folder, self.bytes_per_s = repo_id, Path(folder), bytes_per_s
        self.files = {p.relative_to(self.folder).as_posix(): p for p in sorted(self.folder.rglob("*")) if p.is_file()}
        self.downloads: list[str] = []  # files sent, in order
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self):  # noqa: N802 — http.server's name
                hub.answer(self, body=False)

            def do_GET(self):  # noqa: N802
                hub.answer(self, body=True)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> "FakeHub":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _entries(self) -> list[dict]:
        return [{"type": "file", "path": name, "size": p.stat().st_size,
                 "oid": hashlib.sha1(p.read_bytes()).hexdigest()} for name, p in self.files.items()]

    def answer(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(urlparse(handler.path).path)
        api = f"/api/models/{self.repo_id}"
        if path in (api, f"{api}/revision/main", f"{api}/revision/{SHA}"):
            siblings = [{"rfilename": e["path"], "size": e["size"]} for e in self._entries()]
            return self._json(handler, {"id": self.repo_id, "sha": SHA, "siblings": siblings}, body)
        if path.startswith(f"{api}/tree/"):
            return self._json(handler, self._entries(), body)
        prefix = f"/{self.repo_id}/resolve/"
        if path.startswith(prefix):
            name = path[len(prefix):].split("/", 1)[-1]
            if name in self.files:
                return self._file(handler, name, body)
        handler.send_response(404)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _json(self, handler, payload, body: bool) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if body:
            handler.wfile.write(data)

    def _file(self, handler, name: str, body: bool) -> None:
        data = self.files[name].read_bytes()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
        handler.send_header("X-Repo-Commit", SHA)
        handler.end_headers()
        if not body:
            return
        self.downloads.append(name)
        chunk = 64 * 1024
        for start in range(0, len(data), chunk):
            handler.wfile.write(data[start:start + chunk])
            time.sleep(chunk / self.bytes_per_s)

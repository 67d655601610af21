"""Batch benchmarks against a loopback OpenAI-compatible server with a fixed latency (prints figures).

    python bench/batch_bench.py throughput   # 2,000 images, 64 concurrent, 50 ms: images/s as a share of ideal
    python bench/batch_bench.py memory       # peak RSS of the client over a 10,000-image batch
    python bench/batch_bench.py rerun        # a finished 2,000-image batch run again: wall time share, calls
    python bench/batch_bench.py all

Goals (issue 4): throughput ≥ 90 % of concurrency / latency; peak RSS ≤ 400 MB; re-run ≤ 2 % of the first run's
wall time with 0 calls. The server runs in its own process (tests/fault_server.py, `latency_s`), so it does not
share the client's CPU time under the GIL; its call counter is read over HTTP. `--server lean` swaps it for a
minimal asyncio server (one canned completion after the same latency), to tell the client's limits from the
fault server's; each run also prints the CPU both processes spent per call.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SERVER = """
import json, sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer
sys.path.insert(0, {repo!r})
from tests.fault_server import FaultServer
server = FaultServer(latency_s={latency}).start()
class Counts(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(dict(server.calls)).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
counts = HTTPServer(("127.0.0.1", 0), Counts)
print(server.url, counts.server_address[1], flush=True)
counts.serve_forever()
"""


LEAN_SERVER = """
import asyncio, json, time
ANSWER = json.dumps({{"id": "x", "object": "chat.completion", "created": int(time.time()), "model": "ok",
    "choices": [{{"index": 0, "message": {{"role": "assistant", "content": "A grey road."}}, "finish_reason": "stop"}}],
    "usage": {{"prompt_tokens": 17, "completion_tokens": 3, "total_tokens": 20}}}}).encode()
calls = 0
async def serve(reader, writer):
    global calls
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = 0
            for line in head.split(b"\\r\\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if head.startswith(b"GET"):  # /counts, or the client's reachability probe
                body = json.dumps({{"ok": calls}}).encode()
            else:
                calls += 1
                await asyncio.sleep({latency})
                body = ANSWER
            writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: "
                         + str(len(body)).encode() + b"\\r\\n\\r\\n" + body)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=256)
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{{port}}/v1", port, "counts", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


class LoopbackServer:
    """`kind`: "fault" (tests/fault_server.py, the default) or "lean" (a minimal asyncio server)."""

    def __init__(self, latency_s: float, kind: str = "fault") -> None:
        script = (SERVER if kind == "fault" else LEAN_SERVER).format(repo=str(REPO), latency=latency_s)
        self.proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        url, port, *path = self.proc.stdout.readline().split()
        self.url, self.counts_url = url, f"http://127.0.0.1:{port}/{''.join(path)}"

    def cpu_s(self) -> float:
        """User + system CPU the server process has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as fp:
            fields = fp.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def calls(self) -> int:
        with urllib.request.urlopen(self.counts_url, timeout=5) as answer:
            return sum(json.loads(answer.read()).values())

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def make_images(folder: Path, n: int, size: int = 32) -> Path:
    """n distinct small PNGs (a gradient with a per-file stamp), made once and reused."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    existing = len(list(folder.glob("*.png")))
    if existing == n:
        return folder
    base = np.fromfunction(lambda y, x, c: (x * 7 + y * 3 + c * 50) % 256, (size, size, 3)).astype(np.uint8)
    for i in range(n):
        pixels = base.copy()
        pixels[0, :4] = [(i >> 16) & 255, (i >> 8) & 255, i & 255]
        Image.fromarray(pixels).save(folder / f"img{i:05d}.png")
    return folder


def run_once(folder: Path, url: str, db: Path, workers: int):
    from workbench.batch import run_batch
    from workbench.models import ModelSpec

    spec = ModelSpec(name="loopback", provider="custom", base_url=url, model="ok", timeout=30)
    started = time.perf_counter()
    run = run_batch(folder, "ask", [spec], db=db, workers=workers, progress=False, max_tokens=16)
    return run, time.perf_counter() - started


def throughput(args) -> dict:
    work = Path(args.workdir)
    folder = make_images(work / "imgs2000", 2000)
    server = LoopbackServer(0.05, args.server)
    try:
        db = work / "throughput.db"
        for p in work.glob("throughput.db*"):
            p.unlink()
        server_cpu, client_cpu = server.cpu_s(), _cpu_s()
        run, wall = run_once(folder, server.url, db, 64)
        server_cpu, client_cpu = server.cpu_s() - server_cpu, _cpu_s() - client_cpu
        calls = server.calls()
    finally:
        server.close()
    ideal = 64 / 0.05
    achieved = run.total / wall
    figures = {"images": run.total, "answered": run.answered, "wall_s": round(wall, 2),
               "images_per_s": round(achieved, 1), "ideal_per_s": ideal, "share_of_ideal": round(achieved / ideal, 3),
               "server_calls": calls, "server": args.server,
               "client_cpu_ms_per_call": round(client_cpu / max(calls, 1) * 1000, 3),
               "server_cpu_ms_per_call": round(server_cpu / max(calls, 1) * 1000, 3)}
    print(f"throughput: {run.total} images, 64 concurrent, 50 ms latency: {achieved:.0f} images/s in {wall:.2f} s "
          f"= {achieved / ideal:.1%} of ideal {ideal:.0f}/s (goal ≥ 90 %); {calls} server calls ({args.server} "
          f"server); CPU per call: client {figures['client_cpu_ms_per_call']:.2f} ms, server "
          f"{figures['server_cpu_ms_per_call']:.2f} ms")
    return figures


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def memory(args) -> dict:
    work = Path(args.workdir)
    folder = make_images(work / "imgs10000", 10_000, size=args.size)
    server = LoopbackServer(0.05)
    try:
        db = work / "memory.db"
        for p in work.glob("memory.db*"):
            p.unlink()
        child = subprocess.run([sys.executable, __file__, "_client", str(folder), server.url, str(db)],
                               capture_output=True, text=True, check=True)
    finally:
        server.close()
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"memory: {figures['images']} images ({args.size}x{args.size} PNG), 64 concurrent: peak RSS "
          f"{figures['peak_rss_mb']:.0f} MB (after imports {figures['rss_after_imports_mb']:.0f} MB; goal ≤ 400 MB), "
          f"{figures['wall_s']:.1f} s")
    return figures


def _client(folder: str, url: str, db: str) -> None:
    """Runs in a fresh process, so ru_maxrss is this batch's peak and nothing else's."""
    import openai  # noqa: F401 — the baseline counts the imports a batch needs

    from workbench import batch  # noqa: F401

    baseline = _rss_mb()
    run, wall = run_once(Path(folder), url, Path(db), 64)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"images": run.total, "answered": run.answered, "wall_s": round(wall, 2),
                      "rss_after_imports_mb": round(baseline, 1), "peak_rss_mb": round(peak, 1)}))


def _rss_mb() -> float:
    with open("/proc/self/status") as fp:
        return next(int(line.split()[1]) for line in fp if line.startswith("VmRSS")) / 1024


def rerun(args) -> dict:
    work = Path(args.workdir)
    folder = make_images(work / "imgs2000", 2000)
    server = LoopbackServer(0.05)
    try:
        db = work / "rerun.db"
        for p in work.glob("rerun.db*"):
            p.unlink()
        first, first_wall = run_once(folder, server.url, db, 64)
        calls_before = server.calls()
        again, again_wall = run_once(folder, server.url, db, 64)
        calls_again = server.calls() - calls_before
    finally:
        server.close()
    share = again_wall / first_wall
    figures = {"images": first.total, "first_wall_s": round(first_wall, 3), "rerun_wall_s": round(again_wall, 4),
               "share": round(share, 4), "rerun_server_calls": calls_again, "rerun_cached": again.cached}
    print(f"rerun: first run {first_wall:.2f} s, re-run {again_wall * 1000:.0f} ms = {share:.1%} of it "
          f"(goal ≤ 2 %), {calls_again} server calls (goal 0), {again.cached}/{again.total} from the store")
    return figures


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_client":
        _client(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=("throughput", "memory", "rerun", "all"))
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "workbench-batch-bench"))
    parser.add_argument("--size", type=int, default=256, help="edge of the memory benchmark's images")
    parser.add_argument("--server", choices=("fault", "lean"), default="fault",
                        help="throughput's server: the scripted fault server, or a minimal asyncio one")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    results = {}
    for name, bench in (("throughput", throughput), ("rerun", rerun), ("memory", memory)):
        if args.which in (name, "all"):
            results[name] = bench(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

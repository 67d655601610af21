"""When is Ray worth it? The same batch — 2,000 small images, a loopback server answering in 50 ms, 64 calls in
flight per server — through `run_batch` in this process, and through `engine="ray"` on one local Ray node and on
two local nodes (`ray.cluster_utils.Cluster`, one CPU each).

    python bench/ray_bench.py                 # all three, each in a fresh process
    python bench/ray_bench.py --images 500    # a quicker look

Per engine: start-up (Ray's own start, then until the first answer is stored), images/s over the whole run and
after the first answer, and the peak memory of the process tree (the driver and, for Ray, its GCS, raylets and
workers), sampled every 0.2 s. The server runs in its own process (bench/batch_bench.py's LoopbackServer).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

ENGINES = ("local", "ray-1-node", "ray-2-nodes")


def tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and every process below it, in MB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            pid, ppid = int(entry.name), int(stat[1])
            rss[pid] = int(stat[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total / 2**20


class PeakMemory:
    def __init__(self) -> None:
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, tree_rss_mb(os.getpid()))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def one(engine: str, folder: str, url: str, workers: int) -> dict:
    """In a fresh process: one engine's run, measured."""
    from workbench.batch import run_batch
    from workbench.models import ModelSpec

    memory = PeakMemory()
    began = time.perf_counter()
    ray_start_s, cluster = 0.0, None
    if engine != "local":
        from workbench.batch.on_ray import connect

        if engine == "ray-2-nodes":
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            from ray.cluster_utils import Cluster

            cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
            cluster.add_node(num_cpus=1)
        connect(cluster.address if cluster else None)
        ray_start_s = time.perf_counter() - began
    first: list[float] = []
    spec = ModelSpec(name="loopback", provider="custom", base_url=url, model="ok", timeout=30)
    started = time.perf_counter()
    run = run_batch(folder, "ask", [spec], db=Path(tempfile.mkdtemp()) / "wb.db", workers=workers, progress=False,
                    max_tokens=16, engine="local" if engine == "local" else "ray",
                    on_progress=lambda p: first.append(time.perf_counter()) if p.done and not first else None)
    ended = time.perf_counter()
    peak = memory.stop()
    if engine != "local":
        import ray

        ray.shutdown()
        if cluster:
            cluster.shutdown()
    first_at = first[0] if first else ended
    return {"engine": engine, "images": run.total, "answered": run.answered, "ray_start_s": round(ray_start_s, 1),
            "first_answer_s": round(first_at - started, 1), "run_s": round(ended - started, 1),
            "images_per_s": round(run.total / (ended - started), 1),
            "images_per_s_after_first": round((run.total - 1) / max(ended - first_at, 1e-9), 1),
            "peak_memory_mb": round(peak)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--_one", nargs=3, metavar=("ENGINE", "FOLDER", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._one:
        print(json.dumps(one(*args._one, args.workers)))
        return
    from batch_bench import LoopbackServer, make_images

    folder = make_images(Path(tempfile.gettempdir()) / f"workbench-ray-bench-{args.images}", args.images)
    server = LoopbackServer(0.05)
    try:
        for engine in args.engines.split(","):
            out = subprocess.run([sys.executable, __file__, "--workers", str(args.workers), "--_one", engine,
                                  str(folder), server.url], capture_output=True, text=True, check=True)
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{engine:12} {figures['images']} images: Ray start {figures['ray_start_s']} s, first answer "
                  f"after {figures['first_answer_s']} s, run {figures['run_s']} s = {figures['images_per_s']} "
                  f"images/s ({figures['images_per_s_after_first']} after the first answer), peak memory "
                  f"{figures['peak_memory_mb']} MB", flush=True)
    finally:
        server.close()
    print(f"ideal: {args.workers} calls in flight / 50 ms = {args.workers / 0.05:.0f} images/s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()

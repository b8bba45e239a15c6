"""Load on ``sonovis serve``: start-up time, memory, and requests/s with p50/p95 latency, on loopback only.

    python benchmarks/serve_speed.py CHECKPOINT --data PREP [--requests 32] [--clients 1,4,16]

Starts its own server on 127.0.0.1 (a free port), sends a fixed number of typed (JSON ``say``) and
uploaded (WAV) queries at each concurrency, stops the server and exits; any failed request fails
the run. Captions come from the prepared gallery, spoken by espeak-ng for the uploads.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psutil

from sonovis.use.serve import Translator, wav_bytes


def post(port: int, body: bytes, kind: str) -> float:
    """One search; its latency in seconds. Raises on anything but 200."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("POST", "/api/search", body=body, headers={"Content-Type": kind})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    if response.status != 200 or not json.loads(data)["matches"]:
        raise RuntimeError(f"{response.status}: {data[:200]!r}")
    return time.perf_counter() - started


def bodies(checkpoint: str, data: str, count: int) -> dict[str, list[tuple[bytes, str]]]:
    """``count`` typed and ``count`` uploaded queries, cycling over the gallery's first captions."""
    translator = Translator.load(checkpoint, data)
    captions = [c[0] for c in translator.gallery.captions][:count]
    typed = [(json.dumps({"say": c, "k": 5}).encode(), "application/json") for c in captions]
    uploaded = []
    for caption in captions:
        boundary = uuid.uuid4().hex
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="q.wav"\r\n'
                f"Content-Type: audio/wav\r\n\r\n").encode()
        uploaded.append((head + wav_bytes(translator.say(caption)) + f"\r\n--{boundary}--\r\n".encode(),
                         f"multipart/form-data; boundary={boundary}"))
    return {"typed": typed, "uploaded": uploaded}


def start(checkpoint: str, data: str) -> tuple[subprocess.Popen, int, float]:
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "sonovis.cli", "serve", checkpoint, "--data", data,
                               "--port", "0"], stdout=subprocess.PIPE, text=True)
    for line in server.stdout:
        found = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        if found:
            break
    else:
        raise SystemExit(f"serve exited with {server.wait()}")
    port = int(found.group(1))
    while True:  # ready = the first health check answered
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.1)
    return server, port, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--data", required=True)
    parser.add_argument("--requests", type=int, default=32, help="per kind and concurrency")
    parser.add_argument("--clients", default="1,4,16")
    args = parser.parse_args()
    queries = bodies(args.checkpoint, args.data, args.requests)
    server, port, startup = start(args.checkpoint, args.data)
    try:
        memory = psutil.Process(server.pid).memory_full_info()
        print(f"start-up {startup:.1f} s to the first health answer; RSS {memory.rss / 2**20:.0f} MB, "
              f"USS {memory.uss / 2**20:.0f} MB (torch's shared libraries are most of RSS)")
        print(f"{'query':9} {'clients':>7} {'requests':>8} {'req/s':>6} {'p50 ms':>7} {'p95 ms':>7} failed")
        for kind, items in queries.items():
            post(port, *items[0])  # warm
            for clients in map(int, args.clients.split(",")):
                work = [items[i % len(items)] for i in range(args.requests)]
                began = time.perf_counter()
                with ThreadPoolExecutor(clients) as pool:
                    futures = [pool.submit(post, port, *item) for item in work]
                latencies, failed = [], 0
                for future in futures:
                    try:
                        latencies.append(future.result())
                    except (RuntimeError, OSError):
                        failed += 1
                wall = time.perf_counter() - began
                cuts = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else latencies * 19
                print(f"{kind:9} {clients:7d} {len(work):8d} {len(latencies) / wall:6.1f} {1000 * cuts[9]:7.0f} "
                      f"{1000 * cuts[18]:7.0f} {failed}")
                if failed:
                    raise SystemExit(f"{failed} {kind} requests failed at {clients} clients")
        memory = psutil.Process(server.pid).memory_full_info()
        print(f"after the load: RSS {memory.rss / 2**20:.0f} MB, USS {memory.uss / 2**20:.0f} MB")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

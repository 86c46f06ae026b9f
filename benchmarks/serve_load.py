"""Bounded loopback load test of ``edt serve``: N concurrent clients (1, 4, 16 by default).

Starts ``edt serve --model DIR`` as a subprocess on a free 127.0.0.1 port, waits for
``/health``, warms it up with one round at the largest concurrency, then for each concurrency
level sends a fixed number of streaming chat requests (each client sends its next request when
its previous answer ends) under a time limit, and
records requests/s, p50/p95 latency, p50/p95 time to first token, errors and the server's peak
RSS (sampled every 50 ms; before and after each level, to see whether it stays flat).

With ``--before REV`` the server of an older commit (its ``src/`` unpacked with ``git archive``
and put first on the server's ``PYTHONPATH``) runs too, alternating with this tree for
``--rounds`` rounds, so that both see the same machine (shared machines drift by tens of per
cent within minutes): per tree and level the median over rounds, and the ratio after/before.

    python benchmarks/serve_load.py                       # the shipped bridge
    python benchmarks/serve_load.py --model DIR --requests 64 --clients 1,4,16
    python benchmarks/serve_load.py --requests 16 --threads 2 --before 64a18d5 --rounds 2
    # -> benchmarks/results/serve_load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from startup import machine as startup_machine  # benchmarks/startup.py, beside this script

RESULTS = Path(__file__).resolve().parent / "results"
SMILES = ("CC(=O)Oc1ccccc1C(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "CC(C)Cc1ccc(cc1)C(C)C(=O)O")
QUESTION = "Which functional groups does this molecule contain?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def quantile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


class RssSampler:
    """Peak resident memory of a process (MB), sampled in a thread."""

    def __init__(self, pid: int, every_s: float = 0.05) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.every_s = every_s
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> float:
        return float(self.proc.memory_info().rss) / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.now())
            except Exception:  # the process ended
                return
            time.sleep(self.every_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


async def one_request(http: Any, model: str, k: int, max_tokens: int) -> dict[str, Any]:
    """One streaming chat request: latency, time to first token, error."""
    body = {
        "model": model,
        "stream": True,
        "max_tokens": max_tokens,
        "molecules": [SMILES[k % len(SMILES)]],
        "messages": [{"role": "user", "content": QUESTION}],
    }
    t0 = time.perf_counter()
    ttft = None
    try:
        async with http.stream("POST", "/v1/chat/completions", json=body) as r:
            if r.status_code != 200:
                await r.aread()
                return {"error": f"HTTP {r.status_code}: {r.text[:200]}"}
            async for line in r.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                data = json.loads(line[6:])
                if "error" in data:
                    return {"error": data["error"]["message"]}
                delta = data["choices"][0]["delta"] if data.get("choices") else {}
                if ttft is None and delta.get("content"):
                    ttft = time.perf_counter() - t0
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"latency_s": time.perf_counter() - t0, "ttft_s": ttft}


async def run_level(
    url: str, model: str, clients: int, requests: int, max_tokens: int, limit_s: float
) -> dict[str, Any]:
    """``requests`` requests from ``clients`` concurrent clients, stopped at ``limit_s``."""
    import httpx

    results: list[dict[str, Any]] = []
    counter = iter(range(requests))
    t0 = time.perf_counter()

    async def client(http: Any) -> None:
        for k in counter:
            if time.perf_counter() - t0 > limit_s:
                return
            results.append(await one_request(http, model, k, max_tokens))

    async with httpx.AsyncClient(base_url=url, timeout=limit_s) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    wall = time.perf_counter() - t0
    ok = [r for r in results if "error" not in r]
    lat = [r["latency_s"] for r in ok]
    ttft = [r["ttft_s"] for r in ok if r["ttft_s"] is not None]
    errors = [r["error"] for r in results if "error" in r]

    def r4(x: float | None) -> float | None:
        return None if x is None else round(x, 4)

    return {
        "clients": clients,
        "requests_sent": len(results),
        "completed": len(ok),
        "errors": len(errors),
        "error_examples": errors[:3],
        "wall_s": round(wall, 3),
        "requests_per_s": round(len(ok) / wall, 3) if wall > 0 else None,
        "latency_p50_s": r4(quantile(lat, 0.5)),
        "latency_p95_s": r4(quantile(lat, 0.95)),
        "ttft_p50_s": r4(quantile(ttft, 0.5)),
        "ttft_p95_s": r4(quantile(ttft, 0.95)),
        "hit_time_limit": len(results) < requests,
    }


def start_server(
    model_dir: str | None, port: int, threads: int | None, name: str, src: Path | None = None
) -> Any:
    """``edt serve`` as a subprocess (``src``: a ``src/`` folder first on its import path)."""
    cmd = [sys.executable, "-m", "edtformer.cli.main", "serve", "--port", str(port), "--name", name]
    if model_dir:
        cmd += ["--model", model_dir]
    if threads:
        cmd += ["--threads", str(threads)]
    env = {**os.environ, "PYTHONPATH": str(src)} if src is not None else None
    return subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )


def wait_healthy(url: str, proc: Any, timeout_s: float) -> float:
    import httpx

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if proc.poll() is not None:
            raise SystemExit(
                f"edt serve exited with {proc.returncode}: {proc.stderr.read()[-2000:]}"
            )
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"edt serve did not answer /health within {timeout_s:.0f} s")


def run(args: argparse.Namespace, src: Path | None = None) -> dict[str, Any]:
    """Start the server (of ``src``, default this tree), warm it up, run every level, stop
    it; the results dict."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    name = "bench"
    proc = start_server(args.model, port, args.threads, name, src)
    try:
        startup = wait_healthy(url, proc, args.startup_timeout)
        with RssSampler(proc.pid) as rss:
            # warm-up at the largest concurrency: the biggest batch's buffers exist before timing
            top = max(args.clients)
            warm = asyncio.run(run_level(url, name, top, top, args.max_tokens, args.time_limit))
            rss_after_warmup = rss.now()
            levels = []
            for n in args.clients:
                level = asyncio.run(
                    run_level(url, name, n, args.requests, args.max_tokens, args.time_limit)
                )
                level["rss_after_mb"] = round(rss.now(), 1)
                levels.append(level)
        return {
            "model": args.model or "default (shipped bridge)",
            "max_tokens": args.max_tokens,
            "requests_per_level": args.requests,
            "time_limit_s": args.time_limit,
            "threads": args.threads,
            "startup_s": round(startup, 2),
            "warmup_errors": warm["errors"],
            "rss_after_warmup_mb": round(rss_after_warmup, 1),
            "rss_peak_mb": round(rss.peak, 1),
            "levels": levels,
            "machine": {
                "cpu_count": os.cpu_count(),
                "platform": platform.platform(),
                "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            },
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """This tree and ``--before``'s, alternating (before first) for ``--rounds`` rounds: the
    after run's fields, plus per level the medians of both trees and their ratio."""
    import statistics
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, however loaded
    from startup import unpack_src

    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        old = unpack_src(args.before, Path(tmp))
        for k in range(args.rounds):
            for tree, src in (("before", old), ("after", None)):
                print(f"round {k + 1}/{args.rounds}: {tree}", file=sys.stderr)
                runs[tree].append(run(args, src))

    def med(tree: str, level: int, key: str) -> float | None:
        xs = [r["levels"][level][key] for r in runs[tree]]
        xs = [x for x in xs if x is not None]  # (no time to first token: nothing streamed)
        return round(statistics.median(xs), 3) if xs else None

    result = dict(runs["after"][-1])
    keys = ("requests_per_s", "latency_p95_s", "ttft_p95_s")
    result["comparison"] = {
        "before": args.before,
        "rounds": args.rounds,
        "levels": [
            {
                "clients": n,
                **{f"{tree}_{key}": med(tree, i, key) for tree in runs for key in keys},
                "requests_per_s_ratio": round(
                    (med("after", i, "requests_per_s") or 0)
                    / (med("before", i, "requests_per_s") or float("nan")),
                    2,
                ),
                "errors": sum(r["levels"][i]["errors"] for t in runs for r in runs[t]),
            }
            for i, n in enumerate(args.clients)
        ],
        "runs": runs,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="model folder (default: the shipped bridge)")
    p.add_argument("--clients", default="1,4,16", help="concurrency levels (1,4,16)")
    p.add_argument("--requests", type=int, default=48, help="requests per level (48)")
    p.add_argument("--max-tokens", type=int, default=32, help="answer length (32)")
    p.add_argument("--time-limit", type=float, default=600, help="seconds per level (600)")
    p.add_argument("--startup-timeout", type=float, default=300, help="seconds to load (300)")
    p.add_argument("--threads", type=int, default=None, help="torch threads of the server")
    p.add_argument("--before", default=None, help="also run this older commit's server")
    p.add_argument("--rounds", type=int, default=2, help="alternations with --before (2)")
    p.add_argument("--out", type=Path, default=RESULTS / "serve_load.json")
    args = p.parse_args(argv)
    args.clients = [int(c) for c in str(args.clients).split(",")]
    if args.requests < 1 or min(args.clients) < 1 or args.rounds < 1:
        raise SystemExit("--requests, --clients and --rounds must be at least 1")
    result = run(args) if args.before is None else compare(args)
    result["cpu"] = startup_machine()  # name and native bf16: machines of one kind differ
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    shown = result["comparison"]["levels"] if "comparison" in result else result["levels"]
    print(json.dumps(shown, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

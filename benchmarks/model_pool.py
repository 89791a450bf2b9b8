"""The model pool under load: 1,000 concurrent streaming requests to 3 simulator replicas.

Usage: .venv/bin/python benchmarks/model_pool.py [--requests 1000]
In one run, side by side: the same load sent straight to the simulators with
the pool's own HTTP code and no pool (the baseline: the difference is what
the pool adds), with the official ``openai`` client (what a user without
interlock would write), through interlock's pool
(``ModelTier.stream``), through the pool as a LangChain chat model
(``PoolChatModel.astream``, what a LangGraph node uses), through the pool with
one replica killed mid-run, and through LiteLLM's Router (the reference peer).
Each variant first runs a short warm-up (connections, imports) that is not
counted. Reports per-request
latency and time to first token (p50/p99), requests/s, success rate, and the
interlock process's CPU time and peak memory; writes results/model_pool.json.
Absolute numbers on a shared 2-core machine are noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import openai
from langchain_core.messages import HumanMessage

from interlock.models import wire
from interlock.models.breaker import BreakerPolicy
from interlock.models.chat_model import PoolChatModel
from interlock.models.tier import ModelTier, RetryPolicy
from interlock.testing.vllm_simulator import SimulatorProcess

RESULTS = Path(__file__).parent / "results" / "model_pool.json"
ROUNDS = 3
PROMPT = "Say something short."


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run(
    name: str,
    one: Callable[[int], Awaitable[tuple[float, float]]],
    n: int,
    during: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    cpu0 = time.process_time()
    began = time.perf_counter()
    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    if during is not None:
        await during()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.perf_counter() - began
    ok = [r for r in results if not isinstance(r, BaseException)]
    errors = [repr(r)[:120] for r in results if isinstance(r, BaseException)]
    latencies = [r[0] * 1000 for r in ok]
    ttfts = [r[1] * 1000 for r in ok]
    return {
        "name": name,
        "requests": n,
        "success_rate": round(len(ok) / n, 4),
        "errors": errors[:3],
        "latency_ms_p50": round(pct(latencies, 0.5), 1),
        "latency_ms_p99": round(pct(latencies, 0.99), 1),
        "ttft_ms_p50": round(pct(ttfts, 0.5), 1),
        "ttft_ms_p99": round(pct(ttfts, 0.99), 1),
        "requests_per_s": round(len(ok) / wall, 1),
        "cpu_s": round(time.process_time() - cpu0, 2),
        "wall_s": round(wall, 2),
    }


async def main(n: int) -> None:
    sims = [SimulatorProcess(replica_id=f"r{i}").start() for i in range(3)]
    urls = [s.openai_url for s in sims]
    try:
        http = httpx.AsyncClient(limits=httpx.Limits(max_connections=None), timeout=60)
        clients = [
            openai.AsyncOpenAI(base_url=u, api_key="x", http_client=http, max_retries=0)
            for u in urls
        ]

        async def direct(i: int) -> tuple[float, float]:
            began = time.perf_counter()
            ttft = 0.0
            stream = await clients[i % 3].chat.completions.create(
                model="sim-model",
                messages=[{"role": "user", "content": PROMPT}],
                stream=True,
                max_tokens=16,
            )
            async for chunk in stream:
                if not ttft and chunk.choices and chunk.choices[0].delta.content:
                    ttft = time.perf_counter() - began
            return time.perf_counter() - began, ttft

        # A connection pool per replica, as the pool has (see ModelTier._clients).
        per_url = {
            u: httpx.AsyncClient(limits=httpx.Limits(max_connections=None), timeout=60)
            for u in urls
        }
        body = wire.request_body(
            [{"role": "user", "content": PROMPT}], model="sim-model", stream=True, max_tokens=16
        )

        async def direct_wire(i: int) -> tuple[float, float]:
            """The pool's own HTTP code without the pool: what the pool itself adds."""
            began = time.perf_counter()
            ttft = 0.0
            url = urls[i % 3]
            async for delta in wire.stream(per_url[url], url, body, timeout_s=60):
                if not ttft and delta.text:
                    ttft = time.perf_counter() - began
            return time.perf_counter() - began, ttft

        def make_pool() -> ModelTier:
            return ModelTier(
                "large",
                urls,
                model="sim-model",
                context_window=4096,
                max_tokens=16,
                strategy="least_connections",
                breaker=BreakerPolicy(failure_threshold=3, cooldown_s=5),
                retry=RetryPolicy(attempt_timeout_s=30, deadline_s=60, max_attempts=4),
            )

        pool = make_pool()

        async def through_pool(i: int) -> tuple[float, float]:
            began = time.perf_counter()
            stream = pool.stream([HumanMessage(content=PROMPT)])
            async for _ in stream:
                pass
            generation = stream.generation
            assert generation is not None
            return time.perf_counter() - began, generation.ttft_s or 0.0

        chat_model = PoolChatModel(tier=pool)

        async def through_chat_model(i: int) -> tuple[float, float]:
            began = time.perf_counter()
            ttft = 0.0
            async for chunk in chat_model.astream([HumanMessage(content=PROMPT)]):
                if not ttft and chunk.content:
                    ttft = time.perf_counter() - began
            return time.perf_counter() - began, ttft

        # A warm-up at full size (1,000 connections opened, caches filled), then
        # rounds alternating between variants so drift on the shared machine hits
        # all alike; each variant reports its median round (by p50 latency).
        warm = n
        variants = (
            ("direct (plain httpx, round robin)", direct_wire),
            ("direct (openai SDK, round robin)", direct),
            ("interlock pool", through_pool),
            ("interlock pool as LangChain chat model", through_chat_model),
        )
        for _, one in variants:
            await run("warm-up", one, warm)
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in variants}
        for _ in range(ROUNDS):
            for name, one in variants:
                rounds[name].append(await run(name, one, n))
        results = []
        for name, _ in variants:
            ordered = sorted(rounds[name], key=lambda r: r["latency_ms_p50"])
            results.append(
                {
                    **ordered[len(ordered) // 2],
                    "rounds": len(ordered),
                    "latency_ms_p50_each_round": [r["latency_ms_p50"] for r in rounds[name]],
                    "cpu_s_each_round": [r["cpu_s"] for r in rounds[name]],
                }
            )
        # Per-call overhead without CPU queueing: one request at a time, pool and
        # direct alternating so drift on the shared machine hits both alike.
        solo_direct: list[float] = []
        solo_pool: list[float] = []
        for i in range(200):
            solo_direct.append((await direct_wire(i))[0] * 1000)
            solo_pool.append((await through_pool(i))[0] * 1000)
        overhead = sorted(p - d for p, d in zip(solo_pool, solo_direct, strict=True))
        sequential = {
            "name": "one at a time, 200 alternating calls",
            "direct_ms_p50": round(pct(solo_direct, 0.5), 2),
            "pool_ms_p50": round(pct(solo_pool, 0.5), 2),
            "added_latency_ms_p50": round(pct(overhead, 0.5), 2),
            "added_latency_ms_p99": round(pct(overhead, 0.99), 2),
        }
        await pool.aclose()
        pool = make_pool()
        await run("warm-up", through_pool, warm)

        async def kill_one() -> None:
            await asyncio.sleep(0.5)
            sims[1].kill()

        results.append(await run("interlock pool, one replica killed", through_pool, n, kill_one))
        await pool.aclose()
        sims[1].restart()

        try:
            from litellm import Router

            router = Router(
                model_list=[
                    {
                        "model_name": "sim",
                        "litellm_params": {
                            "model": "openai/sim-model",
                            "api_base": u,
                            "api_key": "x",
                        },
                    }
                    for u in urls
                ],
                routing_strategy="least-busy",
                num_retries=2,
            )

            async def through_litellm(i: int) -> tuple[float, float]:
                began = time.perf_counter()
                ttft = 0.0
                response = await router.acompletion(
                    model="sim",
                    messages=[{"role": "user", "content": PROMPT}],
                    stream=True,
                    max_tokens=16,
                )
                async for chunk in response:
                    if not ttft and chunk.choices and chunk.choices[0].delta.content:
                        ttft = time.perf_counter() - began
                return time.perf_counter() - began, ttft

            await run("warm-up", through_litellm, warm)
            results.append(await run("litellm router", through_litellm, n))
        except ImportError as exc:
            results.append({"name": "litellm router", "skipped": str(exc)})
        await http.aclose()
        for client in per_url.values():
            await client.aclose()
    finally:
        for sim in sims:
            sim.stop()
    base = results[0]
    for r in results[1:]:
        if "latency_ms_p50" in r:
            r["added_latency_ms_p50"] = round(r["latency_ms_p50"] - base["latency_ms_p50"], 1)
            r["added_latency_ms_p99"] = round(r["latency_ms_p99"] - base["latency_ms_p99"], 1)
            r["added_ttft_ms_p50"] = round(r["ttft_ms_p50"] - base["ttft_ms_p50"], 1)
            r["cpu_ratio_to_direct"] = round(r["cpu_s"] / max(base["cpu_s"], 1e-9), 2)
    by_name = {r["name"]: r for r in results}
    peer = by_name.get("litellm router", {})
    if "requests_per_s" in peer:
        for name in ("interlock pool", "interlock pool as LangChain chat model"):
            by_name[name]["throughput_ratio_to_litellm"] = round(
                by_name[name]["requests_per_s"] / peer["requests_per_s"], 2
            )
    summary = {
        "concurrent_requests": n,
        "replicas": 3,
        "runs": results,
        "sequential": sequential,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    asyncio.run(main(parser.parse_args().requests))

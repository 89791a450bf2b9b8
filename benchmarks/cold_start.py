"""`interlock serve` start-up: cold (empty data folder: ingest the sample docs) vs warm.

Usage: .venv/bin/python benchmarks/cold_start.py
Runs the real command with the embedded model server, side by side in one run,
and writes benchmarks/results/cold_start.json. The time to install (.venv) is
not included: it is dominated by compiling llama.cpp once (pip caches it).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

RESULTS = Path(__file__).parent / "results" / "cold_start.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_and_ask(data: Path) -> dict[str, float]:
    port = free_port()
    env = {
        **os.environ,
        "INTERLOCK_PORT": str(port),
        "INTERLOCK_LANCEDB_URI": str(data / "lancedb"),
        "INTERLOCK_DATA_DIR": str(data),
        "INTERLOCK_REDIS_PREFIX": f"bench-{port}",
    }
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "interlock.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.perf_counter() - began > 300:
                raise RuntimeError("server did not become ready")
            time.sleep(0.1)
        ready = time.perf_counter() - began
        asked = time.perf_counter()
        response = httpx.post(
            f"{url}/v1/agent/invoke",
            json={"question": "Which port does interlock listen on by default?"},
            timeout=120,
        )
        response.raise_for_status()
        first_answer = time.perf_counter() - asked
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    return {"ready_s": round(ready, 2), "first_answer_s": round(first_answer, 2)}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        cold = start_and_ask(data)
        warm = start_and_ask(data)
    result = {
        "command": "interlock serve (embedded llama-server, machine Redis)",
        "cold_start": cold,
        "warm_start": warm,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

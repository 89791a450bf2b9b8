"""HTTP load: 1,000 streaming users against interlock's server, LangGraph's own, and no server.

Usage: .venv/bin/python benchmarks/http_load.py [--users 1000] [--duration 60] [--think 10-30]
       .venv/bin/python benchmarks/http_load.py --users 100 --think 0 --no-agent \
           --out benchmarks/results/http_load_100_users.json   # saturation: the ratio

What one run does, on this machine, every process started and stopped by it:

* 3 vLLM-protocol simulator replicas (``interlock.testing.vllm_simulator``) as the
  large tier: 150 ms to the first token, 20 ms per token; each request asks for
  16-32 tokens (``max_tokens`` drawn per request; the simulator would say 32).
* ``direct``: the client streams chat completions straight from the replicas (round
  robin) — the baseline: what the simulators themselves cost the client.
* ``interlock``: ``uvicorn --factory interlock.server.app:create_app --workers 2``
  serving ``benchmarks/trivial_graph.py:graph`` through its LangGraph-compatible API
  (``POST /runs/stream``, ``stream_mode: ["messages-tuple"]``, as langgraph-sdk
  speaks it); ``interlock pool`` is the same node over interlock's own pool
  (``pool_graph``); ``interlock pool, replica killed`` SIGKILLs one replica mid-run.
* ``langgraph dev``: LangGraph's own server (``langgraph dev``, in-memory runtime, from
  a separate venv: ``benchmarks/.venv-langgraph``, created here on first use — about
  2 minutes of pip) serving the same file with the same client code.
* ``interlock agent``: the full default agent graph (``POST /v1/agent/stream``: guards,
  planner, retrieval, routing, generation, check, fallback, memory) at lower
  concurrency, to show what the whole path costs.

Each user loops — open a streaming run, read it to the end, think, open the next —
until the run's time is up. Thinking (``--think``, default 10-30 s, uniform) is the time a
person takes to read a short answer and type the next question; 1,000 such users offer
~48 runs/s. ``--think 0`` is a closed loop (the next run the moment one ends): it
saturates any server, and measures throughput at saturation (1,000 of them would offer
~1,600 runs/s, more than the simulators alone can stream on this machine: see
results/http_load_1000_closed_loop.json). Users start over ``--ramp`` seconds (default:
the longest think); only runs started after the ramp count. Reported per target: success rate, requests/s, latency and TTFT (first token
with text) p50/p95/p99, the latency/TTFT added over ``direct``, CPU seconds and peak
RSS of every server process, the client's own CPU and event-loop lag, and how much CPU
other processes on the (shared) machine took meanwhile. Writes
``benchmarks/results/http_load.json``.

Auth: the servers run with ``INTERLOCK_AUTH=off`` (no key check per request).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson

from interlock.embedded.process import ChildProcess
from interlock.errors import ServiceUnavailable
from interlock.testing.vllm_simulator import SimulatorProcess, free_loopback_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "http_load.json"
LANGGRAPH_VENV = HERE / ".venv-langgraph"
# What the LangGraph side was measured with; the venv is rebuilt when this changes.
LANGGRAPH_PACKAGES = ("langgraph-cli[inmem]==0.4.40", "langchain-openai==1.7.3")
TTFT_S = 0.15
INTER_TOKEN_S = 0.02
MIN_TOKENS, MAX_TOKENS = 16, 32
MODEL = "sim-model"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The client runs at a higher priority than the servers it loads (when it may: root), so
# its clock readings are not delayed by them: it stands for clients on other machines.
CLIENT_NICE = -5
# A run may take this long (a user waiting longer has given up): one still going then is
# a failure, and the client closes it. Also how long a load phase waits for its last runs.
DRAIN_S = 60.0
KEEPALIVE_S = 3.0


# -- processes ---------------------------------------------------------------------------
def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a live process, from /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants that are alive now."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _proc_stat(int(entry))) is not None:
            parents[int(entry)] = stat[0]
    tree = [root] if root in parents else []
    for pid in tree:
        tree.extend(child for child, parent in parents.items() if parent == pid)
    return tree


def machine_busy_s() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLK_TCK


class Server:
    """A server process tree started by this benchmark (uvicorn + workers, langgraph dev)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path, log: Path):
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log = log
        self.port = free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._child: ChildProcess | None = None

    def start(self, ready_path: str, log_marks: int = 0, timeout_s: float = 300.0) -> Server:
        """Start; ready when ``ready_path`` answers 200 and the log shows ``log_marks``
        "Application startup complete" lines (one per uvicorn worker)."""
        argv = [a.replace("{port}", str(self.port)) for a in self.argv]
        child = ChildProcess(self.name, argv, self.log, env=self.env)
        self._child = child
        client = httpx.Client(timeout=2)

        def ready() -> bool:
            with contextlib.suppress(OSError):
                if self.log.read_text().count("Application startup complete") < log_marks:
                    return False
            with contextlib.suppress(httpx.HTTPError):
                return client.get(self.url + ready_path).status_code == 200
            return False

        began = time.perf_counter()
        with contextlib.chdir(self.cwd):
            try:
                child.start(ready, timeout_s=timeout_s)
            except ServiceUnavailable as exc:
                raise RuntimeError(f"{exc.reason}\n{child.log_tail(40)}") from None
            finally:
                client.close()
        self.startup_s = round(time.perf_counter() - began, 1)
        return self

    @property
    def pid(self) -> int:
        assert self._child is not None and self._child.pid is not None
        return self._child.pid

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop(timeout_s=10)


def describe(pid: int) -> str:
    cmd = _cmdline(pid)
    if "multiprocessing.resource_tracker" in cmd:
        return "resource tracker"
    if "spawn_main" in cmd or "multiprocessing" in cmd:
        return "worker"
    return "main"


class Usage:
    """CPU seconds of processes over a window and their peak RSS (VmHWM: since start)."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.cpu0 = {pid: (_proc_stat(pid) or (0, 0.0))[1] for g in groups.values() for pid in g}
        self.busy0 = machine_busy_s()
        self.began = time.perf_counter()

    def finish(self, own_cpu_s: float) -> dict[str, Any]:
        wall = time.perf_counter() - self.began
        report: dict[str, Any] = {}
        ours = own_cpu_s
        for name, pids in self.groups.items():
            procs: list[dict[str, Any]] = []
            for pid in pids:
                stat = _proc_stat(pid)
                cpu = (stat[1] if stat else self.cpu0[pid]) - self.cpu0[pid]
                ours += cpu
                procs.append(
                    {
                        "pid": pid,
                        "role": describe(pid),
                        "cpu_s": round(cpu, 1),
                        "peak_rss_mb": round(_status_kb(pid, "VmHWM") / 1024, 1),
                        "rss_mb_at_end": round(_status_kb(pid, "VmRSS") / 1024, 1),
                    }
                )
            report[name] = {
                "cpu_s": round(sum(p["cpu_s"] for p in procs), 1),
                "processes": procs,
            }
        busy = machine_busy_s() - self.busy0
        report["machine"] = {
            "wall_s": round(wall, 1),
            "busy_cores": round(busy / wall, 2),
            "busy_cores_outside_benchmark": round(max(0.0, busy - ours) / wall, 2),
            "loadavg_1min_at_end": round(os.getloadavg()[0], 2),
        }
        return report


# -- the client --------------------------------------------------------------------------
@dataclass
class Sample:
    started: float
    ended: float = 0.0
    ttft: float | None = None
    tokens: int = 0
    error: str | None = None


class Failure(Exception):
    pass


async def _sse(resp: aiohttp.ClientResponse) -> Any:
    """(event, data) pairs of a Server-Sent Events body."""
    event, data = b"message", list[bytes]()
    async for raw in resp.content:
        line = raw.rstrip(b"\r\n")
        if not line:
            if data:
                yield event, b"\n".join(data)
            event, data = b"message", []
        elif line.startswith(b"data:"):
            data.append(line[6:] if line[5:6] == b" " else line[5:])
        elif line.startswith(b"event:"):
            event = line[6:].strip()
    if data:
        yield event, b"\n".join(data)


@dataclass
class Target:
    """Where and how the client streams: ``openai`` (a replica), ``langgraph`` or ``agent``."""

    name: str
    kind: str
    urls: list[str]
    assistant_id: str = "trivial"
    turn: int = 0

    def request(self, user: int, n: int, max_tokens: int) -> tuple[str, dict[str, Any]]:
        question = f"User {user}, question {n}: say something short."
        if self.kind == "openai":
            self.turn += 1
            url = self.urls[self.turn % len(self.urls)] + "/chat/completions"
            return url, {
                "model": MODEL,
                "messages": [{"role": "user", "content": question}],
                "stream": True,
                "max_tokens": max_tokens,
            }
        if self.kind == "langgraph":
            return self.urls[0] + "/runs/stream", {
                "assistant_id": self.assistant_id,
                "input": {
                    "messages": [{"role": "user", "content": question}],
                    "max_tokens": max_tokens,
                },
                "stream_mode": ["messages-tuple"],
            }
        return self.urls[0] + "/v1/agent/stream", {
            "question": f"What does the check node do? ({user}-{n})",
            "no_cache": True,
            "user_id": f"bench-{user}",
        }

    async def once(
        self,
        session: aiohttp.ClientSession,
        user: int,
        n: int,
        max_tokens: int,
        into: list[Sample] | None = None,
    ) -> Sample:
        """One streamed run; the sample goes ``into`` the list at its start (so a run still
        unfinished when the benchmark gives up on it is counted, as a failure)."""
        url, body = self.request(user, n, max_tokens)
        sample = Sample(time.perf_counter())
        if into is not None:
            into.append(sample)
        try:
            async with session.post(url, json=body) as resp:
                if resp.status != 200:
                    raise Failure(f"HTTP {resp.status}: {(await resp.text())[:80]}")
                finished = await self._read(resp, sample)
            if not finished:
                raise Failure("stream ended early")
            if self.kind != "agent" and sample.tokens != max_tokens:
                raise Failure(f"incomplete: {sample.tokens} of {max_tokens} tokens")
        except Failure as exc:
            sample.error = str(exc)
        except Exception as exc:  # any failure of one run is a failed run, named
            sample.error = f"{type(exc).__name__}: {str(exc)[:80]}"
        sample.ended = time.perf_counter()
        return sample

    async def _read(self, resp: aiohttp.ClientResponse, sample: Sample) -> bool:
        """Read to the end; True if the stream ended as a complete answer ends."""
        kind = self.kind
        async for event, data in _sse(resp):
            if kind == "openai":
                if data == b"[DONE]":
                    return True
                choices = orjson.loads(data).get("choices")
                text = choices[0]["delta"].get("content") if choices else None
            elif event == b"messages":
                text = orjson.loads(data)[0].get("content")
            elif event == b"token":
                text = orjson.loads(data).get("text")
            elif event == b"error":
                raise Failure(f"error event: {data[:100].decode(errors='replace')}")
            elif event == b"result":
                return True
            else:
                continue
            if text:
                sample.tokens += 1
                if sample.ttft is None:
                    sample.ttft = time.perf_counter() - sample.started
        return kind == "langgraph"  # the LangGraph protocol ends with the body


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


async def _lag_monitor(lags: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        began = time.perf_counter()
        await asyncio.sleep(0.05)
        lags.append(time.perf_counter() - began - 0.05)


async def load(
    target: Target,
    users: int,
    duration_s: float,
    ramp_s: float,
    usage_groups: dict[str, list[int]],
    during: Callable[[float], Awaitable[dict[str, Any]]] | None = None,
    rate: float | None = None,
    think_s: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """``users`` closed-loop streaming users for ``ramp_s`` + ``duration_s``; the summary.

    With ``rate`` (requests/s in all), each user also waits for its next slot
    (one run per ``users / rate`` seconds): the same load at a set request rate.
    With ``think_s`` (low, high), a user reads the answer and types the next
    question for a uniform draw of that many seconds between runs, as people
    at a chat do; without it the next run starts the moment one ends.
    """
    samples: list[Sample] = []
    # Idle connections are dropped before the servers' own keep-alive timeout (uvicorn: 5 s)
    # ends them, or the client would send on a connection the server is closing.
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_S)
    timeout = aiohttp.ClientTimeout(total=DRAIN_S, sock_connect=15)
    session = aiohttp.ClientSession(
        connector=connector, timeout=timeout, read_bufsize=1 << 20, max_line_size=1 << 20
    )
    began = time.perf_counter()
    window0 = began + ramp_s
    window1 = window0 + duration_s

    period = users / rate if rate else 0.0

    async def user(uid: int) -> None:
        rng = random.Random(uid)
        start = began + (rng.uniform(0, period) if period else ramp_s * uid / users)
        if start >= window1:
            return  # paced: this user's first slot falls after the run
        await asyncio.sleep(start - time.perf_counter())
        n = 0
        next_at = time.perf_counter()
        while time.perf_counter() < window1:
            if period:
                await asyncio.sleep(max(0.0, min(next_at, window1) - time.perf_counter()))
                next_at += period
                if time.perf_counter() >= window1:
                    break
            tokens = rng.randint(MIN_TOKENS, MAX_TOKENS)
            sample = await target.once(session, uid, n, tokens, into=samples)
            n += 1
            if think_s:
                await asyncio.sleep(rng.uniform(*think_s))
            elif sample.error:
                await asyncio.sleep(0.05)  # a client backs off a little after a failure

    lags: list[float] = []
    stop = asyncio.Event()
    monitor = asyncio.create_task(_lag_monitor(lags, stop))
    with contextlib.suppress(OSError):  # root only: see CLIENT_NICE
        os.setpriority(os.PRIO_PROCESS, 0, CLIENT_NICE)
    tasks = [asyncio.create_task(user(u)) for u in range(users)]
    await asyncio.sleep(max(0.0, window0 - time.perf_counter()))
    usage = Usage(usage_groups)
    cpu0 = time.process_time()
    extra: dict[str, Any] = {}
    if during is not None:
        extra = await during(window0)
    await asyncio.sleep(max(0.0, window1 - time.perf_counter()))
    resources = usage.finish(time.process_time() - cpu0)  # the window only, not the drain
    resources["client"] = {"cpu_s": round(time.process_time() - cpu0, 1)}
    try:
        await asyncio.wait(tasks, timeout=DRAIN_S + 5)  # runs still open then: failures
    finally:
        for task in tasks:
            task.cancel()
        stop.set()
        await monitor
        await session.close()
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, 0)  # children started later run at 0
    for sample in samples:
        if not sample.ended:
            sample.error, sample.ended = f"unfinished after {DRAIN_S:.0f} s", time.perf_counter()
    in_window = [s for s in samples if window0 <= s.started < window1]
    return summarize(target.name, users, samples, in_window, window0, window1, lags) | {
        "think_s": list(think_s) if think_s else None,
        "resources": resources,
        **extra,
    }


def summarize(
    name: str,
    users: int,
    samples: list[Sample],
    in_window: list[Sample],
    window0: float,
    window1: float,
    lags: list[float],
) -> dict[str, Any]:
    ok = [s for s in in_window if s.error is None]
    errors = Counter(s.error for s in in_window if s.error)
    completed = sum(1 for s in samples if s.error is None and window0 <= s.ended < window1)
    latencies = [s.ended - s.started for s in ok]
    ttfts = [s.ttft for s in ok if s.ttft is not None]
    warm = [s for s in samples if s.started < window0]
    return {
        "name": name,
        "users": users,
        "duration_s": round(window1 - window0, 1),
        "requests": len(in_window),
        "succeeded": len(ok),
        "success_rate": round(len(ok) / len(in_window), 5) if in_window else None,
        "errors": dict(errors.most_common(5)),
        "requests_per_s": round(completed / (window1 - window0), 1),
        "tokens_per_s": round(
            sum(s.tokens for s in samples if s.error is None and window0 <= s.ended < window1)
            / (window1 - window0),
            1,
        ),
        **{f"latency_ms_p{q}": ms(pct(latencies, q / 100)) for q in (50, 95, 99)},
        **{f"ttft_ms_p{q}": ms(pct(ttfts, q / 100)) for q in (50, 95, 99)},
        "latency_ms_max": ms(max(latencies, default=None)),
        "client_loop_lag_ms_p99": ms(pct(lags, 0.99)),
        "warm_up": {"requests": len(warm), "failed": sum(1 for s in warm if s.error)},
    }


async def sequential(target: Target, n: int) -> dict[str, Any]:
    """One request at a time: the latency with no load at all."""
    async with aiohttp.ClientSession(read_bufsize=1 << 20, max_line_size=1 << 20) as session:
        samples = [await target.once(session, 0, i, 24) for i in range(n)]
    ok = [s for s in samples if not s.error]
    return {
        "name": target.name,
        "requests": n,
        "failed": n - len(ok),
        "latency_ms_p50": ms(pct([s.ended - s.started for s in ok], 0.5)),
        "ttft_ms_p50": ms(pct([s.ttft for s in ok if s.ttft is not None], 0.5)),
    }


# -- set-up ------------------------------------------------------------------------------
def ensure_langgraph_venv() -> Path:
    """LangGraph's server in its own venv (its pins must not touch interlock's venv)."""
    marker = LANGGRAPH_VENV / ".http_load-packages"
    wanted = "\n".join(LANGGRAPH_PACKAGES)
    if marker.exists() and marker.read_text() == wanted:
        return LANGGRAPH_VENV / "bin" / "langgraph"
    print(f"creating {LANGGRAPH_VENV} (pip install {' '.join(LANGGRAPH_PACKAGES)}; ~2 min)")
    python = shutil.which("python3") or sys.executable
    subprocess.run([python, "-m", "venv", str(LANGGRAPH_VENV)], check=True)
    pip = [str(LANGGRAPH_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, *LANGGRAPH_PACKAGES], check=True)
    marker.write_text(wanted)
    return LANGGRAPH_VENV / "bin" / "langgraph"


def package_version(python: Path, package: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return out.stdout.strip() or "?"


@dataclass
class Plan:
    users: int
    duration_s: float
    ramp_s: float
    workers: int
    replicas: int
    kill_at_s: float
    agent_users: int
    agent_duration_s: float
    matched_s: float
    langgraph: bool
    kill: bool
    agent: bool
    pool: bool
    out: Path
    think_s: tuple[float, float] | None = None
    results: list[dict[str, Any]] = field(default_factory=list)


@contextlib.contextmanager
def stopping(things: list[Any]) -> Iterator[list[Any]]:
    """Stop everything in ``things`` on the way out, whatever happened (Ctrl-C included)."""
    try:
        yield things
    finally:
        for thing in reversed(things):
            with contextlib.suppress(Exception):
                thing.stop()


def _sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so the finally blocks stop every child


def interlock_env(urls: list[str], tmp: Path, users: int) -> dict[str, str]:
    env = dict(os.environ)
    joined = ",".join(urls)
    graphs = {
        "trivial": str(HERE / "trivial_graph.py") + ":graph",
        "trivial_pool": str(HERE / "trivial_graph.py") + ":pool_graph",
    }
    env.update(
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
        INTERLOCK_AUTH="off",
        INTERLOCK_GRAPHS=json.dumps(graphs),
        INTERLOCK_LARGE_MODEL_URLS=joined,
        INTERLOCK_SMALL_MODEL_URLS=joined,  # the agent's small tier: the same replicas
        INTERLOCK_LARGE_MODEL_NAME=MODEL,
        INTERLOCK_SMALL_MODEL_NAME=MODEL,
        INTERLOCK_REDIS_PREFIX=f"bench-http-load-{os.getpid()}",
        INTERLOCK_THREAD_TTL_S="600",
        INTERLOCK_LANCEDB_URI=str(tmp / "lancedb"),
        INTERLOCK_DATA_DIR=str(tmp / "data"),
        # The server's own back-pressure cap must not shed the benchmark's load.
        INTERLOCK_MAX_INFLIGHT_RUNS=str(users),
    )
    return env


async def run(plan: Plan) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="http-load-"))
    try:
        return await _run(plan, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _run(plan: Plan, tmp: Path) -> dict[str, Any]:
    things: list[Any] = []
    with stopping(things):
        langgraph_bin = ensure_langgraph_venv() if plan.langgraph else None
        sims = []
        for i in range(plan.replicas):
            sim = SimulatorProcess(
                replica_id=f"r{i}",
                ttft_s=TTFT_S,
                inter_token_s=INTER_TOKEN_S,
                output_tokens=MAX_TOKENS,
                max_num_seqs=4096,  # no queueing in the replica: the baseline is the protocol
                log_dir=tmp,
            )
            things.append(sim)
            sims.append(sim.start())
        urls = [s.openai_url for s in sims]
        sim_pids = {"simulators": [s.pid for s in sims if s.pid]}
        print(f"simulators: {', '.join(urls)}")

        env = interlock_env(urls, tmp, plan.users)
        if plan.agent:
            print("ingesting the sample knowledge base for the agent run")
            subprocess.run(
                [sys.executable, "-m", "interlock.cli", "ingest", "--quiet",
                 str(ROOT / "interlock" / "data" / "sample_kb")],
                env=env, check=True, cwd=tmp, stdout=subprocess.DEVNULL,
            )  # fmt: skip
        uvicorn_argv = [
            sys.executable, "-m", "uvicorn", "--factory", "interlock.server.app:create_app",
            "--host", "127.0.0.1", "--port", "{port}", "--workers", str(plan.workers),
            # info: each worker logs its "startup complete" (no access log)
            "--log-level", "info", "--no-access-log",
            # uvicorn's supervisor kills a worker that does not answer its ping within 5 s
            # (the default); a worker saturated by 500 streams on a shared core misses it,
            # and was killed and restarted mid-run (its streams cut, ~70 s to boot again).
            "--timeout-worker-healthcheck", "60",
        ]  # fmt: skip
        interlock = Server("interlock", uvicorn_argv, env, tmp, tmp / "interlock.log")
        things.append(interlock)
        print(f"starting interlock ({plan.workers} uvicorn workers)…")
        interlock.start("/healthz", log_marks=plan.workers)
        print(f"interlock up in {interlock.startup_s}s at {interlock.url}")

        direct = Target("direct (simulators, round robin)", "openai", urls)
        trivial = Target("interlock", "langgraph", [interlock.url])
        pool = Target("interlock pool", "langgraph", [interlock.url], "trivial_pool")
        solo = [await sequential(t, 10) for t in (direct, trivial, pool)]

        def groups(server: Server | None) -> dict[str, list[int]]:
            found = {"server": process_tree(server.pid)} if server else {}
            return found | sim_pids

        results: list[dict[str, Any]] = []

        async def measure(target: Target, server: Server | None, **kw: Any) -> None:
            print(f"-- {target.name}: {kw.get('users', plan.users)} users × "
                  f"{kw.get('duration_s', plan.duration_s)} s"
                  + (f" at {kw['rate']} req/s" if kw.get("rate") else ""))  # fmt: skip
            options = {
                "users": plan.users,
                "duration_s": plan.duration_s,
                "ramp_s": plan.ramp_s,
                "think_s": plan.think_s,
            }
            result = await load(target, usage_groups=groups(server), **(options | kw))
            results.append(result)
            # What is measured so far, in case a later phase fails or is interrupted.
            partial = {"partial": True, "runs": results, "unloaded_one_at_a_time": solo}
            plan.out.parent.mkdir(parents=True, exist_ok=True)
            plan.out.write_text(json.dumps(partial, indent=2) + "\n")
            print(_line(result))

        await measure(direct, None)
        await measure(trivial, interlock)
        if plan.pool:
            await measure(pool, interlock)
        lg_server = None
        if langgraph_bin is not None:
            lg_server = start_langgraph(langgraph_bin, urls, tmp, plan.users)
            things.append(lg_server)
            lg = Target("langgraph dev", "langgraph", [lg_server.url])
            solo.append(await sequential(lg, 10))
            await measure(lg, lg_server)
            lg_server.stop()
        # The baseline at each server's own request rate: what the simulators cost the
        # client at that load (the closed-loop direct run loads them far more).
        for name in ("interlock", "langgraph dev"):
            done = next((r for r in results if r["name"] == name), None)
            if done and done["requests_per_s"] > 0:
                same = Target(f"direct at the {name} rate", "openai", urls)
                await measure(
                    same,
                    None,
                    rate=done["requests_per_s"],
                    duration_s=plan.matched_s,
                    think_s=None,
                    ramp_s=5.0,
                )
        if plan.kill:
            victim = sims[1]

            async def kill(window0: float) -> dict[str, Any]:
                await asyncio.sleep(max(0.0, window0 + plan.kill_at_s - time.perf_counter()))
                victim.kill()
                print(f"   killed replica {victim.config.replica_id} (SIGKILL)")
                return {"killed": {"replica": victim.openai_url, "at_s": plan.kill_at_s}}

            killed = Target("interlock pool, replica killed", "langgraph", [interlock.url])
            killed.assistant_id = "trivial_pool"
            await measure(killed, interlock, during=kill)
            victim.start()
        if plan.agent:
            await asyncio.sleep(6)  # the restarted replica's breakers close again
            agent = Target("interlock agent (full default graph)", "agent", [interlock.url])
            calls0 = sum(s.stats()["requests"] for s in sims)
            await measure(
                agent,
                interlock,
                users=plan.agent_users,
                duration_s=plan.agent_duration_s,
                think_s=None,  # closed loop: what the whole path costs at saturation
                ramp_s=5.0,
            )
            calls = sum(s.stats()["requests"] for s in sims) - calls0
            done = results[-1]["requests"] + results[-1]["warm_up"]["requests"]
            results[-1]["model_calls_per_run"] = round(calls / max(done, 1), 2)
        interlock_versions = {
            "langgraph": package_version(Path(sys.executable), "langgraph"),
            "uvicorn": package_version(Path(sys.executable), "uvicorn"),
        }
        lg_python = LANGGRAPH_VENV / "bin" / "python"
        lg_versions = (
            {p: package_version(lg_python, p) for p in ("langgraph-api", "langgraph", "uvicorn")}
            if langgraph_bin
            else {}
        )
        startup = {"interlock": interlock.startup_s}
        if lg_server is not None:
            startup["langgraph dev"] = lg_server.startup_s
    return report(plan, results, solo, startup, interlock_versions, lg_versions)


def start_langgraph(binary: Path, urls: list[str], tmp: Path, users: int) -> Server:
    """``langgraph dev`` serving the same trivial graph (one process: its in-memory runtime)."""
    folder = tmp / "langgraph"
    folder.mkdir()
    config = {
        "dependencies": ["."],
        "graphs": {"trivial": str(HERE / "trivial_graph.py") + ":graph"},
        "disable_persistence": True,
    }
    (folder / "langgraph.json").write_text(json.dumps(config))
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(
        INTERLOCK_LARGE_MODEL_URLS=",".join(urls),
        INTERLOCK_LARGE_MODEL_NAME=MODEL,
        LANGGRAPH_NO_VERSION_CHECK="true",
        LOG_LEVEL="WARNING",  # interlock logs at warning too; info logs every model call
        LANGSMITH_TRACING="false",
    )
    # --allow-blocking: no blockbuster (dev mode's detector of blocking calls, which wraps
    # every patched call); the graph makes none. Its best case, closer to production.
    argv = [
        str(binary), "dev", "--no-browser", "--no-reload", "--port", "{port}",
        "--config", "langgraph.json", "--n-jobs-per-worker", str(users),
        "--server-log-level", "WARNING", "--allow-blocking",
    ]  # fmt: skip
    server = Server("langgraph dev", argv, env, folder, tmp / "langgraph.log")
    print(f"starting langgraph dev (--n-jobs-per-worker {users})…")
    server.start("/ok")
    print(f"langgraph dev up in {server.startup_s}s at {server.url}")
    return server


def _line(r: dict[str, Any]) -> str:
    server = r["resources"].get("server", {})
    return (
        f"   ok {r['success_rate']:.2%} of {r['requests']}  {r['requests_per_s']} req/s  "
        f"latency p50/p95/p99 {r['latency_ms_p50']}/{r['latency_ms_p95']}/"
        f"{r['latency_ms_p99']} ms  ttft p50/p99 {r['ttft_ms_p50']}/{r['ttft_ms_p99']} ms  "
        f"server cpu {server.get('cpu_s', '-')} s  errors {r['errors'] or '-'}"
    )


def derive(results: list[dict[str, Any]], solo: list[dict[str, Any]]) -> dict[str, Any]:
    """Fill in what the runs imply (added latency, CPU per run); the comparison to LangGraph."""
    by_name = {r["name"]: r for r in results}
    for r in results:
        if r["name"].startswith("direct"):
            continue
        # Added over the simulators at the same load: the direct run at this server's
        # rate (interlock's for its pool and kill runs), else the closed-loop direct run.
        server = "langgraph dev" if r["name"] == "langgraph dev" else "interlock"
        base = by_name.get(f"direct at the {server} rate", results[0])
        r["added_over"] = base["name"]
        for key in ("latency_ms_p50", "latency_ms_p95", "latency_ms_p99", "ttft_ms_p50",
                    "ttft_ms_p95", "ttft_ms_p99"):  # fmt: skip
            if r.get(key) is not None and base.get(key) is not None:
                r["added_" + key] = round(r[key] - base[key], 1)
        # Server CPU over the window per run completed in it (runs that timed out cost
        # CPU too, so under overload this is more than one run's own cost).
        cpu = r["resources"].get("server", {}).get("cpu_s")
        done = r["requests_per_s"] * r["duration_s"]
        r["server_cpu_ms_per_completed_run"] = round(1000 * cpu / done, 1) if cpu and done else None
    comparison: dict[str, Any] = {}
    peer = by_name.get("langgraph dev")
    alone = {s["name"]: s for s in solo}
    for name in ("interlock", "interlock pool"):
        if peer is None or name not in by_name or not peer["requests_per_s"]:
            continue
        mine = by_name[name]
        cpu, peer_cpu = (x.get("server_cpu_ms_per_completed_run") for x in (mine, peer))
        comparison[name] = {
            "throughput_ratio_to_langgraph_dev": round(
                mine["requests_per_s"] / peer["requests_per_s"], 2
            ),
            "server_cpu_per_completed_run_ratio": round(cpu / peer_cpu, 2)
            if cpu and peer_cpu
            else None,
        }
    ref = alone.get("direct (simulators, round robin)")
    if ref and ref["latency_ms_p50"] is not None:
        comparison["one_at_a_time_added_ms_p50"] = {
            n: {
                "latency": round(x["latency_ms_p50"] - ref["latency_ms_p50"], 1),
                "ttft": round(x["ttft_ms_p50"] - ref["ttft_ms_p50"], 1),
            }
            for n, x in alone.items()
            if n != ref["name"] and x["latency_ms_p50"] is not None
        }
    return comparison


CAVEATS = [
    "One 2-core machine shared with other engineers' jobs: resources.machine."
    "busy_cores_outside_benchmark says how much of it they took during each run; the "
    "client, the 3 simulators and the server under test shared the rest.",
    "Linux schedules by autogroup (one per session): interlock's 2 uvicorn workers share "
    "one group, as langgraph dev's single process has one, so while other jobs compete "
    "the 2 workers get about the CPU share of one process.",
    "langgraph dev runs one process (its in-memory runtime keeps runs and the queue in "
    "that process; the CLI has no workers option); run with --n-jobs-per-worker = users "
    "(default 10 would cap it at 10 concurrent runs), --allow-blocking (no blockbuster "
    "checks) and LOG_LEVEL=WARNING. Its queue polls for new runs every 0.5 s when idle.",
    "Both servers run uvicorn with uvloop and httptools (interlock depends on both since "
    "5044255; langgraph-api ships them).",
    "INTERLOCK_MAX_INFLIGHT_RUNS is set to the user count so that back-pressure does not "
    "shed the benchmark's own load; INTERLOCK_AUTH=off.",
]


def notes(results: list[dict[str, Any]]) -> list[str]:
    """What was not met, read off the runs; then the caveats of this set-up."""
    found = []
    for r in results:
        rate = r["success_rate"]
        if rate is not None and rate < 0.999:
            errors = ", ".join(f"{n}x {e[:60]}" for e, n in list(r["errors"].items())[:3])
            found.append(
                f"{r['name']} ({r['users']} users): success {rate:.2%}, below the 99.9% "
                f"target ({errors})"
            )
        if r["requests_per_s"] == 0 and not r["name"].startswith("direct"):
            found.append(f"{r['name']}: no run completed inside the window")
    return found + CAVEATS


def report(
    plan: Plan,
    results: list[dict[str, Any]],
    solo: list[dict[str, Any]],
    startup: dict[str, float],
    interlock_versions: dict[str, str],
    lg_versions: dict[str, str],
) -> dict[str, Any]:
    comparison = derive(results, solo)
    return {
        "config": {
            "users": plan.users,
            "duration_s": plan.duration_s,
            "ramp_s": plan.ramp_s,
            "interlock_uvicorn_workers": plan.workers,
            "langgraph_dev_processes": 1,
            "replicas": plan.replicas,
            "simulator_ttft_ms": TTFT_S * 1000,
            "simulator_inter_token_ms": INTER_TOKEN_S * 1000,
            "output_tokens_per_request": f"{MIN_TOKENS}-{MAX_TOKENS} (uniform, max_tokens)",
            "kill_at_s": plan.kill_at_s if plan.kill else None,
            "agent_users": plan.agent_users if plan.agent else None,
            "agent_duration_s": plan.agent_duration_s if plan.agent else None,
            "auth": "INTERLOCK_AUTH=off",
            "client": "one asyncio process, aiohttp; each user: a run, read to its end, then "
            + (
                f"{plan.think_s[0]:g}-{plan.think_s[1]:g} s of thinking (uniform), the next run"
                if plan.think_s
                else "the next run at once (closed loop)"
            )
            + "; the agent run and the same-rate baselines never think",
            "think_s": list(plan.think_s) if plan.think_s else None,
            "ttft": "time to the first streamed event carrying text",
            "machine_cores": os.cpu_count(),
            "machine": platform.platform(),
            "python": platform.python_version(),
            "interlock_side": interlock_versions,
            "langgraph_side": lg_versions,
            "startup_s": startup,
        },
        "unloaded_one_at_a_time": solo,
        "runs": results,
        "comparison": comparison,
        "notes": notes(results),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> None:
    import interlock

    if not Path(interlock.__file__).resolve().is_relative_to(ROOT):
        print(f"warning: interlock is imported from {interlock.__file__}, not {ROOT}; "
              f"run with PYTHONPATH={ROOT}")  # fmt: skip
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured per run")
    parser.add_argument(
        "--ramp", type=float, help="seconds to start all users (default: 5, or the longest think)"
    )
    parser.add_argument(
        "--think",
        default="10-30",
        help="seconds a user waits between runs, LOW-HIGH (uniform), or 0 for none",
    )
    parser.add_argument("--workers", type=int, default=2, help="interlock's uvicorn workers")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--kill-at", type=float, default=20.0, help="seconds into the kill run")
    parser.add_argument("--agent-users", type=int, default=50)
    parser.add_argument("--agent-duration", type=float, default=30.0)
    parser.add_argument(
        "--matched-duration", type=float, default=15.0, help="seconds of each same-rate baseline"
    )
    parser.add_argument("--no-langgraph", action="store_true")
    parser.add_argument("--no-kill", action="store_true")
    parser.add_argument("--no-agent", action="store_true")
    parser.add_argument("--no-pool", action="store_true", help="skip the pool run (no kill)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    think = None if args.think in ("0", "") else tuple(float(x) for x in args.think.split("-"))
    if think is not None and (len(think) != 2 or not 0 <= think[0] <= think[1]):
        parser.error("--think is LOW-HIGH in seconds, e.g. 10-30, or 0")
    plan = Plan(
        users=args.users,
        duration_s=args.duration,
        ramp_s=args.ramp if args.ramp is not None else (think[1] if think else 5.0),
        think_s=think,  # type: ignore[arg-type]
        workers=args.workers,
        replicas=args.replicas,
        kill_at_s=args.kill_at,
        agent_users=args.agent_users,
        agent_duration_s=args.agent_duration,
        matched_s=args.matched_duration,
        langgraph=not args.no_langgraph,
        kill=not args.no_kill,
        agent=not args.no_agent,
        pool=not args.no_pool,
        out=args.out,
    )
    signal.signal(signal.SIGTERM, _sigterm)
    began = time.perf_counter()
    try:
        summary = asyncio.run(run(plan))
    except KeyboardInterrupt:
        sys.exit("interrupted: every process this benchmark started has been stopped")
    summary["config"]["wall_s"] = round(time.perf_counter() - began, 1)
    plan.out.parent.mkdir(parents=True, exist_ok=True)
    plan.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"wrote {plan.out}")


if __name__ == "__main__":
    main()

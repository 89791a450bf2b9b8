"""API keys, tenants, rate limits, budgets and backpressure over real HTTP.

Two `interlock serve` processes share one Redis, as two API replicas behind
a load balancer would: a limit must hold across both, a revocation must
reach both at once, and a conversation begun on one continues on the other.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from interlock.embedded.model_server import LlamaServer
from interlock.testing.vllm_simulator import SimulatorProcess
from tests.e2e.servers import ServerProcess, drop_prefix, interlock_env

# Prices for the embedded model, so that runs cost something a budget can run out of.
PRICED = {
    "INTERLOCK_SMALL_COST_PER_1K_INPUT": "1.0",
    "INTERLOCK_SMALL_COST_PER_1K_OUTPUT": "2.0",
    "INTERLOCK_LARGE_COST_PER_1K_INPUT": "1.0",
    "INTERLOCK_LARGE_COST_PER_1K_OUTPUT": "2.0",
}


@pytest.fixture(scope="module")
def shared_env(
    redis_url: str, llama: LlamaServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    folder = tmp_path_factory.mktemp("auth")
    yield {
        "INTERLOCK_AUTH": "api_keys",
        **interlock_env(redis_url, prefix, folder, llama.openai_url),
        "INTERLOCK_SEMANTIC_CACHE_THRESHOLD": "0",
        # Short answers: these tests are about admission, not about what is said.
        "INTERLOCK_MAX_ANSWER_TOKENS": "48",
        **PRICED,
    }
    drop_prefix(redis_url, prefix)


@pytest.fixture(scope="module")
def pair(
    shared_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    logs = tmp_path_factory.mktemp("auth-logs")
    one = ServerProcess(shared_env, logs / "one.log").start()
    two = ServerProcess(shared_env, logs / "two.log").start()
    yield one, two
    one.stop()
    two.stop()


def keys_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "interlock.cli", "keys", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def new_key(env: dict[str, str], tenant: str, *flags: str) -> tuple[str, str]:
    """(secret, key id) of a key made by the admin CLI."""
    done = keys_cli(env, "create", "--tenant", tenant, *flags)
    assert done.returncode == 0, done.stderr
    match = re.search(r"key \(shown once, store it now\): (ilk_([0-9a-f]+)_\S+)", done.stdout)
    assert match, done.stdout
    return match.group(1), match.group(2)


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def ask(url: str, key: str, **body: object) -> httpx.Response:
    return httpx.post(f"{url}/v1/agent/invoke", json=body, headers=auth(key), timeout=120)


def test_keys_are_required_checked_and_revoked_on_every_replica(
    shared_env: dict[str, str], pair: tuple[ServerProcess, ServerProcess]
) -> None:
    one, two = pair
    nobody = httpx.post(f"{one.url}/v1/agent/invoke", json={"question": "hi"})
    assert nobody.status_code == 401 and "no API key" in nobody.json()["error"]["reason"]
    wrong = httpx.get(f"{one.url}/v1/models", headers=auth("ilk_0123456789abcdef_" + "x" * 43))
    assert wrong.status_code == 401 and "unknown API key" in wrong.json()["error"]["reason"]

    key, key_id = new_key(shared_env, "acme", "--scopes", "runs", "--name", "ci")
    # langgraph-sdk sends x-api-key; OpenAI clients send Authorization: Bearer.
    assert httpx.get(f"{two.url}/v1/models", headers={"x-api-key": key}).status_code == 200
    listed = keys_cli(shared_env, "list", "--tenant", "acme")
    assert key_id in listed.stdout and key.split("_", 2)[2] not in listed.stdout
    scoped = httpx.get(f"{one.url}/v1/knowledge/sources", headers=auth(key))
    assert scoped.status_code == 403 and "'knowledge' scope" in scoped.json()["error"]["reason"]

    assert keys_cli(shared_env, "revoke", key_id).returncode == 0
    for server in pair:
        revoked = httpx.get(f"{server.url}/v1/models", headers=auth(key))
        assert revoked.status_code == 403 and "revoked" in revoked.json()["error"]["reason"]
    bad = keys_cli(shared_env, "create", "--tenant", "acme", "--scopes", "root")
    assert bad.returncode == 2 and "unknown scope" in bad.stderr and "Traceback" not in bad.stderr


def test_a_rate_limit_is_exact_across_two_replicas(
    shared_env: dict[str, str], pair: tuple[ServerProcess, ServerProcess]
) -> None:
    key, _ = new_key(shared_env, "acme", "--rpm", "6")
    statuses = []
    for i in range(12):
        server = pair[i % 2]
        response = httpx.get(f"{server.url}/v1/models", headers=auth(key))
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert 1 <= int(response.headers["retry-after"]) <= 60
            assert "6 requests per minute" in response.json()["error"]["reason"]
    assert statuses.count(200) == 6 and statuses.count(429) == 6, statuses


def test_tenants_never_see_each_others_documents_memories_or_conversations(
    shared_env: dict[str, str], pair: tuple[ServerProcess, ServerProcess]
) -> None:
    one, two = pair
    scopes = ("--scopes", "runs,threads,knowledge,users")
    acme, _ = new_key(shared_env, "acme", *scopes)
    globex, _ = new_key(shared_env, "globex", *scopes)
    doc = {
        "source": "zephyr.md",
        "content": "# Project Zephyr\n\nThe launch code of Project Zephyr is 7421.\n",
    }
    added = httpx.post(
        f"{one.url}/v1/knowledge/documents", json={"documents": [doc]}, headers=auth(acme)
    )
    assert added.status_code == 200, added.text
    assert "zephyr.md" in httpx.get(f"{two.url}/v1/knowledge/sources", headers=auth(acme)).json()
    assert httpx.get(f"{two.url}/v1/knowledge/sources", headers=auth(globex)).json() == {}
    gone = httpx.delete(f"{two.url}/v1/knowledge/sources/zephyr.md", headers=auth(globex))
    assert gone.status_code == 404

    question = "What is the launch code of Project Zephyr?"
    mine = ask(one.url, acme, question=question, user_id="alice")
    assert mine.status_code == 200, mine.text
    assert [c["source"] for c in mine.json()["citations"]] == ["zephyr.md"]
    theirs = ask(two.url, globex, question=question, user_id="alice")
    assert theirs.status_code == 200
    assert "zephyr.md" not in [c["source"] for c in theirs.json()["citations"]]
    # Naming another tenant in the body is refused, not honoured.
    other = ask(two.url, globex, question=question, tenant="acme")
    assert other.status_code == 403 and "acts for tenant 'globex'" in other.text

    # A conversation begun on one replica continues on the other.
    thread = mine.json()["thread_id"]
    more = ask(two.url, acme, question="And who runs it?", thread_id=thread, user_id="alice")
    assert more.status_code == 200, more.text
    assert more.json()["thread_id"] == thread
    # The other tenant's "alice" is a different user: forgetting her leaves acme's alice.
    forgot = httpx.delete(f"{one.url}/v1/users/alice", headers=auth(globex))
    assert forgot.status_code == 200 and forgot.json()["threads"] == 1
    history = httpx.get(f"{one.url}/v1/threads/{thread}", headers=auth(acme))
    assert history.status_code == 200 and len(history.json()["messages"]) == 4


def test_budgets_token_limits_and_run_caps_stop_runs_with_a_reason(
    shared_env: dict[str, str], pair: tuple[ServerProcess, ServerProcess]
) -> None:
    one, two = pair
    key, key_id = new_key(shared_env, "acme", "--budget-day", "3")
    first = ask(one.url, key, question="What is interlock?", no_cache=True)
    assert first.status_code == 200, first.text
    cost = first.json()["usage"]["cost"]
    assert cost > 0
    client = redis.Redis.from_url(shared_env["INTERLOCK_REDIS_URL"])
    day = time.strftime("%Y%m%d", time.gmtime())
    spent = client.get(f"{shared_env['INTERLOCK_REDIS_PREFIX']}:spend:{key_id}:day:{day}")
    assert float(spent or 0) == pytest.approx(cost)  # charged by the replica that ran it
    client.incrbyfloat(f"{shared_env['INTERLOCK_REDIS_PREFIX']}:spend:{key_id}:day:{day}", 3)
    second = ask(two.url, key, question="What does the planner do?", no_cache=True)
    assert second.status_code == 402, second.text
    assert "budget of 3 per day is spent" in second.json()["error"]["reason"]

    key, _ = new_key(shared_env, "acme", "--tpm", "10")
    assert ask(one.url, key, question="What is interlock?", no_cache=True).status_code == 200
    limited = ask(two.url, key, question="What is interlock?", no_cache=True)
    assert limited.status_code == 429 and "token limit of 10" in limited.json()["error"]["reason"]
    assert int(limited.headers["retry-after"]) >= 1

    key, _ = new_key(shared_env, "acme", "--max-run-tokens", "40")
    capped = ask(one.url, key, question="What is interlock?", no_cache=True)
    assert capped.status_code == 402, capped.text
    assert "run's cap (max_tokens 40)" in capped.json()["error"]["reason"]


@pytest.fixture
def slow_model() -> Iterator[SimulatorProcess]:
    """A replica that takes ~8 s per answer (160 tokens at 50 ms), so runs stay in flight.

    It writes a token every 50 ms, so it notices at once when interlock hangs up
    (as vLLM does, it aborts the request and frees the slot).
    """
    box: list[SimulatorProcess] = []
    # Started from a long-lived thread: the simulator dies with its starting thread.
    ready = threading.Event()
    stop = threading.Event()

    def hold() -> None:
        with SimulatorProcess(
            ttft_s=0.1, inter_token_s=0.05, output_tokens=400, replica_id="slow"
        ) as sim:
            box.append(sim)
            ready.set()
            stop.wait()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert ready.wait(30)
    yield box[0]
    stop.set()
    thread.join(10)


def running(sim: SimulatorProcess) -> int:
    text = httpx.get(f"{sim.url}/metrics").text
    line = next(x for x in text.splitlines() if x.startswith("vllm:num_requests_running"))
    return int(float(line.rsplit(" ", 1)[1]))


def wait_for(predicate: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_backpressure_cors_and_disconnects_free_the_model(
    redis_url: str, prefix: str, slow_model: SimulatorProcess, tmp_path: Path
) -> None:
    env = {
        "INTERLOCK_REDIS_URL": redis_url,
        "INTERLOCK_REDIS_PREFIX": prefix,
        "INTERLOCK_LANCEDB_URI": str(tmp_path / "lancedb"),
        "INTERLOCK_DATA_DIR": str(tmp_path / "data"),
        "INTERLOCK_SMALL_MODEL_URLS": slow_model.openai_url,
        "INTERLOCK_LARGE_MODEL_URLS": slow_model.openai_url,
        "INTERLOCK_SMALL_MODEL_NAME": "sim-model",
        "INTERLOCK_LARGE_MODEL_NAME": "sim-model",
        "INTERLOCK_MAX_INFLIGHT_RUNS": "2",
        "INTERLOCK_CORS_ORIGINS": "https://chat.example.com",
        "INTERLOCK_SEMANTIC_CACHE_THRESHOLD": "0",
    }
    server = ServerProcess(env, tmp_path / "server.log").start()
    try:
        preflight = httpx.options(
            f"{server.url}/v1/agent/invoke",
            headers={
                "origin": "https://chat.example.com",
                "access-control-request-method": "POST",
            },
        )
        assert preflight.headers["access-control-allow-origin"] == "https://chat.example.com"

        body = {"question": "What is interlock?", "no_cache": True}
        streams = [httpx.Client(timeout=30) for _ in range(2)]
        opened = [
            c.send(c.build_request("POST", f"{server.url}/v1/agent/stream", json=body), stream=True)
            for c in streams
        ]
        assert all(r.status_code == 200 for r in opened)
        assert wait_for(lambda: running(slow_model) == 2, 20), "both runs reach the model"
        busy = httpx.post(f"{server.url}/v1/agent/invoke", json=body, timeout=30)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert "INTERLOCK_MAX_INFLIGHT_RUNS" in busy.json()["error"]["reason"]

        # Closing the streams cancels both runs and frees the model's slots.
        for response, client in zip(opened, streams, strict=True):
            response.close()
            client.close()
        assert wait_for(lambda: running(slow_model) == 0, 3), "runs cancelled on disconnect"

        # A plain invoke whose client gives up is cancelled too.
        gave_up: list[BaseException] = []

        def impatient() -> None:
            try:
                httpx.post(f"{server.url}/v1/agent/invoke", json=body, timeout=2.5)
            except httpx.ReadTimeout as exc:
                gave_up.append(exc)

        caller = threading.Thread(target=impatient)
        caller.start()
        assert wait_for(lambda: running(slow_model) == 1, 2.4), "the run reaches the model"
        caller.join(10)
        assert gave_up, "the client timed out before the ~8 s answer"
        assert wait_for(lambda: running(slow_model) == 0, 3), "invoke cancelled on disconnect"
        # And the slots are free again for the next caller.
        again = httpx.post(f"{server.url}/v1/agent/invoke", json=body, timeout=30)
        assert again.status_code == 200, again.text
    finally:
        server.stop()
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log, log[-3000:]

"""The HTTP agent endpoint, driven over real HTTP against `interlock serve` processes."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx_sse
import openai
import pytest

from interlock.embedded.model_server import LlamaServer
from tests.e2e.servers import ServerProcess, drop_prefix, interlock_env
from tests.fixtures.make_pdf import pdf_bytes


@pytest.fixture
def server_env(redis_url: str, prefix: str, llama: LlamaServer, tmp_path: Path) -> dict[str, str]:
    return interlock_env(redis_url, prefix, tmp_path, llama.openai_url)


@pytest.fixture(scope="module")
def server(
    redis_url: str, llama: LlamaServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server for the tests that need no environment of their own: starting one costs
    ~25 s (they use distinct threads, users and documents, so they do not collide)."""
    tmp = tmp_path_factory.mktemp("http-api")
    prefix = f"test-http-{uuid.uuid4().hex[:12]}"
    proc = ServerProcess(
        interlock_env(redis_url, prefix, tmp, llama.openai_url), tmp / "server.log"
    ).start()
    yield proc
    proc.stop()
    drop_prefix(redis_url, prefix)


def invoke(url: str, **body: object) -> httpx.Response:
    return httpx.post(f"{url}/v1/agent/invoke", json=body, timeout=120)


def test_invoke_answers_with_citations_and_metadata(server: ServerProcess) -> None:
    response = invoke(server.url, question="Which port does interlock listen on by default?")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"] and body["thread_id"]
    assert body["citations"] and body["citations"][0]["source"].startswith("sample_kb/")
    assert body["route"]["tier"] in ("small", "large") and body["route"]["reason"]
    assert "generate" in body["timings_ms"]
    assert httpx.get(f"{server.url}/readyz").json()["ready"] is True


def test_bad_input_gets_4xx_with_a_reason(server: ServerProcess) -> None:
    url = server.url
    empty = invoke(url, question="  ")
    assert empty.status_code == 422 and "empty" in empty.json()["error"]["reason"]
    missing = invoke(url)
    assert missing.status_code == 422 and "question" in missing.json()["error"]["reason"]
    huge = invoke(url, question="x" * 1_000_000)
    assert huge.status_code == 413 and "INTERLOCK_MAX_BODY_BYTES" in huge.json()["error"]["reason"]
    long = invoke(url, question="x" * 9000)
    assert (
        long.status_code == 413 and "INTERLOCK_MAX_QUESTION_CHARS" in long.json()["error"]["reason"]
    )
    bad_utf8 = httpx.post(
        f"{url}/v1/agent/invoke",
        content=b'{"question": "caf\xe9"}',
        headers={"content-type": "application/json"},
    )
    assert 400 <= bad_utf8.status_code < 500 and bad_utf8.json()["error"]["reason"]
    not_json = httpx.post(
        f"{url}/v1/agent/invoke", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422 and "JSON" in not_json.json()["error"]["reason"]
    negative_cost = invoke(url, question="hello", max_cost=-1)
    assert (
        negative_cost.status_code == 422 and "max_cost" in negative_cost.json()["error"]["reason"]
    )
    zero_latency = invoke(url, question="hello", max_latency_ms=0)
    assert zero_latency.status_code == 422
    assert "max_latency_ms" in zero_latency.json()["error"]["reason"]
    bad_schema = invoke(url, question="hello", response_schema={"type": "objekt"})
    assert bad_schema.status_code == 422
    assert "not a valid JSON Schema" in bad_schema.json()["error"]["reason"]
    unknown = invoke(url, question="hello", thread_id="does-not-exist")
    assert unknown.status_code == 404 and "does not exist" in unknown.json()["error"]["reason"]
    assert httpx.get(f"{url}/v1/threads/does-not-exist").status_code == 404
    for response in (empty, missing, huge, long, bad_utf8, not_json, unknown):
        assert "Traceback" not in response.text


def test_a_conversation_continues_on_a_process_that_never_saw_it(server: ServerProcess) -> None:
    """A second process on the same Redis and LanceDB, as after a restart or on another
    replica: the thread comes back from storage alone. (The shared server is the first
    process, which saves a ~25 s start; tests/integration/test_agent.py restarts in-process.)"""
    one = invoke(server.url, question="What is interlock?").json()
    assert server.proc is not None
    second = ServerProcess(server.env, server.log.with_name("second.log")).start()
    try:
        two = invoke(second.url, question="What does the planner do?", thread_id=one["thread_id"])
        assert two.status_code == 200, two.text
        thread = httpx.get(f"{second.url}/v1/threads/{one['thread_id']}").json()
    finally:
        second.stop()
    roles = [m["role"] for m in thread["messages"]]
    assert roles == ["human", "ai", "human", "ai"]
    assert thread["messages"][0]["content"] == "What is interlock?"


def test_redis_down_and_model_down_are_503_naming_the_components(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    """One process with both down (a start costs ~25 s); tests/integration/test_agent.py
    checks each failure alone, this checks what HTTP makes of them."""
    env = {
        **server_env,
        "INTERLOCK_SMALL_MODEL_URLS": "http://127.0.0.1:9/v1",
        "INTERLOCK_LARGE_MODEL_URLS": "http://127.0.0.1:9/v1",
        "INTERLOCK_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    proc = ServerProcess(env, tmp_path / "down.log").start()
    try:
        response = invoke(proc.url, question="What is interlock?")
        assert response.status_code == 503, response.text
        reason = response.json()["error"]["reason"]
        assert "redis" in reason or "model" in reason, reason
        assert response.headers.get("retry-after")
        ready = httpx.get(f"{proc.url}/readyz")
        assert ready.status_code == 503
        components = ready.json()["components"]
        assert components["model:small"] == "no replica reachable"
        assert components["redis"].startswith("unreachable")
    finally:
        proc.stop()


def test_stream_sends_nodes_tokens_then_the_result(server: ServerProcess) -> None:
    events: list[tuple[str, dict]] = []
    with httpx_sse.connect_sse(
        httpx.Client(timeout=120),
        "POST",
        f"{server.url}/v1/agent/stream",
        # Uncached: the module's server has answered a question like it already.
        json={"question": "Which port does interlock listen on by default?", "no_cache": True},
    ) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        for sse in source.iter_sse():
            events.append((sse.event, json.loads(sse.data)))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "run" and kinds[-1] == "result"
    nodes = [data["node"] for kind, data in events if kind == "node"]
    assert nodes[:3] == ["guard_in", "planner", "cache"] and "generate" in nodes
    route = next(d for k, d in events if k == "node" and d["node"] == "route")
    assert route["route"]["tier"] in ("small", "large")
    tokens = "".join(d["text"] for k, d in events if k == "token")
    assert tokens.strip(), "the draft answer streams token by token"
    assert kinds.index("token") < kinds.index("result")
    result = events[-1][1]
    assert result["thread_id"] == events[0][1]["thread_id"] and result["answer"]
    thread = httpx.get(f"{server.url}/v1/threads/{result['thread_id']}").json()
    assert [m["role"] for m in thread["messages"]] == ["human", "ai"]
    # Input errors come before the stream, as plain 4xx responses.
    bad = httpx.post(f"{server.url}/v1/agent/stream", json={"question": " "}, timeout=30)
    assert bad.status_code == 422 and "empty" in bad.json()["error"]["reason"]


def test_openai_clients_can_talk_to_the_agent(server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == ["interlock-agent"]
    # A topic no other test of the module asks about: the server's caches would answer it.
    question = {"role": "user", "content": "What does the hallucination check score?"}
    first = client.chat.completions.create(model="interlock-agent", messages=[question])
    answer = first.choices[0].message.content
    assert answer and first.usage is not None and first.usage.completion_tokens > 0
    thread = first.model_extra["interlock"]["thread_id"]  # type: ignore[index]
    # The client resends the conversation: it continues the same thread.
    follow_up = [
        question,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "And what happens when it fails?"},
    ]
    chunks = list(
        client.chat.completions.create(
            model="interlock-agent",
            messages=follow_up,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed.strip()
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    history = httpx.get(f"{server.url}/v1/threads/{thread}").json()["messages"]
    assert [m["role"] for m in history] == ["human", "ai", "human", "ai"]
    # Errors arrive as OpenAI errors with a readable message.
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-4o", messages=[question])
    with pytest.raises(openai.UnprocessableEntityError, match="empty"):
        client.chat.completions.create(
            model="interlock-agent", messages=[{"role": "user", "content": " "}]
        )


def test_threads_and_users_can_be_deleted(server: ServerProcess) -> None:
    asked = invoke(server.url, question="What is interlock?", user_id="del-me").json()
    gone = httpx.delete(f"{server.url}/v1/users/del-me")
    assert gone.status_code == 200 and gone.json()["threads"] == 1
    assert httpx.get(f"{server.url}/v1/threads/{asked['thread_id']}").status_code == 404
    kept = invoke(server.url, question="What is interlock?").json()
    assert httpx.delete(f"{server.url}/v1/threads/{kept['thread_id']}").status_code == 204
    again = httpx.delete(f"{server.url}/v1/threads/{kept['thread_id']}")
    assert again.status_code == 404 and "does not exist" in again.json()["error"]["reason"]


def test_documents_are_ingested_listed_searched_and_removed_over_http(
    server: ServerProcess,
) -> None:
    url = f"{server.url}/v1/knowledge"
    vpn = "# VPN\n\nThe staging VPN gateway is vpn-7.example.net, reached with WireGuard.\n"
    pdf = pdf_bytes([["Expense policy", "Meals are refunded up to 40 euros a day."]])
    body = {
        "tenant": "acme",
        "documents": [
            {"source": "it/vpn.md", "content": vpn, "tags": ["it"]},
            {"source": "finance/expenses.pdf", "content_base64": base64.b64encode(pdf).decode()},
        ],
    }
    added = httpx.post(f"{url}/documents", json=body, timeout=60)
    assert added.status_code == 200, added.text
    report = added.json()
    assert sorted(report["files_added"]) == ["finance/expenses.pdf", "it/vpn.md"]
    assert report["chunks_written"] >= 2 and not report["files_failed"]
    again = httpx.post(f"{url}/documents", json=body, timeout=60).json()
    assert sorted(again["files_unchanged"]) == ["finance/expenses.pdf", "it/vpn.md"]
    assert again["chunks_embedded"] == 0
    sources = httpx.get(f"{url}/sources", params={"tenant": "acme"}).json()
    assert set(sources) == {"it/vpn.md", "finance/expenses.pdf"}
    assert "it/vpn.md" not in httpx.get(f"{url}/sources").json()  # the default tenant's

    asked = invoke(server.url, question="Which host is the staging VPN gateway?", tenant="acme")
    assert any(c["source"] == "it/vpn.md" for c in asked.json()["citations"]), asked.text
    default = invoke(server.url, question="Which host is the staging VPN gateway?")
    assert all(c["source"] != "it/vpn.md" for c in default.json()["citations"])

    assert httpx.delete(f"{url}/sources/it/vpn.md", params={"tenant": "acme"}).status_code == 204
    missing = httpx.delete(f"{url}/sources/it/vpn.md", params={"tenant": "acme"})
    assert missing.status_code == 404 and "it/vpn.md" in missing.json()["error"]["reason"]
    assert set(httpx.get(f"{url}/sources", params={"tenant": "acme"}).json()) == {
        "finance/expenses.pdf"
    }


BAD_DOCUMENTS = [
    ({"source": "a.docx", "content": "x"}, "unsupported format"),
    ({"source": "a.md", "content": "x", "content_base64": "eA=="}, "exactly one"),
    ({"source": "a.md"}, "exactly one"),
    ({"source": "a.pdf", "content_base64": "%%% not base64"}, "not valid base64"),
]


def test_bad_documents_get_422_and_an_unreadable_one_is_reported(server: ServerProcess) -> None:
    for document, reason in BAD_DOCUMENTS:  # one server for all cases: starting one costs ~20 s
        response = httpx.post(
            f"{server.url}/v1/knowledge/documents", json={"documents": [document]}
        )
        assert response.status_code == 422, document
        assert reason in response.json()["error"]["reason"], response.text
    body = {
        "documents": [
            {"source": "broken.pdf", "content_base64": base64.b64encode(b"not a pdf").decode()},
            {"source": "fine.md", "content": "# Fine\n\nThis one is readable."},
        ]
    }
    report = httpx.post(f"{server.url}/v1/knowledge/documents", json=body, timeout=60).json()
    assert report["files_added"] == ["fine.md"] and "broken.pdf" in report["files_failed"]
    nothing = httpx.post(f"{server.url}/v1/knowledge/documents", json={})
    assert nothing.status_code == 422 and "nothing to do" in nothing.json()["error"]["reason"]

"""The LanceDB long-term store through LangGraph's BaseStore interface."""

from __future__ import annotations

from pathlib import Path

from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from typing_extensions import TypedDict

from interlock.memory.embeddings import MiniLMEmbeddings
from interlock.memory.longterm import LanceDBStore


def test_put_get_search_delete_and_namespaces(tmp_path: Path, embeddings: MiniLMEmbeddings) -> None:
    store = LanceDBStore(str(tmp_path / "db"), embeddings)
    store.put(("memories", "u1"), "lang", {"text": "I prefer answers in French"})
    store.put(("memories", "u1"), "proj", {"text": "I work on project Falcon"})
    store.put(("memories", "u2"), "pet", {"text": "I like cats"})
    item = store.get(("memories", "u1"), "lang")
    assert item is not None and item.value == {"text": "I prefer answers in French"}
    found = store.search(("memories", "u1"), query="which language should answers be in?")
    assert next(i.key for i in found) == "lang"
    assert all(i.namespace == ("memories", "u1") for i in found)
    assert store.list_namespaces(prefix=("memories",)) == [("memories", "u1"), ("memories", "u2")]
    assert (
        store.search(("memories", "u1"), filter={"text": "I work on project Falcon"})[0].key
        == "proj"
    )
    store.put(("memories", "u1"), "lang", {"text": "I prefer answers in German"})
    updated = store.get(("memories", "u1"), "lang")
    assert updated is not None and "German" in updated.value["text"]
    assert updated.created_at == item.created_at and updated.updated_at >= item.updated_at
    store.delete(("memories", "u1"), "lang")
    assert store.get(("memories", "u1"), "lang") is None


async def test_async_and_inside_a_langgraph_graph(
    tmp_path: Path, embeddings: MiniLMEmbeddings
) -> None:
    store = LanceDBStore(str(tmp_path / "db"), embeddings)

    class S(TypedDict):
        user: str
        recalled: list[str]

    async def save(state: S, *, store: BaseStore) -> dict:
        await store.aput(("memories", state["user"]), "k", {"text": "Call me Ada"})
        return {}

    async def recall(state: S, *, store: BaseStore) -> dict:
        items = await store.asearch(("memories", state["user"]), query="name")
        return {"recalled": [i.value["text"] for i in items]}

    graph = StateGraph(S)
    graph.add_node("save", save)
    graph.add_node("recall", recall)
    graph.add_edge(START, "save")
    graph.add_edge("save", "recall")
    graph.add_edge("recall", END)
    out = await graph.compile(store=store).ainvoke({"user": "u9", "recalled": []})
    assert out["recalled"] == ["Call me Ada"]


def test_filters_paging_and_namespace_listing_match_langgraphs_in_memory_store(
    tmp_path: Path, embeddings: MiniLMEmbeddings
) -> None:
    """LangGraph's InMemoryStore is the reference: the same calls give the same answers."""
    from langgraph.store.memory import InMemoryStore

    ours, theirs = LanceDBStore(str(tmp_path / "db"), embeddings), InMemoryStore()
    for store in (ours, theirs):
        for i in range(6):
            value = {"text": f"fact {i}", "rank": i, "meta": {"lang": "fr" if i % 3 else "en"}}
            store.put(("memories", f"u{i % 2}"), f"k{i}", value)
        store.put(("docs", "team", "a"), "d", {"text": "doc", "rank": 10})
        store.put(("docs", "team", "b"), "d", {"text": "doc", "rank": 11})

    def keys(store: BaseStore, **kwargs: object) -> list[str]:
        return sorted(i.key for i in store.search(("memories",), limit=50, **kwargs))  # type: ignore[arg-type]

    for kwargs in (
        {"filter": {"rank": 3}},
        {"filter": {"rank": {"$gte": 2, "$lt": 5}}},
        {"filter": {"rank": {"$ne": 0}}},
        {"filter": {"meta": {"lang": "en"}}},
        {"filter": {"meta": {"lang": "fr"}, "rank": {"$lte": 4}}},
    ):
        assert keys(ours, **kwargs) == keys(theirs, **kwargs), kwargs
    # Where InMemoryStore raises (float("x")), ours matches nothing.
    assert keys(ours, filter={"rank": {"$gt": "x"}}) == []
    assert keys(ours, filter={"missing": {"$lte": 1}}) == []
    assert len(ours.search(("memories",), limit=2, offset=1)) == 2
    assert len(ours.search(("memories",), limit=10, offset=5)) == 1
    for kwargs in (
        {},
        {"prefix": ("docs",)},
        {"suffix": ("a",)},
        {"prefix": ("docs", "*", "b")},
        {"max_depth": 2},
        {"limit": 2, "offset": 1},
    ):
        assert ours.list_namespaces(**kwargs) == theirs.list_namespaces(**kwargs), kwargs  # type: ignore[arg-type]

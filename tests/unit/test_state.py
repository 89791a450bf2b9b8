from __future__ import annotations

from interlock.state import Document, Usage, add_usage, merge_documents, run_input


def doc(id_: str, score: float) -> Document:
    return Document(id=id_, text=id_, source="s", title="t", score=score)


def test_merge_documents_dedupes_keeping_best_score_and_sorts() -> None:
    merged = merge_documents([doc("a", 0.2), doc("b", 0.5)], [doc("a", 0.9), doc("c", 0.1)])
    assert [(d["id"], d["score"]) for d in merged] == [("a", 0.9), ("b", 0.5), ("c", 0.1)]


def test_none_resets_per_run_lists() -> None:
    assert merge_documents([doc("a", 0.2)], None) == []
    assert add_usage(Usage(calls=1, input_tokens=5, output_tokens=5, cost=0.1), None)["calls"] == 0


def test_usage_adds_up() -> None:
    one = Usage(calls=1, input_tokens=10, output_tokens=3, cost=0.5)
    assert add_usage(one, one) == Usage(calls=2, input_tokens=20, output_tokens=6, cost=1.0)


def test_run_input_resets_every_per_run_field() -> None:
    update = run_input("hello")
    for name in ("plan", "documents", "route", "answer", "check", "guards", "usage", "error"):
        assert name in update and update[name] is None
    assert update["attempts"] == 0
    assert update["messages"][0].content == "hello"

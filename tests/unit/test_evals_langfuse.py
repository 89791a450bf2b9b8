"""The Langfuse dataset-run recorder: nothing sent unconfigured; the report's scores when it is."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from interlock.evals.dataset import EvalItem
from interlock.evals.langfuse_run import record_run

ITEMS = [
    EvalItem(id="a", question="Port?", expected_answer="8000", tags=("single",)),
    EvalItem(id="b", question="Capital of France?", expected_answer="", unanswerable=True),
]
ROWS = [
    {"id": "a", "answer": "8000.", "token_f1": 1.0, "latency_ms": 12.5, "thread_id": "t1"},
    {
        "id": "b",
        "answer": "I do not know.",
        "refusal_correct": 1.0,
        "token_f1": None,
        "latency_ms": 3.0,
        "thread_id": "t2",
        "error": None,
    },
]


class FakeLangfuse:
    """Records calls and runs the task and evaluators as the SDK's run_experiment does."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.scores: dict[str, dict[str, float]] = {}
        self.outputs: dict[str, str] = {}
        self.flushed = False

    def create_dataset(self, **kwargs: Any) -> None:
        self.dataset = kwargs

    def create_dataset_item(self, **kwargs: Any) -> None:
        self.items[kwargs["id"]] = kwargs

    def get_dataset(self, name: str) -> Any:
        return SimpleNamespace(
            items=[
                SimpleNamespace(id=i, metadata=k["metadata"], input=k["input"])
                for i, k in self.items.items()
            ]
            + [SimpleNamespace(id="other-item", metadata={"eval_id": "zzz"}, input={})]
        )

    def run_experiment(
        self,
        *,
        data: list[Any],
        task: Any,
        evaluators: list[Any],
        run_evaluators: list[Any] = (),  # type: ignore[assignment]
        **kw: Any,
    ) -> Any:
        self.run = kw
        for item in data:
            output = task(item=item)
            self.outputs[item.id] = output
            evaluations = [
                e
                for ev in evaluators
                for e in ev(input=item.input, output=output, metadata=item.metadata)
            ]
            self.scores[item.id] = {e.name: e.value for e in evaluations}
        self.run_scores = {e.name: e.value for ev in run_evaluators for e in ev(item_results=[])}
        return SimpleNamespace(experiment_url="http://lf/run/1", experiment_id="1")

    def flush(self) -> None:
        self.flushed = True


def test_nothing_is_sent_without_langfuse_configured() -> None:
    assert record_run(ITEMS, ROWS, dataset_name="d", run_name="r", dataset_sha256="f" * 64) is None


def test_items_and_the_reports_scores_are_recorded() -> None:
    client = FakeLangfuse()
    url = record_run(
        ITEMS, ROWS, dataset_name="d", run_name="r", dataset_sha256="abcdef" * 10, client=client
    )
    assert url == "http://lf/run/1" and client.flushed
    assert sorted(client.items) == ["abcdefabcdef-a", "abcdefabcdef-b"]
    assert client.items["abcdefabcdef-a"]["expected_output"] == "8000"
    assert client.run["run_name"] == "r"
    assert client.outputs == {"abcdefabcdef-a": "8000.", "abcdefabcdef-b": "I do not know."}
    assert client.scores["abcdefabcdef-a"] == {"token_f1": 1.0, "latency_ms": 12.5}
    assert client.scores["abcdefabcdef-b"] == {"refusal_correct": 1.0, "latency_ms": 3.0}
    # Run-level: each metric's mean over the items it applies to.
    assert client.run_scores == {
        "mean_token_f1": 1.0,
        "mean_refusal_correct": 1.0,
        "mean_latency_ms": 7.75,
    }

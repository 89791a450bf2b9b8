"""Metrics, the loader, the report and the regression gate, without any model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlock.evals import metrics
from interlock.evals.command import compare_main
from interlock.evals.compare import compare, parse_tolerances
from interlock.evals.dataset import BUNDLED, DatasetError, load_dataset
from interlock.evals.html import render_html
from interlock.evals.report import build_report


def test_normalize_drops_case_punctuation_articles_but_keeps_dotted_tokens() -> None:
    assert metrics.normalize("The default is 127.0.0.1!") == ["default", "is", "127.0.0.1"]
    assert metrics.normalize("An answer, THE end.") == ["answer", "end"]
    assert metrics.normalize("0.75") != metrics.normalize("0 75")
    assert metrics.normalize("127.0.0.1:8000") == ["127.0.0.1", "8000"]


def test_exact_match_and_contains() -> None:
    assert metrics.exact_match("The port is 8000.", "the port is 8000") == 1.0
    assert metrics.exact_match("port 8000", "8000") == 0.0
    assert metrics.contains_answer("Interlock listens on port 8000 by default.", "8000") == 1.0
    assert metrics.contains_answer("It uses 0.75.", "0.7") == 0.0
    assert metrics.contains_answer("anything", "") == 0.0


def test_token_f1() -> None:
    assert metrics.token_f1("8000", "8000") == 1.0
    assert metrics.token_f1("nothing here", "8000") == 0.0
    # got: port, is, 8000 ; want: 8000 -> p=1/3, r=1 -> f1=0.5
    assert metrics.token_f1("port is 8000", "8000") == 0.5
    assert metrics.token_f1("", "") == 1.0


def test_source_recall_and_precision_match_path_suffixes() -> None:
    found = ["sample_kb/faq.md", "sample_kb/memory.md"]
    assert metrics.source_recall(found, ["faq.md", "sample_kb/configuration.md"]) == 0.5
    assert metrics.source_precision(found, ["sample_kb/faq.md"]) == 0.5
    assert metrics.source_recall([], ["faq.md"]) == 0.0
    assert metrics.source_recall(found, []) is None
    assert metrics.source_precision([], ["faq.md"]) is None
    assert not metrics.source_matches("sample_kb/xfaq.md", "faq.md")


@pytest.mark.parametrize(
    "answer",
    [
        "I do not know: the knowledge base has nothing on this.",
        "I don't know.",
        "The sources do not clearly answer this.",
        "The documents do not mention the price.",
        "There is no information about that.",
        "I cannot answer that from the sources.",
        "",
    ],
)
def test_refusal_rule_recognises_declines(answer: str) -> None:
    assert metrics.is_refusal(answer)


def test_refusal_rule_flags_and_answers() -> None:
    assert not metrics.is_refusal("Interlock listens on port 8000.")
    assert not metrics.is_refusal("Interlock does not retry a bad request.")
    assert metrics.is_refusal("Paris.", refused=True)
    assert metrics.is_refusal("Paris.", fallbacks=["honest: unsupported and nothing else"])
    assert not metrics.is_refusal("Paris.", fallbacks=["escalate: unsupported on small"])


def test_percentile_matches_linear_interpolation() -> None:
    assert metrics.percentile([4, 1, 3, 2], 50) == 2.5
    assert metrics.percentile([10.0], 95) == 10.0
    assert metrics.percentile(list(range(1, 101)), 95) == 95.05
    assert metrics.percentile([], 50) is None


def _row(i: int, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": f"x-{i:02d}",
        "question": f"q{i}",
        "expected_answer": "8000",
        "answer": "port 8000",
        "tags": ["single"],
        "unanswerable": False,
        "thread_id": f"t{i}",
        "run_id": f"r{i}",
        "error": None,
        "refused": False,
        "exact_match": 0.0,
        "contains_answer": 1.0,
        "token_f1": 0.6667,
        "semantic_similarity": 0.8 + i / 100,
        "judge_correct": None,
        "faithfulness": 1.0,
        "citation_recall": 1.0,
        "citation_precision": 1.0,
        "context_recall": 1.0,
        "context_precision": 0.5,
        "latency_ms": 100.0 * (i + 1),
        "usage": {"input_tokens": 10, "output_tokens": 5, "cost": 0.0001},
        "route": "small",
        "from_cache": False,
        "guard_triggers": [],
        "fallbacks": [],
    }
    row.update(over)
    return row


def _rows() -> list[dict[str, object]]:
    rows = [_row(i) for i in range(5)]
    rows.append(_row(5, unanswerable=True, expected_answer="", refused=True, tags=["unanswerable"]))
    rows.append(_row(6, route="large", from_cache=True, fallbacks=["escalate: x"]))
    return rows


def _report(rows: list[dict[str, object]]) -> dict[str, object]:
    return build_report(
        rows,
        config={"graph": "default"},
        dataset={"path": "d.jsonl", "sha256": "abc"},
        started_at="2026-01-01T00:00:00+00:00",
        seconds=1.0,
    )


def test_aggregate_is_deterministic_whatever_the_row_order() -> None:
    rows = _rows()
    first = json.dumps(_report(rows), sort_keys=True)
    second = json.dumps(_report(list(reversed(rows))), sort_keys=True)
    assert first == second
    agg = metrics.aggregate(rows)
    assert agg["answerable"] == 6 and agg["unanswerable"] == 1
    assert agg["refusal_correct"] == 1.0
    assert agg["route_split"] == {"large": 0.1429, "small": 0.8571}
    assert agg["cache_hit_rate"] == 0.1429
    assert agg["tokens_input"] == 70
    assert agg["latency_ms_p50"] == 400.0


def test_per_tag_breakdown() -> None:
    by_tag = metrics.by_tag(_rows())
    assert sorted(by_tag) == ["single", "unanswerable"]
    assert by_tag["unanswerable"]["refusal_correct"] == 1.0
    assert by_tag["single"]["refusal_correct"] is None


def test_html_is_self_contained_with_svg_and_failures() -> None:
    rows = _rows()
    rows.append(_row(7, answer="no idea", contains_answer=0.0, thread_id="thread-failing"))
    page = render_html(_report(rows))
    assert page.count("<svg") == 5
    assert "thread-failing" in page
    bare = page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http" not in bare and "<script" not in bare and "<link" not in bare


def test_gate_passes_identical_and_fails_planted_regression(tmp_path: Path) -> None:
    base = _report(_rows())
    worse_rows = _rows()
    for row in worse_rows[:3]:
        row["contains_answer"] = 0.0
    worse = _report(worse_rows)
    assert compare(base, base) == []
    regressions = compare(base, worse)
    assert [r.metric for r in regressions] == ["contains_answer"]
    # a loose enough tolerance lets it through
    assert compare(base, worse, parse_tolerances(["contains_answer=0.5"])) == []

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(base))
    b.write_text(json.dumps(worse))

    class Args:
        baseline, candidate, max_regression = a, a, []

    assert compare_main(Args()) == 0  # type: ignore[arg-type]
    Args.candidate = b
    assert compare_main(Args()) == 1  # type: ignore[arg-type]
    Args.candidate = tmp_path / "missing.json"
    assert compare_main(Args()) == 2  # type: ignore[arg-type]
    (tmp_path / "bad.json").write_text("{not json")
    Args.candidate = tmp_path / "bad.json"
    assert compare_main(Args()) == 2  # type: ignore[arg-type]


def test_gate_latency_tolerance_is_relative() -> None:
    base = _report(_rows())
    slower_rows = _rows()
    for row in slower_rows:
        row["latency_ms"] = float(row["latency_ms"]) * 1.2  # type: ignore[arg-type]
    assert compare(base, _report(slower_rows)) == []
    for row in slower_rows:
        row["latency_ms"] = float(row["latency_ms"]) * 1.5  # type: ignore[arg-type]
    assert [r.metric for r in compare(base, _report(slower_rows))] == ["latency_ms_p95"]


def test_unknown_tolerance_metric_is_an_error() -> None:
    with pytest.raises(ValueError, match="expected metric=tolerance"):
        parse_tolerances(["contain_answer=0.1"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('{"expected_answer": "x"}', "line 2: field 'question' is required"),
        ('{"question": "q"}', "line 2: field 'expected_answer' is required"),
        ('{"question": "q", "expected_answer": "x", "tags": "a"}', "line 2: field 'tags'"),
        ('{"question": "q", "expected_answer": "x", "turns": [1]}', "line 2: field 'turns'"),
        ('{"question": "q", "unanswerable": "yes"}', "line 2: field 'unanswerable'"),
        (
            '{"id": "a", "question": "q", "expected_answer": "x"}',
            "line 2: field 'id' 'a' repeats line 1",
        ),
        ("[1, 2]", "line 2: expected a JSON object"),
    ],
)
def test_bad_jsonl_names_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": "a", "question": "q", "expected_answer": "x"}\n' + line + "\n")
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_dataset(path)


def test_unanswerable_item_needs_no_expected_answer(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('\n{"question": "q?", "unanswerable": true, "tags": ["u"]}\n')
    (item,) = load_dataset(path)
    assert item.unanswerable and item.expected_answer == "" and item.id == "line-2"


def test_bundled_dataset_covers_every_kind_and_names_real_sources() -> None:
    items = load_dataset(BUNDLED)
    assert len(items) >= 100
    kinds = {t for i in items for t in i.tags}
    assert {"single", "multi", "unanswerable", "followup"} <= kinds
    assert all(i.turns for i in items if "followup" in i.tags)
    corpus = BUNDLED.parent.parent
    for item in items:
        for source in item.expected_sources:
            assert (corpus / source).is_file(), (item.id, source)
        if "single" in item.tags:  # the fact is stated in at least one named source
            texts = [(corpus / s).read_text().lower() for s in item.expected_sources]
            assert any(item.expected_answer.lower() in t for t in texts), item.id


def test_cli_eval_run_rejects_bad_dataset_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from interlock.cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "expected_answer": "a"}\n{"question": 3}\n')
    assert main(["eval", "run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "'question'" in err


def test_cli_eval_compare_exit_codes(tmp_path: Path) -> None:
    from interlock.cli import main

    base = _report(_rows())
    worse_rows = _rows()
    for row in worse_rows:
        row["semantic_similarity"] = 0.1
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(base))
    b.write_text(json.dumps(_report(worse_rows)))
    assert main(["eval", "compare", str(a), str(a)]) == 0
    assert main(["eval", "compare", str(a), str(b)]) == 1
    assert (
        main(["eval", "compare", str(a), str(b), "--max-regression", "semantic_similarity=1"]) == 0
    )
    assert main(["eval", "compare", str(a), str(tmp_path / "nope.json")]) == 2

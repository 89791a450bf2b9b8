"""Evaluation suite runs: datasets, metrics, the runner, reports and the regression gate.

Modules: ``dataset`` (JSONL items), ``metrics`` (deterministic scores),
``runner`` (the agent over a dataset), ``judge`` (optional LLM verdicts),
``report`` and ``html`` (JSON and self-contained HTML), ``compare`` (the
regression gate), ``command`` (``interlock eval``). Nothing here is imported
by the request path.
"""

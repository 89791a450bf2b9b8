"""Evaluation suite runs (datasets, metrics, runner, reports).

Empty in this release: the evaluation issue builds it. Nothing here is
imported by the request path.
"""

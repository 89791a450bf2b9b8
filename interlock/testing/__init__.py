"""Tooling for tests and benchmarks, importable by users for their own tests.

Interlock's failover, routing and load tests need model servers that can be
made slow, broken, hung or killed on demand, on machines without a GPU.
:mod:`interlock.testing.vllm_simulator` provides one that speaks vLLM's
OpenAI-compatible protocol; applications built on interlock can use it the
same way in their own test suites.
"""

"""The ``interlock`` command: serve, ask, ingest, eval, traces, keys.

``serve`` and ``ask`` bring up what is missing (the embedded model server,
and Redis if none answers) for as long as the command runs, and stop it on
exit, Ctrl-C included. Errors are printed as one line with their reason and
exit code 2; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from interlock.config import ConfigError, Settings
from interlock.errors import InterlockError, ServiceUnavailable

if TYPE_CHECKING:
    from interlock.agent import AgentResult
    from interlock.memory.knowledge import KnowledgeBase


def _print_result(result: AgentResult, elapsed_s: float) -> None:
    print(result.answer)
    print()
    if result.citations:
        print("Sources:")
        for i, cite in enumerate(result.citations, 1):
            print(f"  [{i}] {cite['source']} — {cite['title']}")
    else:
        print("Sources: none")
    if result.route:
        print(f"Route: {result.route['tier']} ({result.route['reason']})")
    if result.from_cache:
        print("Cache: hit")
    if result.check:
        print(f"Check: {result.check['verdict']} (score {result.check['score']:.2f})")
    if result.refused:
        print("Refused by the input guard")
    print("Time per node (ms):")
    for node, ms in result.timings_ms.items():
        print(f"  {node:<10} {ms:8.1f}")
    print(f"  {'total':<10} {elapsed_s * 1000:8.1f}")
    print(f"Thread: {result.thread_id}")
    print(f"Trace: {result.trace_id}  (interlock traces {result.trace_id})")


async def _ask(settings: Settings, args: argparse.Namespace) -> int:
    from interlock.agent import Agent

    agent = await Agent.from_settings(settings)
    try:
        await agent.ensure_sample_knowledge()
        began = time.perf_counter()
        result = await agent.ask(args.question, thread_id=args.thread, user_id=args.user)
        elapsed = time.perf_counter() - began
    finally:
        await agent.aclose()
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_result(result, elapsed)
    return 0


async def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from interlock.memory.embeddings import MiniLMEmbeddings
    from interlock.memory.knowledge import KnowledgeBase

    kb = KnowledgeBase(settings.lancedb_uri, MiniLMEmbeddings(), settings.knowledge_table)
    with tqdm(unit="file", desc="ingesting", file=sys.stderr, disable=args.quiet) as bar:

        def progress(done: int, total: int, source: str) -> None:
            bar.total = total
            bar.set_postfix_str(source[-40:], refresh=False)
            bar.update(done - bar.n)

        report = await kb.ingest(
            [Path(p) for p in args.paths],
            tenant=args.tenant,
            tags=[t for t in args.tags.split(",") if t] if args.tags else [],
            on_progress=progress,
        )
    print(
        f"{len(report.files_added)} file(s) added or updated ({report.chunks_written} chunks, "
        f"{report.chunks_embedded} embedded), {len(report.files_unchanged)} unchanged, "
        f"{len(report.files_removed)} removed (gone from their folder), "
        f"{len(report.files_skipped)} skipped (unsupported type) in {report.seconds:.1f}s"
    )
    for source, reason in report.files_failed.items():
        print(f"  failed: {source}: {reason}", file=sys.stderr)
    if report.files_added or report.files_removed:
        await kb.optimize()  # indices and compaction after a bulk change
    if report.removed_chunk_ids:
        await _drop_cached_answers(settings, kb, report.removed_chunk_ids)
    return 1 if report.files_failed else 0


async def _drop_cached_answers(settings: Settings, kb: KnowledgeBase, chunk_ids: list[str]) -> None:
    """What ``Agent`` does after an ingest: cached answers drawn from changed chunks go."""
    import redis.asyncio as aioredis

    from interlock.memory.response_cache import ResponseCache
    from interlock.memory.semantic_cache import SemanticCache

    semantic = SemanticCache(settings.lancedb_uri, kb.embeddings)
    dropped = await semantic.invalidate_chunks(chunk_ids)
    client = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=2)
    try:
        cache = ResponseCache(client, prefix=settings.redis_prefix, ttl_s=settings.cache_ttl_s)
        dropped += await cache.invalidate_chunks(chunk_ids)
    except aioredis.RedisError as exc:
        print(
            f"warning: Redis unreachable ({type(exc).__name__}): cached answers citing the "
            "changed documents stay until they expire (INTERLOCK_CACHE_TTL_S)",
            file=sys.stderr,
        )
    finally:
        await client.aclose()
    if dropped:
        print(f"{dropped} cached answer(s) drawn from changed documents dropped")


class _Starting(Protocol):
    """What the banner reads of ``uvicorn.Server``."""

    started: bool
    should_exit: bool


def announce_when_started(server: _Starting, lines: list[str], poll_s: float = 0.1) -> bool:
    """Print ``lines`` once uvicorn has bound its socket, or nothing if it stops first.

    The agent loads its encoders and models in the app's lifespan (seconds), and
    uvicorn binds the port only after that: a banner printed before ``run`` would
    invite a curl that is refused. ``server.started`` is uvicorn's own flag for
    "accepting connections".
    """
    while not server.started:
        if server.should_exit:
            return False
        time.sleep(poll_s)
    print("\n".join(lines), flush=True)
    return True


def _serve(settings: Settings) -> int:
    import uvicorn

    from interlock.server.app import create_app

    app = create_app(settings, ingest_sample=True)
    url = f"http://{settings.host}:{settings.port}"
    lines = [f"interlock serving at {url}  (Ctrl-C stops it and everything it started)"]
    auth = ""
    if settings.auth == "api_keys":
        lines.append("API keys required: create one with `interlock keys create --tenant NAME`")
        auth = "-H 'authorization: Bearer <key>' "
    lines.append(
        f"try:  curl -s {url}/v1/agent/invoke {auth}-H 'content-type: application/json' "
        '-d \'{"question": "Which port does interlock listen on?"}\''
    )
    print(f"interlock starting at {url} (loading models) ...", flush=True)
    server = uvicorn.Server(
        uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning")
    )
    threading.Thread(target=announce_when_started, args=(server, lines), daemon=True).start()
    # uvicorn shuts down gracefully on Ctrl-C, then re-raises the signal it
    # captured; ``uvicorn.run`` swallows that, ``Server.run`` does not. A server
    # stopped by Ctrl-C has done what was asked: exit 0, as before.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return 0


async def _keys(settings: Settings, args: argparse.Namespace) -> int:
    """`interlock keys create|list|revoke`: the API keys of the HTTP endpoint."""
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    from interlock.server.keys import ApiKeyStore, KeyLimits

    client = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=2.0)
    store = ApiKeyStore(client, settings.redis_prefix)
    try:
        if args.keys_command == "create":
            limits = KeyLimits(
                rpm=args.rpm,
                tpm=args.tpm,
                budget_hour=args.budget_hour,
                budget_day=args.budget_day,
                budget_month=args.budget_month,
                max_run_tokens=args.max_run_tokens,
                max_run_cost=args.max_run_cost,
            )
            scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
            raw, record = await store.create(
                args.tenant, scopes=scopes, name=args.name, limits=limits
            )
            print(json.dumps(record.public(), indent=2))
            print(f"key (shown once, store it now): {raw}")
        elif args.keys_command == "list":
            for record in await store.list(args.tenant):
                print(json.dumps(record.public()))
        else:
            record = await store.revoke(args.key_id)
            print(f"revoked {record.key_id} (tenant {record.tenant})")
    except RedisError as exc:
        raise ServiceUnavailable("redis", f"{settings.redis_url}: {exc}") from exc
    finally:
        await client.aclose()
    return 0


def _guard(settings: Settings, args: argparse.Namespace) -> int:
    """`interlock guard train|check`: the injection classifier on the user's own labels."""
    from interlock.guardrails import injection_classifier as ic
    from interlock.memory.embeddings import MiniLMEmbeddings

    embeddings = MiniLMEmbeddings()
    if args.guard_command == "train":
        injection, benign = ic.load_examples(args.data)
        multilingual = None
        if not args.no_multilingual:
            from interlock.memory.multilingual_embeddings import MultilingualEmbeddings

            multilingual = MultilingualEmbeddings()
        model = ic.train(
            injection,
            benign,
            embeddings,
            multilingual=multilingual,
            max_false_positive_rate=ic.MAX_FALSE_POSITIVE_RATE
            if args.max_false_positives is None
            else args.max_false_positives,
        )
        model.save(args.out)
        rates = model.cross_validated
        print(
            f"trained on {len(injection)} injection and {len(benign)} benign examples; "
            f"threshold {model.threshold:.3f}; cross-validated detection "
            f"{rates['detection_rate']:.1%}, false positives {rates['false_positive_rate']:.1%}"
        )
        print(f"saved {args.out}; use it with INTERLOCK_INJECTION_MODEL={args.out}")
        return 0
    classifier = ic.InjectionClassifier(
        embeddings, ic.InjectionModel.load(settings.injection_model), settings.injection_threshold
    )
    from interlock.guardrails.policy import InputPolicy

    verdict = InputPolicy(settings.max_question_chars, classifier=classifier).check(args.text)
    score = classifier.score(args.text)
    print(
        f"{'allowed' if verdict.allowed else 'refused'} (classifier score {score:.2f}, "
        f"threshold {classifier.threshold:.2f})"
    )
    for reason in verdict.reasons:
        print(f"  - {reason}")
    return 0 if verdict.allowed else 1


def _requests_from(path: Path) -> list[str]:
    """A traffic sample: one request per line, a JSON list of strings, or router training data."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{path} is not JSON: {exc}") from exc
        items = data.get("examples") if isinstance(data, dict) else data
        if isinstance(items, list):
            return [str(i["text"] if isinstance(i, dict) else i) for i in items]
        raise ConfigError(f"{path}: expected a list of requests or {{'examples': [...]}}")
    return [line for line in text.splitlines() if line.strip()]


def _router(settings: Settings, args: argparse.Namespace) -> int:
    """`interlock router train|calibrate`: the request classifier on the user's own traffic."""
    from interlock.memory.embeddings import MiniLMEmbeddings
    from interlock.models import trained_router as tr

    embeddings = MiniLMEmbeddings()
    if args.router_command == "train":
        examples = tr.load_examples(args.data)
        model = tr.train(examples, embeddings)
        model.save(args.out)
        cv = model.cross_validated
        print(
            f"trained on {len(examples)} requests ({model.examples['large']} large); "
            f"cross-validated tier accuracy {cv['tier_accuracy']:.1%}, "
            f"kind accuracy {cv['kind_accuracy']:.1%}"
        )
        print(f"saved {args.out}; use it with INTERLOCK_ROUTER_MODEL={args.out}")
        return 0
    tr.check_share(args.large_share)
    requests = _requests_from(args.sample)
    router = tr.TrainedRouter(embeddings, tr.RouterModel.load(settings.router_model))
    threshold = tr.calibrate(router.scores(requests), args.large_share)
    print(
        f"{args.large_share:.0%} of these {len(requests)} requests go to the large tier "
        f"at threshold {threshold}; set INTERLOCK_ROUTE_THRESHOLD={threshold}"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interlock", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve the HTTP agent endpoint")
    ask = sub.add_parser("ask", help="answer one question on the command line")
    ask.add_argument("question")
    ask.add_argument("--thread", help="continue this conversation")
    ask.add_argument("--user", default="anonymous", help="whose long-term memory to use")
    ask.add_argument("--json", action="store_true", help="print the whole result as JSON")
    ingest = sub.add_parser("ingest", help="add files or folders to the knowledge base")
    ingest.add_argument("paths", nargs="+")
    ingest.add_argument("--tenant", default="default")
    ingest.add_argument("--tags", default="", help="comma-separated tags for every file")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    guard = sub.add_parser("guard", help="the input guard's injection classifier")
    guard_sub = guard.add_subparsers(dest="guard_command", required=True)
    train = guard_sub.add_parser("train", help='train on {"injection": [...], "benign": [...]}')
    train.add_argument("data", type=Path)
    train.add_argument("--out", type=Path, default=Path("injection_model.json"))
    train.add_argument(
        "--max-false-positives",
        type=float,
        help="share of benign examples that may be refused (cross-validated); "
        "default 0.03, see MAX_FALSE_POSITIVE_RATE in guardrails/injection_classifier.py",
    )
    train.add_argument(
        "--no-multilingual",
        action="store_true",
        help="MiniLM and n-grams only: about half the scoring cost, weaker outside English",
    )
    check = guard_sub.add_parser("check", help="run the input guard on one message")
    check.add_argument("text")
    router = sub.add_parser("router", help="the request classifier that picks the model tier")
    router_sub = router.add_subparsers(dest="router_command", required=True)
    rtrain = router_sub.add_parser(
        "train", help='train on {"examples": [{"text", "kind", "tier"}, ...]}'
    )
    rtrain.add_argument("data", type=Path)
    rtrain.add_argument("--out", type=Path, default=Path("router_model.json"))
    calibrate = router_sub.add_parser(
        "calibrate", help="the route threshold that sends a share of this traffic to the large tier"
    )
    calibrate.add_argument("sample", type=Path, help="one request per line, or a JSON list")
    calibrate.add_argument(
        "--large-share", type=float, required=True, help="e.g. 0.3 for 30%% of requests"
    )
    keys = sub.add_parser("keys", help="API keys of the HTTP endpoint (stored hashed in Redis)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="a new key; its secret is printed once")
    create.add_argument("--tenant", required=True, help="whose threads and documents it sees")
    create.add_argument("--name", default="", help="a label, e.g. the client's name")
    create.add_argument(
        "--scopes", default="runs,threads", help="of runs,threads,knowledge,users (comma-separated)"
    )
    create.add_argument("--rpm", type=int, help="requests per minute (default: the server's)")
    create.add_argument("--tpm", type=int, help="model tokens per minute (0 = no limit)")
    for period in ("hour", "day", "month"):
        create.add_argument(f"--budget-{period}", type=float, help=f"cost per {period} (UTC)")
    create.add_argument("--max-run-tokens", type=int, help="hard cap on one run's tokens")
    create.add_argument("--max-run-cost", type=float, help="hard cap on one run's cost")
    listing = keys_sub.add_parser("list", help="every key (never its secret)")
    listing.add_argument("--tenant", help="only this tenant's keys")
    revoke = keys_sub.add_parser("revoke", help="revoke a key at once, on every replica")
    revoke.add_argument("key_id")
    from interlock.evals.command import add_parser as add_eval_parser
    from interlock.tracing.command import add_parser as add_traces_parser

    add_eval_parser(sub)
    add_traces_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.load()
        if args.command == "ingest":
            return asyncio.run(_ingest(settings, args))
        if args.command == "guard":
            return _guard(settings, args)
        if args.command == "router":
            return _router(settings, args)
        if args.command == "keys":
            return asyncio.run(_keys(settings, args))
        if args.command == "eval":
            from interlock.evals.command import eval_main

            return eval_main(settings, args)
        if args.command == "traces":
            from interlock.tracing.command import traces_main

            return traces_main(settings, args)
        from interlock.embedded.stack import EmbeddedStack

        if args.command == "ask":
            # Before the embedded stack: starting a model server (~20 s) only to
            # refuse an empty question is a long wait for a one-line error.
            from interlock.agent import validate_question

            validate_question(args.question, settings.max_question_chars)
        with EmbeddedStack(settings) as live:
            if args.command == "serve":
                return _serve(live)
            return asyncio.run(_ask(live, args))
    except (InterlockError, ConfigError, FileNotFoundError) as exc:
        print(f"interlock: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

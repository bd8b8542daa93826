"""The benchmark sections: each measures a group of figures and states the conditions.

Imports of optional parts happen inside each section, so a missing one makes
only its own figures null (:class:`SectionUnavailable`).
"""

from __future__ import annotations

from typing import Any

from evals.bench.figures import BenchContext, BenchFigure, SectionUnavailable

__all__ = ["accuracy_section", "audit_section", "casbin_section", "chat_section", "checkpoint_section",
           "gate_section", "retrieval_section", "scale_section", "turn_section"]


def _large_policy(ctx: BenchContext) -> Any:
    """The generated 1,000-rule policy, built once per run (loading its YAML takes seconds)."""
    from evals.bench.gate import large_policy
    from tools import default_catalog

    if "policy_1000" not in ctx.shared:
        ctx.shared["policy_1000"] = large_policy(ctx.tmp / "policy-1000", default_catalog(), rules=1000)
    return ctx.shared["policy_1000"]


def gate_section(ctx: BenchContext) -> list[BenchFigure]:
    """Gate decision latency, default policy and a generated 1,000-rule policy, warm and uncached."""
    from evals.bench.gate import gate_latency
    from guardrails.policy.loader import load_policy
    from tools import default_catalog

    catalog = default_catalog()
    n = 5000 if ctx.quick else 50000
    big = _large_policy(ctx)
    figures = []
    for label, policy, rules in (("", load_policy(), "default policy"), ("_1000_rules", big, "1,000-rule policy")):
        p50, p99 = gate_latency(policy, catalog, n=n)
        c50, c99 = gate_latency(policy, catalog, n=n // 5, cache=False)
        cond = (f"{rules}, {n:,} mixed calls (30 % name a PO, 20 % a site, random user and tool), per-(user, tool) "
                "cache warm, wall clock per call (perf_counter_ns)")
        cold = f"{rules}, {n // 5:,} calls, the per-(user, tool) part recomputed on every call"
        figures += [
            BenchFigure(f"policy_decision{label}_p50_us", p50, "µs", "<= 5", cond),
            BenchFigure(f"policy_decision{label}_p99_us", p99, "µs", "", cond),
            BenchFigure(f"policy_decision{label}_uncached_p50_us", c50, "µs", "", cold),
            BenchFigure(f"policy_decision{label}_uncached_p99_us", c99, "µs", "", cold),
        ]
    return figures


def casbin_section(ctx: BenchContext) -> list[BenchFigure]:
    """pycasbin on an equivalent RBAC model and policy, the same requests, in the same run (interleaved)."""
    try:
        import casbin  # noqa: F401 - only to know whether it is installed
    except ImportError:
        raise SectionUnavailable("pycasbin is not installed (pip install pycasbin; a dev dependency)") from None
    from importlib.metadata import version

    from evals.bench.casbin_rbac import casbin_enforcer, casbin_rules, check_equivalence, compare_latency, requests_for
    from guardrails.policy.loader import load_policy
    from tools import default_catalog

    catalog = default_catalog()
    figures: list[BenchFigure] = []
    cases = (("", load_policy(), None, 2 if ctx.quick else 10, "default policy"),
             ("_1000_rules", _large_policy(ctx), 15 if ctx.quick else 100, 1,
              "1,000-rule policy"))
    for label, policy, limit, rounds, name in cases:
        requests = requests_for(policy, catalog, limit=limit)
        enforcer = casbin_enforcer(policy, catalog)
        mismatches = check_equivalence(policy, catalog, requests, enforcer)
        if mismatches:
            first = mismatches[0]
            raise RuntimeError(f"pycasbin export is not equivalent on {len(mismatches)} of {len(requests)} requests "
                               f"({name}), e.g. {first.request}: gate allows={first.gate_allows}")
        p_lines, g_lines, g2_lines = casbin_rules(policy, catalog)
        ctx.progress(f"{name}: {len(requests)} requests equivalent")
        result = compare_latency(policy, catalog, requests, rounds=rounds, enforcer=enforcer)
        cond = (f"pycasbin {version('pycasbin')} Enforcer, RBAC with domains (user→role per site, tool→data domain, "
                f"deny-overrides), {name}: {len(p_lines)} p + {len(g_lines)} g + {len(g2_lines)} g2 lines; "
                f"{result.requests} (user, tool, site) requests × {result.rounds} round(s), the same decisions as our "
                f"gate on every one (checked in this run); both warm, interleaved rounds")
        figures += [
            BenchFigure(f"pycasbin_rbac{label}_p50_us", result.casbin_p50_us, "µs", "", cond),
            BenchFigure(f"pycasbin_rbac{label}_p99_us", result.casbin_p99_us, "µs", "", cond),
            BenchFigure(f"policy_same_requests{label}_p50_us", result.ours_p50_us, "µs", "",
                        f"our gate on the same requests as pycasbin ({name}), decide(user, tool, {{site_id}})"),
            BenchFigure(f"policy_vs_pycasbin{label}", result.casbin_p50_us / result.ours_p50_us, "×", "",
                        f"pycasbin p50 ÷ our gate p50 on the same {result.requests} requests ({name})"),
        ]
    return figures


def audit_section(ctx: BenchContext) -> list[BenchFigure]:
    """Durable audit appends (group commit, chain kept) and chain verification."""
    import time

    from evals.bench.audit import measure_append_throughput, measure_verify_throughput
    from guardrails.audit.log import AuditLog
    from tools import make_engine

    events = 3000 if ctx.quick else 50000
    figures = []
    for batch in (10, 100, 1000):
        engine = make_engine(f"sqlite:///{ctx.tmp / f'audit-{batch}.db'}")
        try:
            rate = measure_append_throughput(engine, events=events, batch=batch)
            key = "audit_append_per_s" if batch == 100 else f"audit_append_batch{batch}_per_s"
            conditions = (f"SQLite WAL, synchronous=FULL (fsync per commit), {events:,} events, group commit of "
                          f"{batch} events per transaction, hash chain kept, wall clock")
            figures.append(BenchFigure(key, rate, "events/s", ">= 20000" if batch == 100 else "", conditions))
            if batch == 100:
                workers = AuditLog.verify_workers(events)
                figures.append(BenchFigure(
                    "audit_verify_per_s", measure_verify_throughput(engine), "events/s", ">= 500000",
                    f"full chain walk over {events:,} events (every hash recomputed from the stored text; a row "
                    f"that failed would have its payload parsed and re-encoded), seq ranges checked by the verifying "
                    f"thread and {workers} worker process(es) (one per further core, started inside the timed "
                    f"part), links joined after, wall clock"))
                figures.append(BenchFigure(
                    "audit_verify_cpu_per_s", measure_verify_throughput(engine, clock=time.thread_time, workers=0),
                    "events/CPU-s", "", f"the same walk over {events:,} events without worker processes, per CPU "
                                        f"second of the verifying thread (steadier than wall clock on a loaded "
                                        f"machine)"))
        finally:
            engine.dispose()
    return figures + _group_commit_figures(ctx)


def _group_commit_figures(ctx: BenchContext) -> list[BenchFigure]:
    """16 concurrent appenders of 12-event turns at FULL sync: group commit vs one commit per turn, interleaved."""
    from evals.bench.audit import ConcurrentAppends, measure_concurrent_appends
    from tools import make_engine

    appenders, events_per_turn, turns = 16, 12, (5 if ctx.quick else 25)
    runs: dict[bool, list[ConcurrentAppends]] = {True: [], False: []}
    for round_ in range(3):
        for grouped in ((True, False) if round_ % 2 == 0 else (False, True)):  # A/B, B/A, A/B
            engine = make_engine(f"sqlite:///{ctx.tmp / f'audit-concurrent-{grouped}-{round_}.db'}")
            try:
                runs[grouped].append(measure_concurrent_appends(
                    engine, appenders=appenders, turns=turns, events_per_turn=events_per_turn, group_commit=grouped))
            finally:
                engine.dispose()
    figures = []
    for grouped, name in ((True, "group"), (False, "per_turn")):
        total = ConcurrentAppends(sum(r.events for r in runs[grouped]), sum(r.commits for r in runs[grouped]),
                                  sum(r.seconds for r in runs[grouped]))
        conditions = (f"SQLite WAL, synchronous=FULL, {appenders} threads x {turns} turns of {events_per_turn} "
                      f"events on one log, {'group commit' if grouped else 'one commit per turn'}, 3 runs "
                      f"interleaved with the other mode, {total.events:,} events in {total.commits:,} commits, "
                      f"wall clock")
        figures += [
            BenchFigure(f"audit_16x12_{name}_commits_per_s", total.commits_per_s, "commits/s", "", conditions),
            BenchFigure(f"audit_16x12_{name}_events_per_commit", total.events_per_commit, "events/commit", "",
                        conditions),
            BenchFigure(f"audit_16x12_{name}_events_per_s", total.events_per_s, "events/s", "", conditions),
        ]
    return figures


def turn_section(ctx: BenchContext) -> list[BenchFigure]:
    """CPU per turn, governed graph vs a bare ReAct agent, and the governance work alone."""
    from evals.bench.plant import demo_plant_url
    from evals.bench.turn import turn_cpu

    factory = ctx.runtimes()
    today = factory.settings.today
    rounds, turns = (3, 4) if ctx.quick else (15, 12)
    result = turn_cpu(demo_plant_url(ctx.tmp, today), ctx.tmp, today, factory=factory, rounds=rounds, turns=turns)
    cond = (f"{rounds} interleaved rounds × {turns} turns per agent (order rotated each round), each turn a fresh "
            "thread: scripted model → 1 read tool → answer from its result, as eve.exec (allowed all four tools); "
            "same SQLite checkpointer kind and LangGraph durability for both (the copilot's 'exit': one checkpoint "
            "per turn); process CPU time (all threads); "
            "bare = langgraph.prebuilt.create_react_agent with the same model and tools, no governance")
    parts = ", ".join(f"{k} {v:.2f}" for k, v in result.components_ms.items())
    stored = "; ".join(f"{agent} turn stores {c:.0f} checkpoints + {w:.0f} channel writes"
                       for agent, (c, w) in result.storage.items())
    cond = f"{cond}; {stored}"
    extra: list[BenchFigure] = []
    if not ctx.quick:  # what the ratio is when every step is checkpointed (LangGraph's default), both agents alike
        ctx.progress("again with durability='async'")
        per_step = turn_cpu(demo_plant_url(ctx.tmp, today), ctx.tmp, today, factory=factory, rounds=10,
                            turns=turns, durability="async")
        extra.append(BenchFigure(
            "governed_turn_ratio_durability_async", per_step.ratio.median, "×", "",
            f"diagnostic: both agents with LangGraph's default durability='async' (one checkpoint per step): "
            f"governed {per_step.governed_ms.median:.1f} ms, bare {per_step.bare_ms.median:.1f} ms per turn "
            f"({per_step.ratio.describe()}); otherwise as governed_turn_ratio"))
    ctx.progress("governed turns answered by the rules model")
    from evals.bench.rules_turn import rules_turn_figures

    extra += rules_turn_figures(ctx)
    return [
        *extra,
        BenchFigure("governed_turn_ratio", result.ratio.median, "×", "<= 1.15",
                    f"median of per-round governed ÷ bare ({result.ratio.describe()}); {cond}"),
        BenchFigure("governance_cpu_ms_per_turn", result.governance_ms.median, "ms", "<= 1",
                    f"policy, screening and audit work inside the governed turns, this thread's CPU, wrapper cost "
                    f"subtracted ({result.governance_ms.describe()}); by component (ms): {parts}"),
        BenchFigure("governed_turn_cpu_ms", result.governed_ms.median, "ms", "",
                    f"{result.governed_ms.describe()}; {cond}"),
        BenchFigure("bare_turn_cpu_ms", result.bare_ms.median, "ms", "", f"{result.bare_ms.describe()}; {cond}"),
    ]


def checkpoint_section(ctx: BenchContext) -> list[BenchFigure]:
    """Checkpoint database growth per turn at the start and the end of a long thread, and what it stores in all."""
    from evals.bench.checkpoint import checkpoint_growth
    from evals.bench.plant import demo_home

    factory = ctx.runtimes()
    turns = 40 if ctx.quick else 200
    growth = checkpoint_growth(demo_home(ctx.tmp, factory.settings.today), factory=factory, turns=turns,
                               progress=ctx.progress)
    cond = (f"one thread of {turns} turns as pat.planner with the rules model (questions cycled from a fixed list), "
            f"SQLite checkpointer; bytes = checkpoints + writes tables (page-level, dbstat) after each turn; "
            f"KEEP_TURNS={growth.keep_turns}; superseded checkpoints pruned after every run (the copilot's default)")
    figures = [
        BenchFigure("checkpoint_bytes_per_turn_first_20", growth.first_20, "bytes", "", f"turns 1–20; {cond}"),
        BenchFigure("checkpoint_bytes_per_turn_last_20", growth.last_20, "bytes", "",
                    f"turns {turns - 19}–{turns}; {cond}"),
    ]
    if growth.first_20 > 0:
        figures.append(BenchFigure(
            "checkpoint_growth_last_vs_first", growth.last_20 / growth.first_20, "×", "<= 2",
            "last-20 ÷ first-20 bytes per turn: close to 1 means linear growth (bounded state per checkpoint), "
            "0 means the thread stopped growing"))
    else:
        figures.append(BenchFigure.missing(
            "checkpoint_growth_last_vs_first",
            f"the first 20 turns added {growth.first_20:.0f} bytes per turn: no growth to compare against",
            unit="×", goal="<= 2"))
    ratio_cond = (f"checkpoint-table bytes after turn {turns} ({growth.sizes[-1]:,}) ÷ UTF-8 bytes of the thread's "
                  f"{turns} questions and {turns} answers ({growth.raw_message_bytes:,}); the latest state holds "
                  f"{growth.kept_message_bytes:,} bytes of message content (the last {growth.keep_turns} turns); "
                  f"{cond}")
    if not ctx.quick:  # the same thread with every checkpoint kept, for comparison
        ctx.progress("again without pruning")
        twin = ctx.tmp.parent / f"{ctx.tmp.name}-unpruned"  # a sibling: the same demo plant is copied in
        kept_all = checkpoint_growth(demo_home(twin, factory.settings.today), factory=factory, turns=turns,
                                     prune=False)
        ratio_cond += (f"; without pruning the same thread stores {kept_all.sizes[-1]:,} bytes "
                       f"({kept_all.stored_vs_raw:.2f}× its {kept_all.raw_message_bytes:,} raw message bytes)")
    figures.append(BenchFigure("checkpoint_bytes_vs_raw_messages", growth.stored_vs_raw, "×", "<= 2", ratio_cond))
    return figures


def retrieval_section(ctx: BenchContext) -> list[BenchFigure]:
    """Knowledge-base retrieval latency over 10k chunks, query embedding latency and recall@5."""
    from evals.bench.retrieval import retrieval_figures

    return retrieval_figures(ctx)


def chat_section(ctx: BenchContext) -> list[BenchFigure]:
    """HTTP chat throughput and p99 latency at concurrency 16 with the rules model, one worker and two; server and
    client CPU per turn; a worker's memory."""
    from evals.bench.chat import chat_figures

    return chat_figures(ctx)


def scale_section(ctx: BenchContext) -> list[BenchFigure]:
    """Throughput and p99 of 1 and 2 workers on Postgres + a Chroma server, with the run's invariants checked."""
    from evals.bench.scale import scale_figures

    return scale_figures(ctx)


def accuracy_section(ctx: BenchContext) -> list[BenchFigure]:
    """The rules model's answer accuracy."""
    from evals.bench.accuracy import accuracy_figures

    return accuracy_figures(ctx)

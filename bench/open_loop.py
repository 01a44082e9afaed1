"""Open-loop load: questions arrive as a Poisson process, not in synchronized bursts.

N learners are connected; together they ask at N / T questions per second (each learner on
average every T seconds), at exponentially distributed gaps drawn from a seeded generator. An
arrival goes to a learner whose previous reply has finished (a tab asks one question at a time);
with none idle it is counted as `no_idle_learner` and skipped. The same schedule is then
replayed through the bare SDK, so the added TTFT compares the same streams at the same moments.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from bench import metrics, procs
from bench.load import Learner, LoopLag, Stream, direct, question, sdk_client
from bench.phases import Pids, Workload, cpu_counters, other_load


def schedule(learners: int, mean_interval_s: float, duration_s: float, seed: int) -> list[float]:
    """Arrival offsets in seconds from the phase start: a Poisson process of rate N / T."""
    rng = random.Random(seed)
    rate = learners / mean_interval_s
    offsets: list[float] = []
    now = rng.expovariate(rate)
    while now < duration_s:
        offsets.append(now)
        now += rng.expovariate(rate)
    return offsets


async def _run(
    offsets: list[float],
    tag: str,
    load: Workload,
    fake: procs.Fake,
    pids: Pids,
    ask: Callable[[Stream, str, asyncio.Event], Awaitable[None]] | None,
    learners: list[Learner] | None = None,
) -> dict:
    """Fire each arrival at its offset; wait for every stream; match with the fake's timings."""
    released = asyncio.Event()
    released.set()  # no barrier: each question goes at its own time
    idle = list(learners or [])
    rng = random.Random(len(offsets))
    streams: list[Stream] = []
    tasks: list[asyncio.Task] = []
    in_flight: list[int] = []
    skipped = 0

    async def site_turn(learner: Learner, stream: Stream, text: str) -> None:
        try:
            await learner.ask(stream, text, released, load.round_timeout)
        finally:
            idle.append(learner)

    before, started = cpu_counters(pids), time.monotonic()
    with LoopLag() as lag:
        for i, offset in enumerate(offsets):
            await asyncio.sleep(max(0.0, started + offset - time.monotonic()))
            stream = Stream(f"{tag}a{i}")
            text = question(load.ttft_ms, load.rate, load.tokens, stream.key)
            in_flight.append(sum(1 for t in tasks if not t.done()))
            if learners is None:
                assert ask is not None
                tasks.append(asyncio.create_task(ask(stream, text, released)))
            elif idle:
                learner = idle.pop(rng.randrange(len(idle)))
                tasks.append(asyncio.create_task(site_turn(learner, stream, text)))
            else:
                skipped += 1
                continue
            streams.append(stream)
        await asyncio.gather(*tasks)
    wall = time.monotonic() - started
    after = cpu_counters(pids)
    timings = await asyncio.to_thread(fake.timings)
    await asyncio.to_thread(fake.reset)
    rows = [
        metrics.analyse(
            s, timings["timings"].get(s.key, []), timings["arrivals"].get(s.key), load.tokens
        )
        for s in streams
    ]
    cpu = {name: after[name] - before[name] for name in after}
    summary = metrics.summarise(rows)
    tokens = sum(r["tokens_received"] for r in rows)
    summary |= {
        "arrivals": len(offsets),
        "no_idle_learner": skipped,
        "wall_s": wall,
        "in_flight_at_arrival": metrics.spread([float(x) for x in in_flight]),
        "ttft_values_ms": [r["ttft_ms"] for r in rows if r["ttft_ms"] is not None],
        "cpu_s": cpu,
        "cpu_util": {name: seconds / wall for name, seconds in cpu.items()},
        "other_load": other_load(cpu, wall, pids),
        "generator_loop_lag_ms": metrics.spread(lag.lags_ms),
        "fake_aborted_streams": timings["aborted"],
    }
    if "daphne" in cpu and rows:
        summary["daphne_cpu_us_per_token"] = cpu["daphne"] / tokens * 1e6 if tokens else None
        summary["daphne_cpu_ms_per_turn"] = cpu["daphne"] / len(rows) * 1e3
    return summary


async def run(
    learners: list[Learner],
    mean_interval_s: float,
    duration_s: float,
    load: Workload,
    fake: procs.Fake,
    pids: Pids,
    model: str,
    seed: int = 1,
) -> dict:
    """The open-loop phase: the site with `learners` connected, then the same schedule direct."""
    from bench.phases import connect_all

    offsets = schedule(len(learners), mean_interval_s, duration_s, seed)
    out: dict = {
        "learners": len(learners),
        "mean_interval_s": mean_interval_s,
        "duration_s": duration_s,
        "offered_per_s": len(learners) / mean_interval_s,
    }
    out["connect"] = await connect_all(learners, pids, concurrency=32)
    try:
        out["site"] = await _run(offsets, "ol-s", load, fake, pids, None, learners)
    finally:
        await asyncio.gather(*(x.close() for x in learners), return_exceptions=True)
    client = sdk_client(fake.api)

    async def ask(stream: Stream, text: str, start: asyncio.Event) -> None:
        await direct(client, stream, text, start, load.round_timeout, model)

    try:
        out["direct"] = await _run(offsets, "ol-d", load, fake, pids, ask)
    finally:
        await client.close()
    median = out["direct"]["ttft_ms"]["p50"] or 0.0
    out["added_ttft_ms"] = metrics.spread([t - median for t in out["site"]["ttft_values_ms"]])
    return out

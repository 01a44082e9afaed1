"""One measured phase: N concurrent streams, R rounds, through the site or through the bare SDK."""

from __future__ import annotations

import asyncio
import resource
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench import metrics, procs
from bench.load import Learner, LoopLag, Stream, direct, question, sdk_client


@dataclass(frozen=True)
class Workload:
    ttft_ms: float
    rate: float
    tokens: int
    rounds: int
    round_timeout: float
    quiet_wait: float = 0.0  # max seconds to wait, before each round, for other load to pass


@dataclass
class Pids:
    daphne: int | None  # the first (or only) daphne process
    fake: int
    more_daphnes: tuple[int, ...] = ()  # the others, behind nginx (--topology nginx)
    nginx: int | None = None  # its master process; the workers are found as its children
    pinned: bool = True  # daphne alone on core 0, fake and generator on core 1

    @property
    def daphnes(self) -> list[int]:
        return ([self.daphne] if self.daphne is not None else []) + list(self.more_daphnes)


def cpu_counters(pids: Pids) -> dict[str, float]:
    """Cumulative CPU seconds: ours per process (and daphne's loop thread), and each core's."""
    usage = resource.getrusage(resource.RUSAGE_SELF)  # the generator: every thread of this process
    out = {"fake": procs.cpu_seconds(pids.fake), "generator": usage.ru_utime + usage.ru_stime}
    if pids.daphnes:
        out["daphne"] = sum(procs.cpu_seconds(pid) for pid in pids.daphnes)
        # The loop thread alone; the rest is mostly the one thread running database_sync_to_async.
        out["daphne_loop"] = sum(
            procs.thread_cpu_seconds(pid).get(pid, 0.0) for pid in pids.daphnes
        )
    if pids.nginx is not None:
        out["nginx"] = sum(procs.cpu_seconds(pid) for pid in procs.family(pids.nginx))
    out |= {f"core{core}": busy for core, busy in procs.core_busy_seconds().items()}
    return out


def other_load(cpu: dict[str, float], wall: float, pids: Pids) -> dict[str, float]:
    """Share of the cores used by processes that are not part of the benchmark.

    Pinned, per core (daphne's core 0, the harness's core 1); unpinned (several daphnes and
    nginx share every core), one figure for the whole machine.
    """
    if not pids.pinned:
        cores = [name for name in cpu if name.startswith("core")]
        ours = sum(cpu.get(name, 0.0) for name in ("daphne", "nginx", "fake", "generator"))
        busy = sum(cpu[name] for name in cores)
        return {"all": max(0.0, busy - ours) / wall / max(1, len(cores))}
    ours = {0: cpu.get("daphne", 0.0), 1: cpu["fake"] + cpu["generator"]}
    return {
        f"core{core}": max(0.0, cpu[f"core{core}"] - mine) / wall
        for core, mine in ours.items()
        if f"core{core}" in cpu
    }


async def _round(
    keys: list[str],
    ask: Callable[[Stream, str, asyncio.Event], Awaitable[None]],
    load: Workload,
    fake: procs.Fake,
    pids: Pids,
) -> tuple[list[dict], dict]:
    """Release every stream at once, wait for all, then match them with the fake's timings."""
    streams = [Stream(key) for key in keys]
    start = asyncio.Event()
    tasks = [
        asyncio.create_task(ask(s, question(load.ttft_ms, load.rate, load.tokens, s.key), start))
        for s in streams
    ]
    # This box may be shared (other test runs): wait a little for a quiet moment, and record
    # what else ran during the round either way (other_load below).
    quiet = await asyncio.to_thread(procs.wait_quiet, load.quiet_wait) if load.quiet_wait else {}
    await asyncio.sleep(0.05)  # every task is now parked on the barrier
    before, started = cpu_counters(pids), time.monotonic()
    with LoopLag() as lag:
        start.set()
        await asyncio.gather(*tasks)
    wall = time.monotonic() - started
    after = cpu_counters(pids)
    timings = await asyncio.to_thread(fake.timings)
    await asyncio.to_thread(fake.reset)  # keep the fake's memory flat across a long run
    rows = [
        metrics.analyse(
            s, timings["timings"].get(s.key, []), timings["arrivals"].get(s.key), load.tokens
        )
        for s in streams
    ]
    info = metrics.summarise_round(rows, wall)
    cpu = {name: after[name] - before[name] for name in after}
    info["cpu_s"] = cpu
    info["cpu_util"] = {name: seconds / wall for name, seconds in cpu.items()}
    info["core1_util"] = (cpu["fake"] + cpu["generator"]) / wall
    info["other_load"] = other_load(cpu, wall, pids)
    info["quiet_wait"] = quiet
    info["generator_loop_lag_ms"] = metrics.spread(lag.lags_ms)
    info["fake_aborted_streams"] = timings["aborted"]
    return rows, info


def _pool(rows: list[dict], rounds: list[dict], cpu_name: str) -> dict:
    summary = metrics.summarise(rows)
    tokens = sum(r["tokens_received"] for r in rounds)
    seconds = sum(r["cpu_s"][cpu_name] for r in rounds)
    summary["rounds"] = rounds
    summary["ttft_values_ms"] = [r["ttft_ms"] for r in rows if r["ttft_ms"] is not None]
    summary[f"{cpu_name}_cpu_us_per_token"] = seconds / tokens * 1e6 if tokens else None
    summary[f"{cpu_name}_cpu_ms_per_turn"] = seconds / len(rows) * 1e3 if rows else None
    summary["agg_relayed_tps_min"] = min((r["agg_relayed_tps"] or 0 for r in rounds), default=0)
    summary["core1_util_max"] = max((r["core1_util"] for r in rounds), default=0)
    return summary


async def run_direct(
    n: int, tag: str, load: Workload, fake: procs.Fake, pids: Pids, model: str
) -> dict:
    """Floor 1: the same streams straight from this process through AsyncAnthropic."""
    client = sdk_client(fake.api)
    rows: list[dict] = []
    rounds: list[dict] = []

    async def ask(stream: Stream, text: str, start: asyncio.Event) -> None:
        await direct(client, stream, text, start, load.round_timeout, model)

    try:
        for r in range(load.rounds):
            keys = [f"{tag}r{r}l{i}" for i in range(n)]
            got, info = await _round(keys, ask, load, fake, pids)
            rows += got
            rounds.append(info)
    finally:
        await client.close()
    return _pool(rows, rounds, "generator")


async def run_site(
    learners: list[Learner],
    tag: str,
    load: Workload,
    fake: procs.Fake,
    pids: Pids,
    connect_concurrency: int,
) -> dict:
    """N signed-in sockets, connected first, then R rounds of one question each."""
    connect_info = await connect_all(learners, pids, connect_concurrency)
    rows: list[dict] = []
    rounds: list[dict] = []
    by_key: dict[str, Learner] = {}  # this round's marker id -> its learner

    async def ask(stream: Stream, text: str, start: asyncio.Event) -> None:
        await by_key[stream.key].ask(stream, text, start, load.round_timeout)

    try:
        for r in range(load.rounds):
            by_key.clear()
            by_key.update({f"{tag}r{r}l{i}": learner for i, learner in enumerate(learners)})
            got, info = await _round(list(by_key), ask, load, fake, pids)
            info["daphne_rss_mib"] = sum(procs.rss_mib(pid) for pid in pids.daphnes)
            rows += got
            rounds.append(info)
            await asyncio.sleep(0.5)  # let the finished turns' last writes settle
    finally:
        await asyncio.gather(*(x.close() for x in learners), return_exceptions=True)
    summary = _pool(rows, rounds, "daphne")
    summary["connect"] = connect_info
    return summary


async def connect_all(learners: list[Learner], pids: Pids, concurrency: int) -> dict:
    """Open every learner's socket, `concurrency` at a time; what that cost the site."""
    gate = asyncio.Semaphore(concurrency)

    async def connect(learner: Learner) -> None:
        async with gate:  # daphne (twisted) listens with a backlog of 50: don't SYN-flood it
            await learner.connect(timeout=30)

    before, started = cpu_counters(pids), time.monotonic()
    await asyncio.gather(*(connect(learner) for learner in learners))
    wall, after = time.monotonic() - started, cpu_counters(pids)
    handshakes = [x.handshake_ms for x in learners if x.handshake_ms is not None]
    return {
        "wall_s": wall,
        "handshake_ms": metrics.spread(handshakes),
        "errors": [f"{x.name}: {x.error}" for x in learners if x.error][:10],
        "error_count": sum(1 for x in learners if x.error),
        "daphne_cpu_ms_per_socket": (after["daphne"] - before["daphne"]) / len(learners) * 1e3,
        "daphne_rss_mib": sum(procs.rss_mib(pid) for pid in pids.daphnes),
    }


STATUS_QUERY = (
    "SELECT m.status, COUNT(*) FROM tutor_message m"
    " JOIN tutor_conversation c ON c.id = m.conversation_id"
    " JOIN auth_user u ON u.id = c.user_id"
    " WHERE m.role = 'assistant' AND u.username LIKE {} GROUP BY m.status"
)


def db_status(database: Path | str, prefix: str) -> dict[str, int]:
    """Assistant rows of these learners by status, read-only (the site keeps writing)."""
    if str(database).startswith("postgres"):
        import psycopg

        with psycopg.connect(str(database)) as db:
            rows = db.execute(STATUS_QUERY.format("%s"), (prefix + "-%",)).fetchall()
        return dict(rows)
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as db:
        rows = db.execute(STATUS_QUERY.format("?"), (prefix + "-%",)).fetchall()
    return dict(rows)

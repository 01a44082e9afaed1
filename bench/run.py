"""Benchmark the tutor's relay: daphne, a fake Anthropic API, N learners on websockets.

    .venv/bin/python -m bench.run --learners 1,50,200 --ttft-ms 300 --rate 50 --tokens 150 \\
        --open-loop 200 --out bench/results/latest.json

For each N it first runs floor 1 (the same streams straight through AsyncAnthropic from this
process), then the site (N signed-in sockets, one question each per round, all released by one
barrier). --open-loop adds a phase of Poisson arrivals (bench/open_loop.py); --topology nginx
runs the site as deployed, nginx in front of several daphnes (bench/topology.py). See
bench/README.md for the columns. Every run stops by itself: each round has a timeout and the
whole run a deadline (--max-seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from bench import metrics, open_loop, phases, procs, report, topology
from bench.load import Learner
from course.model_catalogue import parse_model_data

SITE_CORE, HARNESS_CORE = 0, 1  # C.4: the system under test alone on core 0


def options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", default="1,50,200", help="comma-separated N steps")
    parser.add_argument("--ttft-ms", type=float, default=300, help="fake time to first token")
    parser.add_argument("--rate", type=float, default=50, help="fake tokens (deltas) per second")
    parser.add_argument("--tokens", type=int, default=150, help="deltas per reply")
    parser.add_argument("--rounds", type=int, default=2, help="questions per learner per step")
    parser.add_argument("--lesson", default="messages-api", help="lesson slug of the socket")
    parser.add_argument("--coalesce-ms", type=int, help="TUTOR_COALESCE_MS (site default 30)")
    parser.add_argument("--connect-concurrency", type=int, default=32)
    parser.add_argument(
        "--max-seconds", type=float, default=480, help="hard deadline for the measurements"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin to cores 0 and 1")
    parser.add_argument(
        "--quiet-wait", type=float, default=15, help="max s to wait for an idle box per round"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="extra site env"
    )
    parser.add_argument(
        "--open-loop", type=int, default=0, metavar="N", help="then N learners at Poisson times"
    )
    parser.add_argument(
        "--mean-interval", type=float, default=40, help="open loop: mean s between one's questions"
    )
    parser.add_argument(
        "--open-loop-seconds", type=float, default=120, help="open loop: how long questions come"
    )
    parser.add_argument("--seed", type=int, default=1, help="open loop: the arrivals' seed")
    parser.add_argument(
        "--topology", choices=["single", "nginx"], default="single", help="see bench/README.md"
    )
    parser.add_argument("--processes", type=int, default=2, help="nginx: daphne processes")
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/course_bench",
        help="nginx: a PostgreSQL database this run drops and creates",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/13",
        help="nginx: a Redis database this run flushes",
    )
    parser.add_argument("--profile", type=Path, help="sample daphne's stacks into this JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--out", type=Path, default=Path("bench/results/latest.json"))
    args = parser.parse_args(argv)
    args.steps = [int(x) for x in args.learners.split(",") if x.strip()]
    if not (args.steps or args.open_loop) or min(args.steps, default=1) < 1:
        parser.error("need --learners N >= 1, or --open-loop N")
    if args.tokens < 2 or args.rounds < 1 or args.processes < 1 or args.mean_interval <= 0:
        parser.error("need --tokens >= 2, --rounds >= 1, --processes >= 1, --mean-interval > 0")
    if args.topology == "nginx" and args.profile:
        parser.error("--profile samples one daphne process: use it with --topology single")
    return args


def round_timeout(args: argparse.Namespace) -> float:
    expected = args.ttft_ms / 1000 + (args.tokens / args.rate if args.rate else 0)
    return 3 * expected + 30  # generous: a slow round is data, a hung one must still end


async def measure(args: argparse.Namespace, ctx: dict, results: dict) -> None:
    fake: procs.Fake = ctx["fake"]
    first, *others = ctx["daphnes"]
    pids = phases.Pids(
        daphne=first.pid,
        fake=fake.process.pid,
        more_daphnes=tuple(process.pid for process in others),
        nginx=ctx["nginx"].pid if ctx["nginx"] else None,
        pinned=ctx["pinned"],
    )
    load = phases.Workload(
        args.ttft_ms, args.rate, args.tokens, args.rounds, round_timeout(args), args.quiet_wait
    )
    url, origin, options = ctx["url"], ctx["origin"], ctx["options"]
    cookies: dict[str, str] = ctx["cookies"]
    deadline = time.monotonic() + args.max_seconds

    # Warm-up, reported apart: the first call of a process pays imports, template compilation
    # and a TCP connect that no later turn pays. Tiny and fast, so it costs a second.
    warm = phases.Workload(0, 0, 5, 1, 30)
    warm_learner = [Learner("warm", cookies["bench-warm-0000"], url, origin, options)]
    results["warmup"] = {
        "direct": await phases.run_direct(1, "dw", warm, fake, pids, args.model),
        "site": await phases.run_site(warm_learner, "sw", warm, fake, pids, 1),
    }

    for index, n in enumerate(args.steps):
        step: dict = {"learners": n}
        results["steps"].append(step)
        if time.monotonic() > deadline:
            step["skipped"] = f"deadline of {args.max_seconds:g} s reached"
            continue
        prefix = f"bench-s{index}n{n}"
        print(f"N={n}: direct SDK ...", file=sys.stderr, flush=True)
        step["direct"] = await phases.run_direct(n, f"d{index}n{n}", load, fake, pids, args.model)
        print(f"N={n}: site ...", file=sys.stderr, flush=True)
        learners = [
            Learner(name, cookies[name], url, origin, options) for name in _names(prefix, n)
        ]
        step["site"] = await phases.run_site(
            learners, f"s{index}n{n}", load, fake, pids, args.connect_concurrency
        )
        step["db_status"] = phases.db_status(ctx["database"], prefix)
        # Added TTFT: each site stream's TTFT minus what the bare SDK needed at the same N.
        median = step["direct"]["ttft_ms"]["p50"] or 0.0
        added = [t - median for t in step["site"]["ttft_values_ms"]]
        step["added_ttft_ms"] = metrics.spread(added)

    if args.open_loop:
        if time.monotonic() > deadline:
            results["open_loop"] = {"skipped": f"deadline of {args.max_seconds:g} s reached"}
            return
        n = args.open_loop
        print(f"open loop: {n} learners, one question each ~{args.mean_interval:g} s ...",
              file=sys.stderr, flush=True)  # fmt: skip
        await asyncio.to_thread(procs.wait_quiet, args.quiet_wait)
        learners = [
            Learner(name, cookies[name], url, origin, options) for name in _names("bench-ol", n)
        ]
        one = phases.Workload(args.ttft_ms, args.rate, args.tokens, 1, round_timeout(args))
        results["open_loop"] = await open_loop.run(
            learners, args.mean_interval, args.open_loop_seconds, one, fake, pids, args.model,
            args.seed,
        )  # fmt: skip
        results["open_loop"]["db_status"] = phases.db_status(ctx["database"], "bench-ol")


def _names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{i:04d}" for i in range(n)]


def _git() -> dict:
    """Which code was measured: the commit, and the files that differed from it (read-only)."""

    def git(*command: str) -> str:
        done = subprocess.run(["git", *command], cwd=procs.ROOT, capture_output=True, text=True)
        return done.stdout.rstrip("\n")  # not strip(): porcelain lines start with a space

    changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
    return {"commit": git("rev-parse", "HEAD").strip(), "modified": [line[3:] for line in changed]}


def environment(args: argparse.Namespace, pinned: bool) -> dict:
    return {
        "git": _git(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "daphne": metadata.version("daphne"),
        "channels": metadata.version("channels"),
        "anthropic": metadata.version("anthropic"),
        "websockets": metadata.version("websockets"),
        "pinned": pinned,
        "topology": {"kind": args.topology, "processes": args.processes}
        if args.topology == "nginx"
        else {"kind": "single", "processes": 1},
        "profiled": bool(args.profile),
        "workload": {
            "ttft_ms": args.ttft_ms,
            "rate": args.rate,
            "tokens": args.tokens,
            "rounds": args.rounds,
            "round_timeout_s": round_timeout(args),
        },
        "steps": [],
    }


def main(argv: list[str] | None = None) -> int:
    args = options(argv)
    # Hundreds of sockets to the site plus as many SDK streams: lift the soft file limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    # The same model the site's tutor asks for: the fake checks it against lessons/models.yaml.
    models_file = procs.ROOT / "lessons" / "models.yaml"
    models = parse_model_data(models_file.read_text(encoding="utf-8"), models_file)
    args.model = models.tutor_default
    nginx = args.topology == "nginx"
    pin = not args.no_pin and procs.cores() >= 2 and not nginx
    tmp = Path(tempfile.mkdtemp(prefix="tutor-bench-"))
    (tmp / "static").mkdir()
    ctx: dict = {"database": tmp / "bench.sqlite3", "pinned": pin, "daphnes": []}
    stack = contextlib.ExitStack()  # nginx mode: nginx, the daphnes, the PostgreSQL database
    results = environment(args, pin)
    failure = None
    started = time.monotonic()
    try:
        ctx["fake"] = procs.start_fake(HARNESS_CORE if pin else None, tmp / "fake.log")
        env = procs.site_env(dict(os.environ), tmp, ctx["fake"].api, args.coalesce_ms)
        if nginx:
            env = topology.site_env(args, env)
            topology.prepare_stores(args, stack)
            ctx["database"] = args.database_url
        env |= dict(item.split("=", 1) for item in args.set)  # e.g. DB_CONN_MAX_AGE=60
        results["site_env"] = {
            k: v for k, v in env.items() if k.startswith("TUTOR_") or k.startswith("DB_")
        }
        results["site_env_overrides"] = args.set
        groups = {"bench-warm": 1} | {f"bench-s{i}n{n}": n for i, n in enumerate(args.steps)}
        groups |= {"bench-ol": args.open_loop} if args.open_loop else {}
        print(f"migrating and creating {sum(groups.values())} learners ...", file=sys.stderr)
        ctx["cookies"] = procs.prepare_database(env, groups)
        if nginx:
            ctx |= topology.start(args, env, tmp, stack)
        else:
            port = procs.free_port()
            daphne = procs.start_daphne(
                env, port, SITE_CORE if pin else None, tmp / "daphne.log", args.profile
            )
            ctx |= {
                "daphnes": [daphne],
                "nginx": None,
                "url": f"ws://127.0.0.1:{port}/ws/tutor/{args.lesson}/",
                "origin": f"http://127.0.0.1:{port}",
                "options": {},
            }
        procs.pin_self(HARNESS_CORE if pin else None)  # after the children: they pin themselves
        # Steps are skipped once the deadline passes; wait_for cuts a step that would overrun it
        # (what it measured so far is still written below).
        asyncio.run(asyncio.wait_for(measure(args, ctx, results), args.max_seconds))
    except BaseException as error:  # write what was measured, then report the failure
        failure = error
        results["failure"] = f"{type(error).__name__}: {error}"
    finally:
        # How the work spread over the processes (round-robin through nginx: about evenly).
        alive = [d for d in ctx["daphnes"] if d.poll() is None]
        results["daphne_cpu_s_each"] = [procs.cpu_seconds(d.pid) for d in alive]
        for daphne in ctx["daphnes"]:
            procs.stop(daphne)
        stack.close()
        if args.profile and args.profile.exists():
            results["profile"] = json.loads(args.profile.read_text())
        procs.stop(ctx["fake"].process if "fake" in ctx else None)
        results["run_seconds"] = time.monotonic() - started
        for daphne_log in sorted(tmp.glob("daphne*.log")):
            # What daphne said, minus its one-line-per-socket access log.
            lines = daphne_log.read_text(errors="replace").splitlines()
            said = [line for line in lines if not line.startswith("127.0.0.1:")]
            kept = said[:60] + (["..."] + said[-60:] if len(said) > 120 else [])
            results.setdefault("daphne_log", {})[daphne_log.stem] = kept
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(report.render(results))
    print(f"\nwrote {args.out} in {results['run_seconds']:.0f} s", file=sys.stderr)
    if failure is not None:  # the partial results are written; say why they are partial
        print(f"run failed: {results['failure']}", file=sys.stderr)
        return 130 if isinstance(failure, KeyboardInterrupt) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

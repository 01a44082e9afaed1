"""Print a run's results as plain-text tables (the JSON file keeps every figure)."""

from __future__ import annotations


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pair(spread: dict, digits: int = 1) -> str:
    return f"{_f(spread.get('p50'), digits)} / {_f(spread.get('p99'), digits)}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def render(results: dict) -> str:
    w = results["workload"]
    out = [
        f"workload: ttft {w['ttft_ms']:g} ms, {w['rate']:g} tok/s, {w['tokens']} tokens, "
        f"{w['rounds']} rounds; coalesce "
        f"{results.get('site_env', {}).get('TUTOR_COALESCE_MS', '30')} ms; "
        f"pinned: {results['pinned']}; profiled: {results.get('profiled')}; "
        f"{_topology(results)}; "
        f"site env overrides: {results.get('site_env_overrides') or 'none'}",
        "",
        "Latency, ms (p50 / p99 over every stream of every round; added = site TTFT - median "
        "direct TTFT)",
    ]
    latency, throughput, per_round = [], [], []
    for step in results["steps"]:
        n, site, base = str(step["learners"]), step.get("site"), step.get("direct")
        if not site or not base:
            latency.append([n, step.get("skipped", "not run")] + ["-"] * 6)
            continue
        latency.append(
            [
                n,
                _pair(site["ttft_ms"]),
                _pair(base["ttft_ms"]),
                _pair(step["added_ttft_ms"]),
                _pair(site["request_path_ms"]),
                _pair(site["first_token_relay_ms"]),
                _pair(site["relay_ms"]),
                _pair(base["relay_ms"]),
            ]
        )
        db = step.get("db_status", {})
        throughput.append(
            [
                n,
                f"{_f(site['fidelity']['p50'], 3)} / {_f(site['fidelity']['min'], 3)}",
                _f(site["upstream_tps"]["p50"]),
                _f(site["agg_relayed_tps_min"], 0),
                _f(min(r["agg_fidelity"] or 0 for r in site["rounds"]), 3),
                _f(site["daphne_cpu_us_per_token"], 0),
                _f(site["daphne_cpu_ms_per_turn"], 1),
                # The direct phase's client is this process: its CPU per turn is the SDK's own
                # (with the harness's, so the ratio flatters the site a little).
                _f(base["generator_cpu_ms_per_turn"], 1),
                _ratio(site["daphne_cpu_ms_per_turn"], base["generator_cpu_ms_per_turn"]),
                _f(max(r["cpu_util"]["daphne"] for r in site["rounds"]) * 100, 0),
                _f(max(site["core1_util_max"], base["core1_util_max"]) * 100, 0),
                f"{site['error_count']}+{site['connect']['error_count']} / {base['error_count']}",
                f"{site['missing_tokens']}/{site['duplicate_tokens']}",
                str(sum(v for k, v in db.items() if k != "complete")),
            ]
        )
        for i, (s, d) in enumerate(zip(site["rounds"], base["rounds"], strict=False)):
            per_round.append(
                [
                    n,
                    str(i + 1),
                    _pair(s["ttft_ms"]),
                    _pair(d["ttft_ms"]),
                    _f(s["agg_relayed_tps"], 0),
                    _f(s["agg_upstream_tps"], 0),
                    _f(s["cpu_util"]["daphne"] * 100, 0),
                    _f(s["cpu_util"]["daphne_loop"] * 100, 0),
                    _other(s["other_load"]),
                    _f(s["generator_loop_lag_ms"]["p99"]),
                    _f(d["core1_util"] * 100, 0),
                ]
            )
    head = ["N", "site TTFT", "direct TTFT", "added TTFT", "send->upstream"]
    head += ["1st-token relay", "per-token relay", "direct per-token"]
    out += [_table(head, latency), "", "Throughput and cost"]
    if throughput:
        head = ["N", "fidelity p50/min", "upstream tok/s", "agg relayed tok/s", "agg ratio min"]
        head += ["daphne CPU us/tok", "CPU ms/turn", "direct CPU ms/turn", "site/direct CPU"]
        head += ["core0 % max", "core1 % max"]
        head += ["errors site/direct", "missing/dup", "DB not complete"]
        out += [_table(head, throughput), "", "Per round"]
        head = ["N", "round", "site TTFT", "direct TTFT", "relayed tok/s", "upstream tok/s"]
        head += ["daphne %", "its loop thread %", "other load c0/c1 (all) %", "gen lag p99"]
        head += ["direct: core1 %"]
        out += [_table(head, per_round)]
    out += _open_loop(results.get("open_loop"))
    for step in results["steps"] + ([results["open_loop"]] if "open_loop" in results else []):
        for phase in ("site", "direct"):
            errors = (step.get(phase) or {}).get("errors") or []
            errors += ((step.get(phase) or {}).get("connect") or {}).get("errors") or []
            label = f"N={step['learners']}" if step in results["steps"] else "open loop"
            out += [f"{label} {phase} error: {e}" for e in errors[:5]]
    return "\n".join(out)


def _topology(results: dict) -> str:
    shape = results.get("topology") or {"kind": "single", "processes": 1}
    if shape["kind"] == "nginx":
        return f"nginx in front of {shape['processes']} daphne processes (PostgreSQL, Redis)"
    return "one daphne process"


def _ratio(site: float | None, direct: float | None) -> str:
    return f"{site / direct:.2f}" if site is not None and direct else "-"


def _other(load: dict) -> str:
    if "all" in load:  # unpinned (nginx topology): one figure for the machine
        return f"({_f(load['all'] * 100, 0)})"
    return f"{_f(load.get('core0', 0) * 100, 0)} / {_f(load.get('core1', 0) * 100, 0)}"


def _open_loop(result: dict | None) -> list[str]:
    if not result:
        return []
    if "skipped" in result or "site" not in result or "direct" not in result:
        return ["", f"Open loop: {result.get('skipped', 'not run')}"]
    site, base = result["site"], result["direct"]
    db = result.get("db_status", {})
    head = ["learners", "every (s)", "arrivals", "in flight p50/max", "site TTFT", "direct TTFT"]
    head += ["added TTFT", "per-token relay", "fidelity p50/min", "CPU ms/turn", "other load %"]
    head += ["errors site/direct", "missing/dup", "DB not complete"]
    in_flight = site["in_flight_at_arrival"]
    row = [
        str(result["learners"]),
        _f(result["mean_interval_s"], 0),
        f"{site['arrivals']} ({site['no_idle_learner']} no idle)",
        f"{_f(in_flight['p50'], 0)} / {_f(in_flight['max'], 0)}",
        _pair(site["ttft_ms"]),
        _pair(base["ttft_ms"]),
        _pair(result["added_ttft_ms"]),
        _pair(site["relay_ms"]),
        f"{_f(site['fidelity']['p50'], 3)} / {_f(site['fidelity']['min'], 3)}",
        _f(site.get("daphne_cpu_ms_per_turn"), 1),
        _other(site["other_load"]),
        f"{site['error_count']}+{result['connect']['error_count']} / {base['error_count']}",
        f"{site['missing_tokens']}/{site['duplicate_tokens']}",
        str(sum(v for k, v in db.items() if k != "complete")),
    ]
    title = (
        f"Open loop: Poisson arrivals for {result['duration_s']:g} s "
        f"({result['offered_per_s']:.1f} questions/s offered), the same schedule direct"
    )
    return ["", title, _table(head, [row])]

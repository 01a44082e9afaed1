"""Turn client streams plus the fake's per-delta write times into the reported figures."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from bench.load import Stream

# Delta 0 of a default fake reply is "You asked about: …", delta i ≥ 1 is " w%04d" % i.
WORD = re.compile(r"\bw(\d{4,})\b")
HEAD = "You asked about:"


def pct(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile (no interpolation: with 2 samples p99 is the larger one)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def spread(values: list[float]) -> dict[str, float | None]:
    return {
        "n": len(values),
        "p50": pct(values, 50),
        "p99": pct(values, 99),
        "max": max(values) if values else None,
    }


def token_times(stream: Stream) -> tuple[dict[int, int], int]:
    """Receive time of each delta index, recovered from the text; and how many came twice.

    The site coalesces deltas into frames, so one frame can carry several indices: they all get
    that frame's receive time, which is when the learner could first see them.
    """
    seen: dict[int, int] = {}
    duplicates = 0
    for now, text in stream.pieces:
        indices = [0] if HEAD in text else []
        indices += [int(m) for m in WORD.findall(text)]
        for i in indices:
            if i in seen:
                duplicates += 1
            else:
                seen[i] = now
    return seen, duplicates


def analyse(stream: Stream, writes: list[int], arrival: int | None, tokens: int) -> dict:
    """Per-stream figures; times in ms, rates in tokens (deltas) per second."""
    received, duplicates = token_times(stream)
    ms = 1e-6
    out: dict = {
        "key": stream.key,
        "error": stream.error,
        "status": stream.status,
        "frames": stream.frames,
        "snapshots": stream.snapshots,
        "tokens_received": len(received),
        "tokens_written": len(writes),
        "missing": tokens - len(received),
        "duplicates": duplicates,
        "ttft_ms": (stream.first_ns - stream.send_ns) * ms if stream.first_ns else None,
        # send → the fake read the request head: auth, DB turn, prompt, SDK request build.
        "request_path_ms": (arrival - stream.send_ns) * ms if arrival else None,
        "send_ns": stream.send_ns,
        "first_write_ns": writes[0] if writes else None,
        "last_write_ns": writes[-1] if writes else None,
        "first_recv_ns": received.get(0),
        "last_recv_ns": max(received.values()) if received else None,
        "relay_ms": [(received[i] - w) * ms for i, w in enumerate(writes) if i in received],
    }
    out["first_token_relay_ms"] = out["relay_ms"][0] if 0 in received and writes else None
    last = tokens - 1
    complete = last > 0 and 0 in received and last in received and len(writes) == tokens
    # With rate 0 (the warm-up) everything can land in one frame: no rate to speak of.
    if complete and received[last] > received[0] and writes[last] > writes[0]:
        relayed = last / ((received[last] - received[0]) / 1e9)
        upstream = last / ((writes[last] - writes[0]) / 1e9)
        out |= {"relayed_tps": relayed, "upstream_tps": upstream, "fidelity": relayed / upstream}
    return out


def summarise_round(rows: list[dict], wall_s: float) -> dict:
    """Aggregate rates: every token of the round ÷ the time from the round's first send to the
    last token written (upstream) or received (relayed). Both windows open at the same instant,
    so the ratio says how far behind the upstream the last tokens reached the learners."""
    sends = [r["send_ns"] for r in rows if r["send_ns"]]
    lasts = [r["last_recv_ns"] for r in rows if r["last_recv_ns"]]
    w_lasts = [r["last_write_ns"] for r in rows if r["last_write_ns"]]
    received = sum(r["tokens_received"] for r in rows)
    written = sum(r["tokens_written"] for r in rows)
    relayed_span = (max(lasts) - min(sends)) / 1e9 if lasts and sends else 0
    upstream_span = (max(w_lasts) - min(sends)) / 1e9 if w_lasts and sends else 0
    agg_relayed = received / relayed_span if relayed_span else None
    agg_upstream = written / upstream_span if upstream_span else None
    return {
        "streams": len(rows),
        "errors": sum(1 for r in rows if r["error"]),
        "wall_s": wall_s,
        "tokens_received": received,
        "tokens_written": written,
        "agg_relayed_tps": agg_relayed,
        "agg_upstream_tps": agg_upstream,
        "agg_fidelity": agg_relayed / agg_upstream if agg_relayed and agg_upstream else None,
        "ttft_ms": spread([r["ttft_ms"] for r in rows if r["ttft_ms"] is not None]),
    }


def summarise(rows: list[dict]) -> dict:
    """Everything about one phase (one N, site or direct), all rounds pooled."""

    def values(name: str) -> list[float]:
        return [r[name] for r in rows if r.get(name) is not None]

    errors = [f"{r['key']}: {r['error']}" for r in rows if r["error"]]
    fidelity = values("fidelity")
    return {
        "streams": len(rows),
        "error_count": len(errors),
        "errors": errors[:10],  # the first few, verbatim; the count says how many
        "not_complete_seen": sum(
            1 for r in rows if r["status"] not in ("complete", "end_turn") and not r["error"]
        ),
        "missing_tokens": sum(max(0, r["missing"]) for r in rows),
        "duplicate_tokens": sum(r["duplicates"] for r in rows),
        "snapshots": sum(r["snapshots"] for r in rows),
        "frames_per_stream": pct(values("frames"), 50),
        "ttft_ms": spread(values("ttft_ms")),
        "request_path_ms": spread(values("request_path_ms")),
        "first_token_relay_ms": spread(values("first_token_relay_ms")),
        "relay_ms": spread([x for r in rows for x in r["relay_ms"]]),
        "relayed_tps": spread(values("relayed_tps")),
        "upstream_tps": spread(values("upstream_tps")),
        "fidelity": {
            "p50": pct(fidelity, 50),
            "p1": pct(fidelity, 1),
            "min": min(fidelity) if fidelity else None,
        },
    }

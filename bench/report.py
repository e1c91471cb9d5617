"""The printed table: medians over the rounds, ratios against the floor, memory, crypto costs."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable

from bench.removal import removal_verdicts
from bench.runner import BenchResults
from bench.scenarios import Scenario
from bench.wrk import WrkResult

__all__ = ["render"]

_RSS_TARGET_MIB = 150.0


def _median(runs: list[WrkResult], value: Callable[[WrkResult], float]) -> float:
    return statistics.median(value(run) for run in runs)


def _find(
    results: BenchResults, system: str, action: str, size: int | None, conns: int
) -> list[WrkResult]:
    return results.runs.get(Scenario(system, action, size, conns), [])


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def render(results: BenchResults) -> str:
    config = results.config
    lines = [
        f"stafettlogg bench: {config.database}"
        f"{' (replay cache in Redis)' if config.replay_redis_url else ''}, "
        f"{config.rounds} interleaved rounds of "
        f"{config.seconds:g} s per cell, medians; server on CPU {config.server_cpu}, "
        f"wrk on CPU {config.load_cpu}; page = {config.page} entries",
        "load average (1 min) at start / end: "
        + " / ".join(f"{load:.1f}" for load in results.load_average)
        + f" on {os.cpu_count()} CPUs (above ~2, other work shared the CPUs: figures are low)",
        "",
        f"{'scenario':<40} {'conns':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  runs",
    ]
    for scenario, runs in results.runs.items():
        per_second = _median(runs, lambda run: run.per_second)
        p50 = _median(runs, lambda run: run.p50_us / 1000)
        p99 = _median(runs, lambda run: run.p99_us / 1000)
        spread = "/".join(f"{run.per_second:.0f}" for run in runs)
        bad = sum(not run.valid for run in runs)
        flag = ""
        if bad:
            non_2xx = sum(run.non_2xx for run in runs)
            sockets = sum(run.socket_errors for run in runs)
            wraps = sum(run.wraps for run in runs)
            flag = (
                f"  {bad} INVALID ({non_2xx} non-2xx, {sockets} socket errors, "
                f"{wraps} replayed-token wraps)"
            )
        lines.append(
            f"{scenario.label:<40} {scenario.connections:>5} {per_second:>8.0f} {p50:>8.2f} "
            f"{p99:>8.2f}  {spread}{flag}"
        )
    lines += ["", *_ratios(results), "", "peak resident memory (VmHWM)"]
    for name, mib in results.peak_rss_mib.items():
        target = (
            f"target < {_RSS_TARGET_MIB:.0f} MiB: {_verdict(mib < _RSS_TARGET_MIB)}"
            if name != "floor"
            else ""
        )
        lines.append(f"  {name:<38} {mib:8.1f} MiB   {target}")
    lines += ["", "crypto costs, in process (median of 5 batches)"]
    for cost in results.crypto:
        if cost.microseconds >= 1000:
            lines.append(f"  {cost.what:<52} {cost.microseconds / 1000:9.2f} ms")
        else:
            lines.append(f"  {cost.what:<52} {cost.microseconds:9.1f} µs")
    for label, profile in results.profiles.items():
        lines += [
            "",
            f"profile of logg under load: {label} ({profile.samples} samples, {profile.raw})",
        ]
        lines.append("  our functions, % of samples with them on the stack (inclusive):")
        lines += [f"    {share:5.1f}%  {name}" for name, share in profile.inclusive]
        lines.append("  innermost frame by package (where the CPU itself goes):")
        lines += [f"    {share:5.1f}%  {name}" for name, share in profile.by_package]
    lines += removal_verdicts(results.crypto)
    lines.append(f"\nwhole run: {results.wall_seconds:.0f} s")
    return "\n".join(lines)


def _ratios(results: BenchResults) -> list[str]:
    config = results.config
    top = max(config.connections)
    small, big = config.small_entries, config.big_entries
    lines = ["ratios (medians of this run)"]
    floor = _find(results, "floor", "write", None, top)
    for size in (small, big):
        writes = _find(results, "logg", "write", size, top)
        if floor and writes:
            ratio = _median(writes, lambda r: r.per_second) / _median(floor, lambda r: r.per_second)
            p99 = _median(writes, lambda r: r.p99_us / 1000)
            # Each round's own ratio too: the machine's speed drifts between rounds, and two
            # cells of one round are measured within seconds of each other.
            rounds = "/".join(
                f"{write.per_second / insert.per_second:.2f}"
                for write, insert in zip(writes, floor, strict=True)
            )
            lines.append(
                f"  logg writes / floor inserts, {size:>6}-entry log, {top} conns: "
                f"{ratio:5.2f}x  (target >= 0.6x: {_verdict(ratio >= 0.6)}; rounds {rounds}); "
                f"p99 {p99:.1f} ms (target < 50 ms: {_verdict(p99 < 50)})"
            )
    for conns in config.connections:
        reads_small = _find(results, "logg", "read", small, conns)
        reads_big = _find(results, "logg", "read", big, conns)
        if reads_small and reads_big:
            ratio = _median(reads_small, lambda r: r.per_second) / _median(
                reads_big, lambda r: r.per_second
            )
            lines.append(
                f"  time per first page, {big}-entry / {small}-entry log, {conns} conn: "
                f"{ratio:5.2f}x  (target <= 1.2x: {_verdict(ratio <= 1.2)})"
            )
    floor_reads = _find(results, "floor", "read", None, top)
    reads = _find(results, "logg", "read", small, top)
    if floor_reads and reads:
        ratio = _median(reads, lambda r: r.per_second) / _median(
            floor_reads, lambda r: r.per_second
        )
        lines.append(
            f"  logg first-page reads / floor page reads, {top} conns: {ratio:5.2f}x  (no target)"
        )
    return lines

"""How a benchmark run is shaped: durations, rounds, connections, CPUs and the database."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["BenchConfig"]

_DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class BenchConfig:
    database: str = "sqlite"  # or "postgres"
    postgres_admin_url: str = _DEFAULT_POSTGRES
    seconds: float = 5.0  # one wrk run
    warmup_seconds: float = 2.0
    rounds: int = 3
    connections: tuple[int, ...] = (1, 8)
    small_entries: int = 10
    big_entries: int = 100_000
    page: int = 10  # entries per first-page read
    crypto_page: int = 50
    profile: bool = False
    replay_redis_url: str | None = None  # logg's replay cache in Redis instead of its default
    server_cpu: int = 0
    load_cpu: int = 1

    @classmethod
    def from_args(cls, argv: Sequence[str] | None = None) -> BenchConfig:
        parser = argparse.ArgumentParser(
            prog="python -m bench",
            description="Drive logg over HTTP with wrk; see docs/performance.md",
        )
        parser.add_argument(
            "--db", choices=("sqlite", "postgres"), default=os.environ.get("BENCH_DB") or "sqlite"
        )
        parser.add_argument(
            "--postgres-url",
            default=os.environ.get("STAFETT_BENCH_POSTGRES_URL") or _DEFAULT_POSTGRES,
            help="an admin URL of a PostgreSQL server on 127.0.0.1",
        )
        parser.add_argument(
            "--seconds", type=float, default=cls.seconds, help="length of one wrk run"
        )
        parser.add_argument("--rounds", type=int, default=cls.rounds)
        parser.add_argument(
            "--big", type=int, default=cls.big_entries, help="entries in the big log"
        )
        parser.add_argument("--page", type=int, default=cls.page, help="entries per page read")
        parser.add_argument(
            "--profile", action="store_true", help="then sample logg with py-spy under load"
        )
        parser.add_argument(
            "--replay-redis",
            default=os.environ.get("STAFETT_BENCH_REPLAY_REDIS_URL") or None,
            help="run logg with its token replay cache in this Redis (redis://127.0.0.1/...)",
        )
        args = parser.parse_args(argv)
        if not 1 <= args.rounds <= 9 or not 1 <= args.seconds <= 60:
            parser.error("rounds must be 1 to 9 and seconds 1 to 60")
        if not 1 <= args.page <= 100 or not 10 <= args.big <= 1_000_000:
            parser.error("page must be 1 to 100 and big 10 to 1 000 000")
        cpus = sorted(os.sched_getaffinity(0))
        server_cpu, load_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (cpus[0], cpus[0])
        return cls(
            database=args.db,
            postgres_admin_url=args.postgres_url,
            seconds=args.seconds,
            rounds=args.rounds,
            big_entries=args.big,
            page=args.page,
            profile=args.profile,
            replay_redis_url=args.replay_redis,
            server_cpu=server_cpu,
            load_cpu=load_cpu,
        )

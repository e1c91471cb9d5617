"""One benchmark run: start the servers, set up the logs, run the rounds, measure crypto."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.config import BenchConfig
from bench.crypto_costs import CryptoCost, measure_crypto
from bench.databases import BenchDatabases
from bench.jwks import JwksServer
from bench.portal_page import measure_portal_page
from bench.profile import ProfileSummary, profile_process, summarize
from bench.removal import measure_removal
from bench.scenarios import Scenario, all_scenarios
from bench.seed import seed_entries
from bench.servers import Server, free_port, start_server
from bench.targets import FloorTarget, LoggLog, LoggTarget
from bench.tokens import BenchMinter
from bench.wrk import PreparedRequest, WrkResult, require_wrk, run_wrk, write_requests
from services.logg.database import migrate
from tests.logg.helpers import ISSUER

__all__ = ["BenchResults", "run_benchmark"]

_FIRST_GUESS = {"floor": 3000.0, "logg": 1500.0}  # requests/s, to size the first request pools


@dataclass
class BenchResults:
    config: BenchConfig
    runs: dict[Scenario, list[WrkResult]] = field(default_factory=dict)
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    crypto: list[CryptoCost] = field(default_factory=list)
    profiles: dict[str, ProfileSummary] = field(default_factory=dict)
    wall_seconds: float = 0.0
    load_average: list[float] = field(default_factory=list)  # 1-minute, at start and at end


class _Bench:
    def __init__(
        self, config: BenchConfig, scratch: Path, logg: Server, floor: Server, minter: BenchMinter
    ) -> None:
        self.config = config
        self.scratch = scratch
        self.servers = {"logg": logg, "floor": floor}
        self.logg = LoggTarget(logg.url, minter)
        self.floor = FloorTarget(floor.url, self.logg.actor)
        self.rates: dict[tuple[str, str], float] = {}
        self.small_read = self.logg.create_log(entries=config.small_entries)
        self.big = self.logg.create_log()
        self.floor.seed_read_log(config.small_entries)

    def requests(self, scenario: Scenario, count: int) -> Iterator[PreparedRequest]:
        page = self.config.page
        if scenario.system == "floor":
            if scenario.action == "write":
                return self.floor.inserts(count)
            return self.floor.reads(count, page)
        log = self.big if scenario.size == self.config.big_entries else self.small_read
        if scenario.action == "read":
            return self.logg.reads(log, count, page)
        if log is self.small_read:  # a fresh small log, so that writing does not grow it
            log = self.logg.create_log(entries=self.config.small_entries)
        return self.logg.writes(log, count)

    def run(self, scenario: Scenario, seconds: float) -> WrkResult:
        key = (scenario.system, scenario.action)
        rate = self.rates.get(key, _FIRST_GUESS[scenario.system])
        count = int(rate * 1.5 * seconds) + 500
        request_file = self.scratch / "requests.tsv"
        write_requests(request_file, self.requests(scenario, count))
        server = self.servers[scenario.system]
        result = run_wrk(
            server.url,
            request_file,
            connections=scenario.connections,
            seconds=seconds,
            cpu=self.config.load_cpu,
        )
        server.check_alive()
        self.rates[key] = max(self.rates.get(key, 0.0), result.per_second)
        return result

    def profile(self, scenario: Scenario) -> ProfileSummary:
        """Run `scenario` once more while py-spy samples its server."""
        server = self.servers[scenario.system]
        raw = _LOG_DIR / f"profile-{scenario.system}-{scenario.action}-{scenario.size}.txt"
        sampler = profile_process(
            server.process.pid, self.config.seconds, raw, self.config.load_cpu
        )
        try:
            self.run(scenario, self.config.seconds)
        finally:
            sampler.wait(timeout=self.config.seconds + 30)
        return summarize(raw)

    def crypto_costs(self) -> list[CryptoCost]:
        log: LoggLog = self.logg.create_log(entries=self.config.crypto_page)
        with httpx.Client(base_url=self.logg.base_url, timeout=10.0) as client:
            view = self._get(client, f"/stafettlogger/{log.id}")
            page = self._get(
                client, f"/stafettlogger/{log.id}/entries?limit={self.config.crypto_page}"
            )
        return measure_crypto(self.logg.actor, self.logg.minter, view, page)

    def _get(self, client: httpx.Client, path: str) -> bytes:
        token = self.logg.minter.token(self.logg.actor)
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        return response.content


def run_benchmark(config: BenchConfig, progress: bool = True) -> BenchResults:
    require_wrk()
    started = time.monotonic()
    os.sched_setaffinity(0, {config.load_cpu})  # minting and wrk stay off the server's CPU
    results = BenchResults(config)
    results.load_average.append(os.getloadavg()[0])
    with tempfile.TemporaryDirectory(prefix="stafett-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        databases = BenchDatabases(config.database, scratch, config.postgres_admin_url)
        minter = BenchMinter(ISSUER)
        jwks = JwksServer(minter.jwks())
        servers: list[Server] = []
        try:
            logg_url, floor_url = databases.url("logg"), databases.url("floor")
            servers = _start_servers(config, (logg_url, floor_url), jwks, scratch)
            logg, floor = servers
            bench = _Bench(config, scratch, logg, floor, minter)
            _say(progress, f"seeding {config.big_entries:,} entries into the big log")
            seed_entries(
                logg_url, bench.logg.actor, bench.big.id, bench.big.epoch_key, config.big_entries
            )
            scenarios = all_scenarios(config.small_entries, config.big_entries, config.connections)
            _say(progress, "warming up")
            for scenario in scenarios:
                if scenario.connections == max(config.connections):
                    bench.run(scenario, config.warmup_seconds)
            for round_number in range(1, config.rounds + 1):
                for scenario in scenarios:
                    _say(
                        progress,
                        f"round {round_number}/{config.rounds}: {scenario.label}, "
                        f"{scenario.connections} conn",
                    )
                    results.runs.setdefault(scenario, []).append(
                        bench.run(scenario, config.seconds)
                    )
            results.peak_rss_mib = {server.name: server.peak_rss_mib() for server in servers}
            _say(progress, "measuring crypto costs")
            results.crypto = bench.crypto_costs()
            results.crypto += measure_removal(bench.logg, logg_url)
            results.crypto += measure_portal_page(bench.logg)
            if config.profile:
                for scenario in scenarios:
                    wanted = scenario.system == "logg" and scenario.size == config.big_entries
                    if wanted and scenario.connections == max(config.connections):
                        _say(progress, f"profiling: {scenario.label}")
                        results.profiles[scenario.label] = bench.profile(scenario)
        finally:
            for server in servers:
                server.stop()
            jwks.close()
            databases.drop_all()
    results.wall_seconds = time.monotonic() - started
    results.load_average.append(os.getloadavg()[0])
    return results


_LOG_DIR = Path("var/bench")  # the servers' output, kept after the run


def _start_servers(
    config: BenchConfig, urls: tuple[str, str], jwks: JwksServer, scratch: Path
) -> list[Server]:
    _LOG_DIR.mkdir(parents=True, exist_ok=True)
    logg_url, floor_url = urls
    logg_port, floor_port = free_port(), free_port()
    migrate(logg_url)
    logg_env = {
        "STAFETT_MODE": "local",
        "STAFETT_DATA_DIR": str(scratch / "var"),
        "STAFETT_LOGG_DATABASE_URL": logg_url,
        "STAFETT_AUTH_URL": ISSUER,
        "STAFETT_AUTH_JWKS_URL": jwks.url,
        "STAFETT_LOGG_URL": f"http://127.0.0.1:{logg_port}",
        "STAFETT_LOG_LEVEL": "warning",
    }
    if config.replay_redis_url:
        logg_env["STAFETT_LOGG_REPLAY_REDIS_URL"] = config.replay_redis_url
    floor_env = {"STAFETT_BENCH_FLOOR_DATABASE_URL": floor_url}
    servers = [
        start_server(
            "logg",
            ["stafett", "serve", "logg"],
            port=logg_port,
            cpu=config.server_cpu,
            environ=logg_env,
            log_dir=_LOG_DIR,
        ),
    ]
    try:
        servers.append(
            start_server(
                "floor",
                ["bench.floor_app", "127.0.0.1", str(floor_port)],
                port=floor_port,
                cpu=config.server_cpu,
                environ=floor_env,
                log_dir=_LOG_DIR,
            )
        )
    except BaseException:
        servers[0].stop()
        raise
    return servers


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"bench: {message}", flush=True)

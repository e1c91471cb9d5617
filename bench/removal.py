"""What removing a participant costs logg (issue 5): a log with 20 participants, of 10 and of
10 000 entries; the target is under 20 ms of server time whatever the log's length.

Removing a participant is two requests to logg: DELETE the participant (its key grants go in
the same commit, and the log is marked for a new epoch), then POST .../epochs with the new epoch
key wrapped for the 19 who remain (services.logg.epochs). Both are timed as loopback round trips
with tokens minted and grants wrapped beforehand, so the figures are logg's time plus the
loopback HTTP overhead (an upper bound on server time). The portal's own part, wrapping the new
key for 19 participants (HPKE), is timed separately. After each removal the participant is added
back (not timed), so every removal is from 20 participants. Nothing written before is touched:
the two log lengths should cost the same.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import httpx
import msgspec

from bench.crypto_costs import CryptoCost
from bench.seed import seed_entries
from bench.targets import LoggLog, LoggTarget
from shared.crypto.envelope import new_epoch_key
from shared.wire import NewEpoch
from tests.logg.helpers import JSON, Actor, participant_body, wrap_grant

__all__ = ["REMOVAL_LABEL", "REMOVAL_TARGET_MS", "measure_removal", "removal_verdicts"]

PARTICIPANTS = 20
REMOVAL_TARGET_MS = 20.0
REMOVAL_LABEL = "remove 1 of 20 participants (logg round trips)"
_REMOVALS = 11  # per log; the median is reported
_SIZES = (10, 10_000)


@dataclass
class _World:
    log: LoggLog
    epoch: int
    others: list[Actor]  # the 19 besides the coordinator (the guardian among them)


def measure_removal(target: LoggTarget, database_url: str) -> list[CryptoCost]:
    """Median cost of removing one of 20 participants, for a 10- and a 10 000-entry log, and
    of the portal's wrapping of the next epoch key for the 19 who remain."""
    costs: list[CryptoCost] = []
    wraps: list[float] = []
    with httpx.Client(base_url=target.base_url, timeout=30.0) as client:
        worlds = {size: _twenty_participants(target, client, database_url, size) for size in _SIZES}
        timings: dict[int, list[tuple[float, float]]] = {size: [] for size in _SIZES}
        for index in range(_REMOVALS):  # the two lengths interleaved, so that noise hits both
            for size, world in worlds.items():
                timings[size].append(_remove_one(target, client, world, index, wraps))
    for size in _SIZES:
        total = statistics.median(sum(pair) for pair in timings[size]) * 1e6
        costs.append(CryptoCost(f"{REMOVAL_LABEL}, {size}-entry log", total))
    for part, name in ((0, "DELETE participant"), (1, "POST next epoch (19 grants)")):
        for size in _SIZES:
            median = statistics.median(pair[part] for pair in timings[size]) * 1e6
            costs.append(CryptoCost(f"  of which {name}, {size}-entry log", median))
    costs.append(
        CryptoCost(
            f"wrap the next epoch key for {PARTICIPANTS - 1} (portal, HPKE)",
            statistics.median(wraps) * 1e6,
        )
    )
    return costs


def removal_verdicts(costs: list[CryptoCost]) -> list[str]:
    """The report's lines: each log length against the target, and their ratio."""
    by_size = {
        size: next(
            (c.microseconds for c in costs if c.what == f"{REMOVAL_LABEL}, {size}-entry log"), None
        )
        for size in _SIZES
    }
    small, big = by_size[_SIZES[0]], by_size[_SIZES[-1]]
    if small is None or big is None:
        return []
    lines = ["", "removing a participant (20 participants; DELETE + next epoch, round trips)"]
    for size, value in by_size.items():
        assert value is not None
        ok = value / 1000 < REMOVAL_TARGET_MS
        lines.append(
            f"  {size:>6}-entry log: {value / 1000:6.2f} ms  "
            f"(target < {REMOVAL_TARGET_MS:.0f} ms: {'met' if ok else 'MISSED'})"
        )
    lines.append(f"  {_SIZES[-1]}-entry / {_SIZES[0]}-entry log: {big / small:5.2f}x")
    return lines


def _twenty_participants(
    target: LoggTarget, client: httpx.Client, database_url: str, entries: int
) -> _World:
    """A log of the bench's coordinator with 20 participants and `entries` entries (10 written
    through the API; more seeded straight into the database)."""
    log = target.create_log(entries=min(entries, 10))
    if entries > 10:
        seed_entries(database_url, target.actor, log.id, log.epoch_key, entries - 10)
    others = [target.guardian]
    while len(others) < PARTICIPANTS - 1:
        person = Actor.guardian()
        body = participant_body(log.id, log.epoch_key, person)
        _send(target, client, "POST", f"/stafettlogger/{log.id}/participants", body, 201)
        others.append(person)
    return _World(log, 1, others)


def _remove_one(
    target: LoggTarget, client: httpx.Client, world: _World, index: int, wraps: list[float]
) -> tuple[float, float]:
    """Remove one participant and start the next epoch (timed), then add them back (untimed).
    Returns the seconds logg took for each of the two requests."""
    leaver = world.others[1 + index % (len(world.others) - 1)]  # never the consenting guardian
    remaining = [target.actor, *(actor for actor in world.others if actor is not leaver)]
    epoch, key = world.epoch + 1, new_epoch_key()
    started = time.perf_counter()
    grants = [wrap_grant(world.log.id, key, actor, epoch=epoch) for actor in remaining]
    wraps.append(time.perf_counter() - started)
    body = msgspec.json.encode(NewEpoch(epoch=epoch, key_grants=grants))
    delete_token, epoch_token = target.minter.token(target.actor), target.minter.token(target.actor)
    base = f"/stafettlogger/{world.log.id}"
    started = time.perf_counter()
    removed = client.delete(
        f"{base}/participants/person/{leaver.subject}",
        headers={"Authorization": f"Bearer {delete_token}"},
    )
    between = time.perf_counter()
    rotated = client.post(
        f"{base}/epochs",
        content=body,
        headers={**JSON, "Authorization": f"Bearer {epoch_token}"},
    )
    finished = time.perf_counter()
    if removed.status_code != 204 or rotated.status_code != 201:
        raise RuntimeError(f"removal failed: {removed.status_code} {rotated.status_code}")
    world.epoch = epoch
    back = participant_body(world.log.id, key, leaver)
    back = msgspec.structs.replace(
        back, key_grants=[wrap_grant(world.log.id, key, leaver, epoch=epoch)]
    )
    _send(target, client, "POST", f"{base}/participants", back, 201)
    return between - started, finished - between


def _send(
    target: LoggTarget,
    client: httpx.Client,
    method: str,
    path: str,
    body: msgspec.Struct,
    expected: int,
) -> None:
    headers = {**JSON, "Authorization": f"Bearer {target.minter.token(target.actor)}"}
    response = client.request(method, path, content=msgspec.json.encode(body), headers=headers)
    if response.status_code != expected:
        raise RuntimeError(f"logg refused {path}: {response.status_code} {response.text}")

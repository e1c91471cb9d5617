"""What the cryptography costs, in process and without HTTP (issue 5).

- sealing and opening one entry with the portal's own functions (services.portal.sealing);
- the signature check logg makes on every write, and a service-token check;
- reading a page of 50 entries the way the portal does: decode logg's JSON page, unwrap the
  epoch key (HPKE, ML-KEM-768 + X25519), then verify and decrypt each entry. The page and the
  log's view are real responses of the logg under test, fetched before timing.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from joserfc.jwk import KeySet

from bench.tokens import BenchMinter
from services.portal.sealing import open_entry, open_epoch_keys, seal_entry, utc_timestamp
from shared.crypto.envelope import verify_envelope_signature
from shared.tokens import KeySetSource, ServiceTokenVerifier
from shared.wire import EntryPage, StafettloggView
from tests.logg.helpers import AUDIENCE, Actor, new_id

__all__ = ["CryptoCost", "measure_crypto"]

_REPEATS = 5


@dataclass(frozen=True, slots=True)
class CryptoCost:
    what: str
    microseconds: float


def _median_us(call: Callable[[], object], number: int) -> float:
    """Median over `_REPEATS` batches of the time per call, in µs."""
    batches = []
    for _ in range(_REPEATS):
        start = time.perf_counter()
        for _ in range(number):
            call()
        batches.append((time.perf_counter() - start) / number)
    return statistics.median(batches) * 1e6


def measure_crypto(
    actor: Actor, minter: BenchMinter, view_json: bytes, page_json: bytes
) -> list[CryptoCost]:
    view = msgspec.json.decode(view_json, type=StafettloggView)
    page = msgspec.json.decode(page_json, type=EntryPage)
    epoch_keys = open_epoch_keys(view, subject=actor.subject, keys=actor.keys)
    epoch_key = epoch_keys[view.current_epoch]
    public = actor.keys.public()
    signing_public = public.signing_key()

    def seal_one() -> object:
        return seal_entry(
            view.id,
            new_id("entry"),
            "observation",
            "Barnet hadde en god dag i barnehagen.",
            epoch=view.current_epoch,
            epoch_key=epoch_key,
            author=actor.subject,
            author_keys=actor.keys,
            created_at=utc_timestamp(),
        )

    entry = page.items[0]

    def read_page() -> object:
        decoded = msgspec.json.decode(page_json, type=EntryPage)
        keys = open_epoch_keys(view, subject=actor.subject, keys=actor.keys)
        return [open_entry(view.id, item, keys, public) for item in decoded.items]

    costs = [
        CryptoCost("seal one entry (portal seal_entry)", _median_us(seal_one, 400)),
        CryptoCost(
            "open one entry (portal open_entry)",
            _median_us(lambda: open_entry(view.id, entry, epoch_keys, public), 400),
        ),
        CryptoCost(
            "check one entry's signature (logg, on write)",
            _median_us(lambda: verify_envelope_signature(entry.sealed, signing_public), 400),
        ),
        CryptoCost(
            "unwrap the epoch key (HPKE ML-KEM-768+X25519)",
            _median_us(lambda: open_epoch_keys(view, subject=actor.subject, keys=actor.keys), 50),
        ),
        CryptoCost("check one service token (logg, every request)", _token_check_us(minter, actor)),
        CryptoCost(
            f"read a page of {len(page.items)} entries (decode, unwrap, open)",
            _median_us(read_page, 10),
        ),
    ]
    return costs


def _token_check_us(minter: BenchMinter, actor: Actor) -> float:
    number = 200
    tokens = minter.tokens(actor, number * _REPEATS)
    verifier = ServiceTokenVerifier(
        issuer=minter.issuer,
        audience=AUDIENCE,
        key_source=_static_keys(minter),
        replay_cache=None,  # the signature and claims only; logg adds its replay cache
    )

    async def batches() -> list[float]:
        results = []
        for batch in range(_REPEATS):
            start = time.perf_counter()
            for token in tokens[batch * number : (batch + 1) * number]:
                await verifier.verify(token)
            results.append((time.perf_counter() - start) / number)
        return results

    return statistics.median(asyncio.run(batches())) * 1e6


def _static_keys(minter: BenchMinter) -> KeySetSource:
    keys = KeySet.import_key_set(minter.jwks())  # type: ignore[arg-type]

    async def source(_kid: str | None) -> KeySet:
        return keys

    return source

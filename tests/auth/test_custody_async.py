"""The custody interface is asynchronous: a Vault transit call (blocking hvac HTTP) runs in a
worker thread, so the event loop keeps serving while Vault is slow; the answers and the errors
are the backend's own."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from services.auth.custody import (
    CustodyError,
    KekUnavailableError,
    KeyCustody,
    LocalKek,
    VaultTransitKek,
    as_custody,
    owner_aad,
)
from tests.auth.test_custody_vault import TOKEN, _TransitHandler, _TransitStandIn

_DELAY = 0.3  # seconds the stand-in waits before each answer: a slow Vault


class _SlowHandler(_TransitHandler):
    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        time.sleep(_DELAY)
        super().do_POST()


@pytest.fixture
def slow_vault() -> Iterator[_TransitStandIn]:
    server = _TransitStandIn()
    server.RequestHandlerClass = _SlowHandler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _custody(vault: _TransitStandIn, token: str = TOKEN) -> KeyCustody:
    return KeyCustody(VaultTransitKek(vault.url, token, mount="transit", key_name="stafett-kek"))


async def _ticks_while(work: asyncio.Future[bytes] | asyncio.Task[bytes]) -> int:
    """How often a 10 ms ticker ran on the event loop while `work` was running."""
    ticks = 0
    while not work.done():
        await asyncio.sleep(0.01)
        ticks += 1
    return ticks


def test_a_slow_vault_does_not_stall_the_event_loop(slow_vault: _TransitStandIn) -> None:
    custody = _custody(slow_vault)
    aad = owner_aad("person", "p_a")

    async def scenario() -> tuple[int, bytes, float]:
        sealing = asyncio.ensure_future(custody.seal(b"private key bytes", aad))
        ticks = await _ticks_while(sealing)
        sealed = await sealing
        started = time.monotonic()
        both = await asyncio.gather(custody.unseal(sealed, aad), custody.unseal(sealed, aad))
        assert list(both) == [b"private key bytes", b"private key bytes"]
        return ticks, sealed, time.monotonic() - started

    ticks, sealed, two_unseals = asyncio.run(scenario())

    assert sealed.startswith(b"vault:v1:")
    assert ticks >= 10  # the loop ran on through the 300 ms call (blocking: 0 or 1)
    assert two_unseals < 2 * _DELAY  # two calls waited on Vault at the same time


def test_errors_of_the_backend_come_through_the_async_interface(
    slow_vault: _TransitStandIn,
) -> None:
    good, refused = _custody(slow_vault), _custody(slow_vault, token="s.wrong")
    aad = owner_aad("person", "p_a")

    async def scenario() -> None:
        sealed = await good.seal(b"secret", aad)
        with pytest.raises(CustodyError):
            await good.unseal(sealed, owner_aad("person", "p_b"))
        with pytest.raises(KekUnavailableError):
            await refused.seal(b"secret", aad)

    asyncio.run(scenario())


def test_the_local_kek_runs_inline_and_a_custody_is_not_wrapped_twice() -> None:
    kek = LocalKek(b"k" * 32)
    custody = as_custody(kek)
    aad = owner_aad("service", "unit-a")

    async def scenario() -> bytes:
        return await custody.unseal(await custody.seal(b"keys", aad), aad)

    assert asyncio.run(scenario()) == b"keys"
    assert as_custody(custody) is custody
    assert custody.backend is kek
    assert (kek.blocks_on_io, VaultTransitKek.blocks_on_io) == (False, True)

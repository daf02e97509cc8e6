"""The generic reconnect loop: backoff, auth vs network failures, state reports, clean close."""
from __future__ import annotations

import asyncio
import logging
import random

from telephony.adapter import ConnectionState
from telephony.reconnect import AuthFailed, Backoff, Reconnector, ReconnectSettings


def cfg(initial=0.5, maximum=30.0, jitter=0.2):
    return ReconnectSettings(initial_s=initial, max_s=maximum, jitter=jitter)


def test_backoff_doubles_up_to_the_cap_without_jitter():
    backoff = Backoff(cfg(0.5, 4.0, 0.0))
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_backoff_jitter_stays_within_its_fraction_and_under_the_cap():
    backoff = Backoff(cfg(1.0, 8.0, 0.25), random.Random(3))
    delays = [backoff.next_delay() for _ in range(40)]
    assert 0.75 <= delays[0] <= 1.25 and 1.5 <= delays[1] <= 2.5
    assert all(d <= 8.0 for d in delays) and len(set(delays)) > 10


def test_auth_failure_waits_the_maximum():
    assert Backoff(cfg(0.1, 9.0, 0.5)).auth_delay() == 9.0


async def test_states_are_reported_and_a_working_connection_resets_the_backoff():
    seen: list[ConnectionState] = []
    attempts = 0

    async def connect_once(report):
        nonlocal attempts
        attempts += 1
        if attempts <= 2:
            raise ConnectionRefusedError("refused")
        report(ConnectionState.AUTHENTICATING)
        report(ConnectionState.SYNCING)
        report(ConnectionState.CONNECTED)
        if attempts == 3:
            raise ConnectionResetError("dropped")
        await asyncio.Event().wait()

    reconnector = Reconnector("test", connect_once, cfg(0.01, 0.05, 0.0), on_state=seen.append)
    reconnector.start()
    for _ in range(300):
        await asyncio.sleep(0.01)
        if attempts >= 4 and reconnector.state is ConnectionState.CONNECTED:
            break
    assert reconnector.state is ConnectionState.CONNECTED
    assert reconnector.backoff.failures == 0 and reconnector.reconnects == 1 and reconnector.connections == 2
    await reconnector.close()
    assert seen[:3] == [ConnectionState.CONNECTING, ConnectionState.BACKOFF, ConnectionState.CONNECTING]
    assert ConnectionState.AUTHENTICATING in seen and seen[-1] is ConnectionState.CLOSED


async def test_auth_failure_is_distinct_loud_and_slow(caplog):
    attempts = 0

    async def connect_once(report):
        nonlocal attempts
        attempts += 1
        raise AuthFailed("bad secret")

    reconnector = Reconnector("pbx", connect_once, cfg(0.01, 10.0, 0.0))
    reconnector.start()
    await asyncio.sleep(0.2)
    assert reconnector.state is ConnectionState.AUTH_FAILED and attempts == 1
    assert "authentication failed" in reconnector.last_error
    await reconnector.close()
    assert [r.levelno for r in caplog.records if r.name == "telephony.reconnect"] == [logging.ERROR]


async def test_network_failures_warn_once_then_debug(caplog):
    caplog.set_level(logging.DEBUG, logger="telephony.reconnect")

    async def connect_once(report):
        raise OSError("network unreachable")

    reconnector = Reconnector("pbx", connect_once, cfg(0.005, 0.01, 0.0))
    reconnector.start()
    await asyncio.sleep(0.15)
    await reconnector.close()
    levels = [r.levelno for r in caplog.records if "reconnecting" in r.getMessage()]
    assert levels[0] == logging.WARNING and len(levels) >= 3 and set(levels[1:]) == {logging.DEBUG}


async def test_unexpected_errors_do_not_kill_the_loop(caplog):
    attempts = 0

    async def connect_once(report):
        nonlocal attempts
        attempts += 1
        raise ValueError("protocol bug")

    reconnector = Reconnector("pbx", connect_once, cfg(0.005, 0.01, 0.0))
    reconnector.start()
    await asyncio.sleep(0.1)
    await reconnector.close()
    assert attempts >= 2 and "ValueError" in reconnector.last_error


async def test_close_cancels_a_connection_in_progress_and_leaves_no_task():
    started = asyncio.Event()
    cancelled = False

    async def connect_once(report):
        nonlocal cancelled
        report(ConnectionState.CONNECTED)
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled = True
            raise

    reconnector = Reconnector("pbx", connect_once, cfg())
    task = reconnector.start()
    assert reconnector.start() is task  # idempotent
    await asyncio.wait_for(started.wait(), 2)
    await reconnector.close()
    assert cancelled and task.done() and reconnector.state is ConnectionState.CLOSED
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "reconnect:pbx"]


async def test_retry_now_cuts_the_backoff_short():
    attempts = 0

    async def connect_once(report):
        nonlocal attempts
        attempts += 1
        raise OSError("down")

    reconnector = Reconnector("pbx", connect_once, cfg(30.0, 30.0, 0.0))
    reconnector.start()
    await asyncio.sleep(0.05)
    assert attempts == 1
    reconnector.retry_now()
    await asyncio.sleep(0.05)
    assert attempts == 2
    await reconnector.close()

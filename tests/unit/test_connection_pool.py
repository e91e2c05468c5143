"""The connection pool against a real sshd pod: a connection only to a confirmed endpoint and
only to the pinned key; one kept-open connection shared by every user; the pool alone closes
them (a new endpoint, a withdrawn one, a pod gone, a broken one, shutdown); subscribers are told
of every confirmation."""

from __future__ import annotations

import asyncio

from rpdevd.daemon.connections import ConnectionPool, Target
from rpdevd.sim.sshd import KeyPair, PodSSHD

POD = "testpod1"


def target(sshd: PodSSHD, key: KeyPair, host_key: str | None = None) -> Target:
    return Target(
        sshd.host,
        sshd.port,
        sshd.user,
        key.private,
        (host_key or sshd.host_public_key,),
    )


async def closed(conn: object) -> bool:
    await asyncio.wait_for(conn.wait_closed(), 10)  # type: ignore[attr-defined]
    return True


async def pod_id_over(conn: object) -> str:
    result = await conn.run("echo $RUNPOD_POD_ID", check=True)  # type: ignore[attr-defined]
    return str(result.stdout).strip()


async def test_no_connection_without_a_confirmed_endpoint(
    pod_sshd: PodSSHD, client_key: KeyPair
) -> None:
    pool = ConnectionPool()
    assert await pool.get(POD) is None
    pool.confirmed(POD, target(pod_sshd, client_key))
    pool.withdraw(POD)
    assert await pool.get(POD) is None and not pool.is_ready(POD)


async def test_one_verified_connection_is_shared(pod_sshd: PodSSHD, client_key: KeyPair) -> None:
    pool = ConnectionPool()
    pool.confirmed(POD, target(pod_sshd, client_key))
    first, second = await asyncio.gather(pool.get(POD), pool.get(POD))
    assert first is not None and first is second
    assert await pod_id_over(first) == POD
    pool.close_all()
    assert await closed(first)


async def test_a_server_without_the_pinned_key_is_refused(
    pod_sshd: PodSSHD, client_key: KeyPair
) -> None:
    """Whoever answers at the address, a connection needs the key pinned at confirmation."""
    pool = ConnectionPool()
    other = client_key.public  # a valid key, but not the server's
    pool.confirmed(POD, target(pod_sshd, client_key, host_key=" ".join(other.split()[:2])))
    assert await pool.get(POD) is None


async def test_the_pool_closes_what_is_no_longer_anyones(
    pod_sshd: PodSSHD, client_key: KeyPair
) -> None:
    pool = ConnectionPool()
    pool.confirmed(POD, target(pod_sshd, client_key))
    conn = await pool.get(POD)
    assert conn is not None
    # Confirmed again (a restart at the same address, say): the next user reconnects.
    pool.confirmed(POD, target(pod_sshd, client_key))
    assert await closed(conn)
    conn = await pool.get(POD)
    assert conn is not None and not conn.is_closed()
    # The pod left the account.
    pool.retain(["another"])
    assert await closed(conn) and await pool.get(POD) is None


async def test_a_broken_connection_is_replaced_and_a_newer_one_kept(
    pod_sshd: PodSSHD, client_key: KeyPair
) -> None:
    pool = ConnectionPool()
    pool.confirmed(POD, target(pod_sshd, client_key))
    old = await pool.get(POD)
    assert old is not None
    pool.discard(POD, old)
    new = await pool.get(POD)
    assert await closed(old) and new is not None and new is not old
    pool.discard(POD, old)  # a late report about the old one: the new one stays
    assert not new.is_closed() and await pool.get(POD) is new
    pool.close_all()


async def test_shutdown_closes_every_connection(pod_sshd: PodSSHD, client_key: KeyPair) -> None:
    pool = ConnectionPool()
    task = asyncio.create_task(pool.run())
    pool.confirmed(POD, target(pod_sshd, client_key))
    conn = await pool.get(POD)
    assert conn is not None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert await closed(conn)


async def test_subscribers_hear_of_every_confirmation_and_can_connect_then(
    pod_sshd: PodSSHD, client_key: KeyPair
) -> None:
    """What a port forward needs to come back after a restart: told at once, and a
    connection to the new endpoint to be had from that moment."""
    pool = ConnectionPool()
    heard: list[str] = []
    reconnected: list[str] = []

    def told(pod_id: str) -> None:
        heard.append(pod_id)
        assert pool.is_ready(pod_id)  # the new endpoint is there when they are told

        async def again() -> None:
            conn = await pool.get(pod_id)
            assert conn is not None
            reconnected.append(await pod_id_over(conn))

        tasks.append(asyncio.create_task(again()))

    tasks: list[asyncio.Task[None]] = []
    unsubscribe = pool.subscribe(told)
    pool.confirmed(POD, target(pod_sshd, client_key))
    await asyncio.gather(*tasks)
    await pod_sshd.stop()
    pool.withdraw(POD)  # stopped
    await pod_sshd.start()  # back, with a new port and a new host key
    pool.confirmed(POD, target(pod_sshd, client_key))
    await asyncio.gather(*tasks)
    assert heard == [POD, POD] and reconnected == [POD, POD]
    unsubscribe()
    pool.confirmed(POD, target(pod_sshd, client_key))
    assert heard == [POD, POD]
    pool.close_all()


async def test_a_waiter_is_released_by_the_confirmation(
    pod_sshd: PodSSHD, client_key: KeyPair
) -> None:
    pool = ConnectionPool()
    waiter = asyncio.create_task(pool.wait_ready(POD))
    await asyncio.sleep(0)
    assert not waiter.done()
    pool.confirmed(POD, target(pod_sshd, client_key))
    await asyncio.wait_for(waiter, 5)

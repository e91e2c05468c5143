"""The asyncssh stand-in for sshd (rpdevd/sim/fallback_sshd.py) serves what the real one does.

It is what pods run on a machine without OpenSSH's sshd, so these tests run it even where sshd is
installed: many sessions on one connection, output to its end, exit statuses and signals,
terminals, SFTP, the session's environment, and a client that leaves in the middle. Where sshd is
installed they run against it too, so what they expect is what sshd does.
"""

from __future__ import annotations

import asyncio
import getpass
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rpdevd.sim.sshd import KeyPair, PodSSHD, choose_backend, find_sshd
from rpdevd.sshlib import asyncssh


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


@pytest.fixture(params=["asyncssh", "openssh"])
async def fallback(
    request: pytest.FixtureRequest, tmp_path: Path, client_key: KeyPair
) -> AsyncIterator[PodSSHD]:
    if request.param == "openssh" and find_sshd() is None:
        pytest.skip("needs OpenSSH's sshd (to compare the stand-in with)")
    pod = PodSSHD(
        tmp_path / "pod",
        authorized_keys=client_key.public,
        env={"RUNPOD_POD_ID": "fallback1"},
        backend=request.param,
    )
    await pod.start()
    try:
        yield pod
    finally:
        await pod.stop()


@pytest.fixture
async def conn(
    fallback: PodSSHD, client_key: KeyPair
) -> AsyncIterator[asyncssh.SSHClientConnection]:
    c = await asyncssh.connect(
        fallback.host,
        port=fallback.port,
        username=fallback.user,
        client_keys=[str(client_key.private)],
        known_hosts=None,
    )
    try:
        yield c
    finally:
        c.close()
        await c.wait_closed()


async def test_sequential_execs_on_one_connection_each_get_their_output(
    conn: asyncssh.SSHClientConnection,
) -> None:
    for i in range(8):
        done = await conn.run(f"echo out{i}; echo err{i} >&2; exit {i}", timeout=30)
        assert (done.stdout, done.stderr, done.exit_status) == (f"out{i}\n", f"err{i}\n", i)


async def test_many_sessions_at_once_on_one_connection(
    conn: asyncssh.SSHClientConnection,
) -> None:
    runs = [conn.run(f"sleep 0.2; echo {i}", timeout=30) for i in range(20)]
    done = await asyncio.gather(*runs)
    assert [d.stdout for d in done] == [f"{i}\n" for i in range(20)]
    assert all(d.exit_status == 0 for d in done)


async def test_stdin_to_eof_and_output_larger_than_the_window(
    conn: asyncssh.SSHClientConnection,
) -> None:
    data = bytes(range(256)) * 16384  # 4 MiB, past the channel window and any pipe buffer
    done = await conn.run("cat; echo done >&2", input=data, encoding=None, timeout=60)
    assert done.stdout == data and done.stderr == b"done\n" and done.exit_status == 0
    # The connection is still good afterwards.
    assert (await conn.run("echo again", timeout=30)).stdout == "again\n"


async def test_a_command_killed_by_a_signal_reports_the_signal(
    conn: asyncssh.SSHClientConnection,
) -> None:
    done = await conn.run("kill -TERM $$", timeout=30)
    assert done.exit_signal is not None and done.exit_signal[0] == "TERM"
    assert done.returncode == -15


async def test_the_session_environment_is_sshds(
    conn: asyncssh.SSHClientConnection, fallback: PodSSHD
) -> None:
    done = await conn.run(
        'echo "$RUNPOD_POD_ID:$RUNPOD_TCP_PORT_22:$USER:${FROM_CLIENT-unset}:$SSH_CONNECTION"',
        env={"FROM_CLIENT": "x"},  # refused, as sshd refuses it without AcceptEnv
        timeout=30,
    )
    pod_id, port, user, from_client, connection = str(done.stdout).strip().split(":")
    assert (pod_id, port, user, from_client) == (
        "fallback1",
        str(fallback.port),
        getpass.getuser(),
        "unset",
    )
    assert connection.split()[2:] == [fallback.host, str(fallback.port)]


async def test_a_terminal_session_has_a_terminal(conn: asyncssh.SSHClientConnection) -> None:
    done = await conn.run(
        'tty; echo "$TERM"; stty size', term_type="xterm", term_size=(100, 30), timeout=30
    )
    tty, term, size = str(done.stdout).splitlines()
    assert tty.startswith("/dev/pts/") and term == "xterm" and size == "30 100"
    assert done.exit_status == 0
    # And a plain session after it has none.
    assert (await conn.run("tty", timeout=30)).stdout == "not a tty\n"


async def test_an_interactive_shell_reads_the_terminal(
    conn: asyncssh.SSHClientConnection,
) -> None:
    async with conn.create_process(term_type="dumb") as shell:
        shell.stdin.write("echo from-$((6 * 7))\nexit 3\n")
        done = await shell.wait(timeout=30)
    assert "from-42" in str(done.stdout) and done.exit_status == 3


async def test_sftp_reads_and_writes_files(
    conn: asyncssh.SSHClientConnection, tmp_path: Path
) -> None:
    target = tmp_path / "remote.bin"
    async with conn.start_sftp_client() as sftp:
        async with sftp.open(str(target), "wb") as f:
            await f.write(b"x" * 100_000)
        assert (await sftp.stat(str(target))).size == 100_000
        async with sftp.open(str(target), "rb") as f:
            assert await f.read() == b"x" * 100_000
    assert target.read_bytes() == b"x" * 100_000
    assert (await conn.run("echo after-sftp", timeout=30)).stdout == "after-sftp\n"


async def test_a_client_that_leaves_mid_output_breaks_nothing(
    conn: asyncssh.SSHClientConnection,
) -> None:
    async with conn.create_process("echo $$; exec yes") as proc:
        pid = int(await proc.stdout.readline())
        assert await proc.stdout.readline() == "y\n"
    # Its output pipe closed, the command dies of SIGPIPE (it is not left blocked on a full pipe).
    for _ in range(300):
        if not alive(pid):
            break
        await asyncio.sleep(0.1)
    assert not alive(pid)
    for i in range(3):
        assert (await conn.run(f"echo still{i}", timeout=30)).stdout == f"still{i}\n"


async def test_a_terminal_goes_with_its_channel(conn: asyncssh.SSHClientConnection) -> None:
    async with conn.create_process("echo $$; exec sleep 600", term_type="dumb") as proc:
        pid = int((await proc.stdout.readline()).strip())
        assert alive(pid)
    # The channel closed, the terminal goes with it and its session gets SIGHUP.
    for _ in range(300):
        if not alive(pid):
            break
        await asyncio.sleep(0.1)
    assert not alive(pid)
    assert (await conn.run("echo after", timeout=30)).stdout == "after\n"


async def test_the_openssh_client_runs_commands_on_it(
    fallback: PodSSHD, client_key: KeyPair
) -> None:
    out = await asyncio.to_thread(
        subprocess.run,
        ["ssh", *fallback.ssh_args(client_key.private), "echo $RUNPOD_POD_ID; exit 7"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (out.returncode, out.stdout) == (7, "fallback1\n"), out.stderr


def test_the_stand_in_is_chosen_where_sshd_is_missing_or_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RPDEV_SSHD_BACKEND", raising=False)
    monkeypatch.delenv("RPDEV_REQUIRE_SSHD", raising=False)
    assert choose_backend(None, "/usr/sbin/sshd") == "openssh"
    assert choose_backend(None, None) == "asyncssh"
    assert choose_backend("asyncssh", "/usr/sbin/sshd") == "asyncssh"
    monkeypatch.setenv("RPDEV_SSHD_BACKEND", "asyncssh")
    assert choose_backend(None, "/usr/sbin/sshd") == "asyncssh"
    assert choose_backend("openssh", "/usr/sbin/sshd") == "openssh"
    monkeypatch.delenv("RPDEV_SSHD_BACKEND")
    monkeypatch.setenv("RPDEV_REQUIRE_SSHD", "1")  # never picked silently where sshd is required
    with pytest.raises(RuntimeError, match="RPDEV_REQUIRE_SSHD"):
        choose_backend(None, None)
    with pytest.raises(ValueError, match="unknown sshd backend"):
        choose_backend("dropbear", None)


@pytest.mark.parametrize("terminal", [None, "dumb"])
async def test_a_session_has_no_signal_ignored_whatever_the_server_was_started_with(
    tmp_path: Path, client_key: KeyPair, terminal: str | None
) -> None:
    """Started with SIGHUP and SIGINT ignored (under `nohup`, from a shell's background job),
    the stand-in still starts each session with every signal as a new program expects it, as
    sshd does: a session on a terminal dies with its terminal."""
    import signal

    before = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGHUP, signal.SIGINT)}
    try:
        pod = PodSSHD(tmp_path / "pod", authorized_keys=client_key.public, backend="asyncssh")
        await pod.start()  # inherits the two ignored signals
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    try:
        async with asyncssh.connect(
            pod.host,
            port=pod.port,
            username=pod.user,
            client_keys=[str(client_key.private)],
            known_hosts=None,
        ) as c:
            done = await c.run(
                "grep -E '^Sig(Ign|Blk)' /proc/self/status", term_type=terminal, timeout=30
            )
        assert str(done.stdout).split() == ["SigBlk:", "0" * 16, "SigIgn:", "0" * 16]
    finally:
        await pod.stop()

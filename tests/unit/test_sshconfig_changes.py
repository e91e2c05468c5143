"""Each rewrite of the generated SSH config says what it changed, not the same count again."""

from __future__ import annotations

from rpdevd.sshconfig.changes import describe
from rpdevd.sshconfig.render import HostEntry

ALIASES = {"a1": "trainer.runpod", "b2": "notebook.runpod", "c3": "archive.runpod"}


def entry(
    pod_id: str, name: str, endpoint: tuple[str, int] | None = None, **kw: object
) -> HostEntry:
    host, port = endpoint or (None, None)
    return HostEntry(pod_id, name, host, port, running=True, **kw)  # type: ignore[arg-type]


def test_the_first_write_sums_the_file_up() -> None:
    after = [entry("a1", "trainer"), entry("b2", "notebook", ("127.0.0.1", 40223))]
    assert describe(None, after, ALIASES) == (
        "SSH config rewritten: 2 hosts, 1 with a confirmed endpoint"
    )
    assert describe(None, [], {}) == "SSH config rewritten: 0 hosts, 0 with a confirmed endpoint"


def test_a_start_reads_as_one_line_per_confirmed_endpoint_never_the_same_twice() -> None:
    pods = [entry("a1", "trainer"), entry("b2", "notebook"), entry("c3", "archive")]
    lines = [describe(None, pods, ALIASES)]
    for pod_id, port in (("b2", 40223), ("a1", 58225)):
        after = [
            entry(e.pod_id, e.name, ("127.0.0.1", port)) if e.pod_id == pod_id else e for e in pods
        ]
        lines.append(describe(pods, after, ALIASES))
        pods = after
    assert lines == [
        "SSH config rewritten: 3 hosts, 0 with a confirmed endpoint",
        "SSH config rewritten: notebook.runpod -> 127.0.0.1:40223",
        "SSH config rewritten: trainer.runpod -> 127.0.0.1:58225",
    ]


def test_added_removed_stopped_and_updated_hosts_are_named() -> None:
    before = [entry("a1", "trainer", ("10.0.0.1", 22)), entry("b2", "notebook")]
    stopped = HostEntry("a1", "trainer", None, None, running=False)
    after = [stopped, entry("c3", "archive"), entry("b2", "notebook", wake_on_connect=True)]
    assert describe(before, after, ALIASES) == (
        "SSH config rewritten: trainer.runpod has no endpoint (stopped); archive.runpod added; "
        "notebook.runpod updated"
    )
    assert describe(after, [stopped], ALIASES) == (
        "SSH config rewritten: archive.runpod removed; notebook.runpod removed"
    )
    # No alias known yet: the pod's name.
    assert describe([], [entry("z9", "new pod")], {}) == "SSH config rewritten: new pod added"


def test_a_rewrite_that_changed_none_of_our_entries_sums_the_file_up() -> None:
    pods = [entry("a1", "trainer", ("10.0.0.1", 22))]
    assert describe(pods, pods, ALIASES) == (
        "SSH config rewritten: 1 host, 1 with a confirmed endpoint"
    )

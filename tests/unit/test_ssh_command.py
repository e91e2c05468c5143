"""`rpdev ssh`: the pod chosen as the daemon chooses it, and the ssh command line it becomes."""

from pathlib import Path

import pytest

from rpdevd.commands._common import PodChoiceError, pick_pod
from rpdevd.commands.ssh import ssh_command

PODS = [
    {"id": "aaa111", "name": "trainer", "ssh_alias": "trainer.runpod"},
    {"id": "bbb222", "name": "twin", "ssh_alias": "twin.runpod"},
    {"id": "ccc333", "name": "twin", "ssh_alias": "twin-2.runpod"},
    {"id": "trainer", "name": "named like an id", "ssh_alias": "named-like-an-id.runpod"},
]


def test_an_id_wins_then_a_name_then_an_alias() -> None:
    assert pick_pod(PODS, "trainer")["name"] == "named like an id"
    assert pick_pod(PODS, "bbb222")["id"] == "bbb222"
    assert pick_pod(PODS, "twin-2.runpod")["id"] == "ccc333"
    assert pick_pod(PODS, "twin-2")["id"] == "ccc333"
    assert pick_pod(PODS[:1], "trainer.runpod")["id"] == "aaa111"


def test_none_or_several_say_what_to_do() -> None:
    with pytest.raises(PodChoiceError) as none:
        pick_pod(PODS, "nope")
    assert "no pod named or with id 'nope'" in none.value.message
    assert "rpdev pods" in none.value.hint
    with pytest.raises(PodChoiceError) as several:
        pick_pod(PODS, "twin")
    assert "bbb222, ccc333" in several.value.message and "pod id" in several.value.hint


GEN = Path("/state/rpdev/ssh/config")
HOME_CFG = Path("/home/u/.ssh/config")


def test_without_the_include_ssh_reads_rpdevs_generated_file() -> None:
    cmd = ssh_command(
        "trainer.runpod",
        ["echo", "hi"],
        generated=GEN,
        user_config=HOME_CFG,
        include_installed=False,
        default_config=HOME_CFG,
    )
    assert cmd == ["ssh", "-F", str(GEN), "--", "trainer.runpod", "echo", "hi"]


def test_with_the_include_ssh_reads_the_users_config_as_it_would_anyway() -> None:
    kw = {"generated": GEN, "user_config": HOME_CFG, "include_installed": True}
    assert ssh_command("t.runpod", [], default_config=HOME_CFG, **kw) == [
        "ssh",
        "--",
        "t.runpod",
    ]
    # $HOME elsewhere than the password database says: the file rpdev checked is named.
    other = Path("/elsewhere/.ssh/config")
    assert ssh_command("t.runpod", [], default_config=other, **kw)[1:3] == ["-F", str(HOME_CFG)]


def test_the_command_after_the_alias_is_never_read_as_sshs_options() -> None:
    cmd = ssh_command(
        "t.runpod",
        ["-p", "2222", "-oProxyCommand=evil"],
        generated=GEN,
        user_config=HOME_CFG,
        include_installed=False,
        default_config=HOME_CFG,
    )
    assert cmd.index("--") < cmd.index("t.runpod") < cmd.index("-p")

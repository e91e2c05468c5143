"""The demo's hint says when /workspace is not the pods' own, and names the folder to use."""

from __future__ import annotations

from rpdevd.commands.demo import workspace_hint


def pod(name: str, private: bool, status: str = "RUNNING") -> dict[str, object]:
    return {
        "name": name,
        "status": status,
        "sshd": True,
        "private_workspace": private,
        "workspace": f"/tmp/rpdev-demo-x/sim/pods/{name}id/workspace",
        "workspace_note": "" if private else "the simulator does not run as root",
    }


def test_private_pods_need_no_hint() -> None:
    assert workspace_hint([pod("trainer", True), pod("notebook", True)]) == ""


def test_a_shared_workspace_is_named_with_the_reason_and_the_trainer_folder() -> None:
    hint = workspace_hint([pod("notebook", False), pod("trainer", False)])
    assert hint == (
        "\n  /workspace on the demo's pods is this machine's, not theirs"
        " (the simulator does not run as root):"
        " trainer's folder is /tmp/rpdev-demo-x/sim/pods/trainerid/workspace"
    )


def test_stopped_pods_are_not_counted() -> None:
    assert workspace_hint([pod("archive", False, status="EXITED")]) == ""

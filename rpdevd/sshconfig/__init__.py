"""SSH config: generated Host entries per pod, pinned host keys, the Include block.

The daemon calls `update_generated`/`write_generated` whenever an endpoint or the set of managed
pods changes, and `pin_host_key` once an endpoint's identity was confirmed in the pod.
"""

from rpdevd.sshconfig.files import (
    GeneratedUpdate,
    IncludePlan,
    generated_path,
    install_include,
    known_hosts_path,
    plan_include,
    read_aliases,
    uninstall_include,
    update_generated,
    user_config_path,
    write_generated,
)
from rpdevd.sshconfig.include import MarkerError
from rpdevd.sshconfig.known_hosts import Pinned, fingerprint, pin_host_key, pinned_keys, unpin
from rpdevd.sshconfig.render import HostEntry, host_key_alias

__all__ = [
    "GeneratedUpdate",
    "HostEntry",
    "IncludePlan",
    "MarkerError",
    "Pinned",
    "fingerprint",
    "generated_path",
    "host_key_alias",
    "install_include",
    "known_hosts_path",
    "pin_host_key",
    "pinned_keys",
    "plan_include",
    "read_aliases",
    "uninstall_include",
    "unpin",
    "update_generated",
    "user_config_path",
    "write_generated",
]

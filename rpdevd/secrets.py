"""The RunPod API key: where it comes from, and where it may be kept.

Order: `RUNPOD_API_KEY` from the environment, then the OS keyring (service `rpdev`), then
runpodctl's `~/.runpod/config.toml`. rpdev never writes the key to a plain file of its own, never
puts it in `config.toml`, in logs, in process arguments or in socket replies.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

SERVICE = "rpdev"
ACCOUNT = "runpod-api-key"
ENV = "RUNPOD_API_KEY"


class NoKeyring(Exception):
    """No usable OS keyring backend (typical on headless Linux)."""


@dataclass(frozen=True)
class ApiKey:
    value: str
    source: str  # "environment" | "keyring" | "runpodctl"

    def __repr__(self) -> str:  # never print the key itself
        return f"ApiKey(source={self.source!r}, value={redact(self.value)!r})"


def redact(key: str) -> str:
    return "<unset>" if not key else f"…{key[-4:]}" if len(key) > 12 else "<redacted>"


def runpodctl_config() -> Path:
    return Path.home() / ".runpod" / "config.toml"


def _from_runpodctl() -> str | None:
    try:
        data = tomllib.loads(runpodctl_config().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    for key in ("apikey", "api_key", "apiKey"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _keyring_get() -> str | None:
    try:
        import keyring
        import keyring.errors
    except ImportError:
        return None
    try:
        value = keyring.get_password(SERVICE, ACCOUNT)
    except keyring.errors.KeyringError:
        return None
    except Exception:  # noqa: BLE001 - broken D-Bus/SecretService setups raise anything
        return None
    return value or None


def find_api_key() -> ApiKey | None:
    env = os.environ.get(ENV, "").strip()
    if env:
        return ApiKey(env, "environment")
    stored = _keyring_get()
    if stored:
        return ApiKey(stored, "keyring")
    ctl = _from_runpodctl()
    if ctl:
        return ApiKey(ctl, "runpodctl")
    return None


def keyring_status() -> tuple[bool, str]:
    """(usable, description) of the OS keyring backend."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return False, "the keyring package is not installed"
    backend = keyring.get_keyring()
    name = type(backend).__module__ + "." + type(backend).__name__
    if isinstance(backend, fail.Keyring) or "fail" in name.lower():
        return False, "no OS keyring backend is available (common on headless Linux)"
    return True, name


def store_api_key(key: str) -> str:
    """Store the key in the OS keyring; return the backend's name. Raises NoKeyring."""
    usable, description = keyring_status()
    if not usable:
        raise NoKeyring(description)
    import keyring
    import keyring.errors

    try:
        keyring.set_password(SERVICE, ACCOUNT, key)
    except Exception as exc:  # noqa: BLE001 - any backend failure means "not stored"
        raise NoKeyring(f"the keyring refused the key: {type(exc).__name__}") from None
    return description


def delete_api_key() -> bool:
    try:
        import keyring
        import keyring.errors

        keyring.delete_password(SERVICE, ACCOUNT)
    except Exception:  # noqa: BLE001
        return False
    return True


NO_KEY_HINT = (
    "no RunPod API key: run `rpdev login` (stores it in the OS keyring), or set RUNPOD_API_KEY "
    "in the daemon's environment and restart the daemon; "
    "create a key at https://www.runpod.io/console/user/settings"
)
# A rejected key from the environment: `rpdev login` alone cannot help, the variable wins.
ENV_KEY_REJECTED_HINT = (
    "RunPod rejected the key in RUNPOD_API_KEY, which wins over the keyring (so `rpdev login` "
    "alone does not help): set a valid key, or unset the variable, in the daemon's environment "
    "and restart the daemon (rpdev daemon stop && rpdev daemon start)"
)

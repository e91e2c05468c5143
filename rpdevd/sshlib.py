"""asyncssh, imported in one place.

asyncssh 2.24 touches `cryptography`'s DSA classes while it imports, and cryptography 51 answers
each such touch with a `CryptographyDeprecationWarning` ("DSA is deprecated"). That notice is about
the two libraries, not about anything a user of rpdev can act on, so it is filtered here, for that
one import and that one message, and nowhere else: every other warning still shows.

Every runtime import of asyncssh in rpdev goes through this module (type-only imports may name
asyncssh directly). Importing it costs what importing asyncssh costs, so the CLI's fast paths
still import it lazily, inside the functions that connect.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message=r"DSA is deprecated",
        category=UserWarning,  # CryptographyDeprecationWarning derives from UserWarning
        module=r"asyncssh(\.|$)",
    )
    import asyncssh
    from asyncssh.config import SSHClientConfig, SSHConfig

__all__ = ["SSHClientConfig", "SSHConfig", "asyncssh"]

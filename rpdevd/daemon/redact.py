"""The secrets no log line may show."""

from __future__ import annotations


class RedactKey:
    """The API keys the daemon has used, which no log line may show: whatever a library logs
    (tracebacks included). The daemon adds keys it learns later (`rpdev login`)."""

    secrets: set[str] = set()

    @classmethod
    def redact(cls, text: str) -> str:
        for secret in cls.secrets:
            text = text.replace(secret, "<redacted>")
        return text

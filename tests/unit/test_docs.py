"""The docs match the code: every config key the parser accepts is in the reference."""

import re
from pathlib import Path

from rpdevd import config

DOCS = Path(__file__).resolve().parents[2] / "docs"


def section_keys(text: str, heading: str) -> set[str]:
    part = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", part, re.M))


def test_every_config_key_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    assert section_keys(text, "## Top level") == config.TOP_KEYS - {
        "pod",
        "sync",
        "ssh",
        "budget",
        "forward",
    }
    assert section_keys(text, "## `[[pod]]`") == config.POD_KEYS
    assert section_keys(text, "## `[[sync]]`") == config.SYNC_KEYS
    assert section_keys(text, "## `[[forward]]`") == config.FORWARD_KEYS
    assert section_keys(text, "## `[ssh]`") == config.SSH_KEYS
    assert section_keys(text, "## `[budget]`") == config.BUDGET_KEYS


def test_readme_links_resolve() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (DOCS.parent / link).exists(), link

"""SSH alias slugs: `<slug>.runpod` for every managed pod.

Pure. A slug is lowercase `[a-z0-9-]`, derived from the pod's name, unique among the pods, and
stable: a pod keeps the slug it had as long as that slug still derives from its current name, so
renaming (or adding) another pod never moves an alias that VS Code or a shell history already uses.
A name that yields nothing usable (empty, only symbols, only non-Latin script) falls back to the id.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SUFFIX = ".runpod"
MAX_SLUG = 48
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
POD_ID_RE = re.compile(r"^[a-z0-9]{1,64}$")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class PodName:
    pod_id: str
    name: str


def is_pod_id(value: str) -> bool:
    return bool(POD_ID_RE.match(value))


def check_pod_id(value: str) -> str:
    """RunPod ids are lowercase alphanumerics; anything else never reaches a file or a shell."""
    if not is_pod_id(value):
        raise ValueError(f"not a RunPod pod id: {value!r}")
    return value


def base_slug(name: str, pod_id: str) -> str:
    """The slug a pod gets when nothing else claims it: its name, folded to `[a-z0-9-]`."""
    # NFKD splits accented letters into a base letter and a combining mark; dropping non-ASCII
    # then keeps "Café" as "cafe" instead of "caf".
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_SLUG.sub("-", folded.lower()).strip("-")
    slug = slug[:MAX_SLUG].rstrip("-")
    return slug or check_pod_id(pod_id)


def _candidates(base: str, pod_id: str) -> Iterable[str]:
    """Slugs a pod may hold, in order of preference: the base, then the base qualified by a
    growing prefix of the (unique) pod id, then by a counter (only reached by corrupt input)."""
    yield base
    if base == pod_id:
        return
    room = MAX_SLUG - len(base) - 1
    trimmed = base
    if room < 8:
        trimmed = base[: MAX_SLUG - 1 - min(len(pod_id), 12)].rstrip("-")
        room = MAX_SLUG - len(trimmed) - 1
    for n in (6, 12, len(pod_id)):
        if n <= len(pod_id) and n <= room:
            yield f"{trimmed}-{pod_id[:n]}"
    yield pod_id


def _derives_from(slug: str, base: str, pod_id: str) -> bool:
    # The counted form (`<id>-2`, see _numbered) counts too: an alias must not move just
    # because the slug it was counted away from became free.
    counted = slug.startswith(pod_id + "-") and slug[len(pod_id) + 1 :].isdigit()
    return counted or slug in set(_candidates(base, pod_id))


def assign_slugs(pods: Iterable[PodName], previous: Mapping[str, str]) -> dict[str, str]:
    """Map every pod id to a unique slug.

    `previous` maps pod ids to the slugs they held before (from the last generated file or the
    daemon's store). Pods listed several times keep their last name.
    """
    by_id: dict[str, str] = {}
    for pod in pods:
        by_id[check_pod_id(pod.pod_id)] = pod.name
    bases = {pod_id: base_slug(name, pod_id) for pod_id, name in by_id.items()}
    taken: dict[str, str] = {}  # slug -> pod id
    result: dict[str, str] = {}
    # First, every pod whose earlier slug still fits its name keeps it.
    for pod_id in sorted(by_id):
        old = previous.get(pod_id)
        if (
            old is not None
            and SLUG_RE.match(old)
            and old not in taken
            and _derives_from(old, bases[pod_id], pod_id)
        ):
            taken[old] = pod_id
            result[pod_id] = old
    # Then the rest, in a fixed order so that the outcome does not depend on input order.
    for pod_id in sorted(by_id):
        if pod_id in result:
            continue
        slug = next((c for c in _candidates(bases[pod_id], pod_id) if c not in taken), None)
        if slug is None:
            slug = _numbered(pod_id, taken)
        taken[slug] = pod_id
        result[pod_id] = slug
    return result


def _numbered(pod_id: str, taken: Mapping[str, str]) -> str:
    # Only reachable when other pods hold slugs equal to this pod's id and its qualified forms,
    # which valid ids and names cannot produce; kept so assignment never fails.
    n = 2
    while f"{pod_id}-{n}" in taken:
        n += 1
    return f"{pod_id}-{n}"


def alias_for(slug: str) -> str:
    if not SLUG_RE.match(slug):
        raise ValueError(f"not a slug: {slug!r}")
    return slug + SUFFIX

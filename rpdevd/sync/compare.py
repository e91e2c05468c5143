"""Where a full pass may have work: the scan, the baseline and the pod's listing compared as sets
of records, at C speed, without parsing a single entry.

A record is the bytes of one path's state: `model.local_record` for this side (what the scan
gives with `records=True`; the baseline keeps the one of what rpdev copied), and
`remote.expected_record` for the pod (the listing's own bytes; the baseline keeps the one its
copy lists as). Where the three agree on a path, a plan would do nothing there, so the plan is
made for the paths where they do not, and an unchanged tree of 100,000 files costs a few set
operations.

    sets = baseline.record_sets(pair)             # None: a row gives no record: plan it all
    expected = Expected(*sets)
    paths = local_changes(scan.records, expected)  # new, changed or gone here
    paths |= pod_changes(record_set(raw_listing), expected)  # changed on the pod, leftovers

The baseline's sets may also hold an older record of a row changed since: that path is planned
(and found to need nothing) on each pass, until the sets are next read from the rows. A current
row's record is never missing, so no change goes unseen.

Cheaper still, where nothing changed since the last pass: what comparing a scan or a listing
with the sets told (the paths to plan) is kept beside them with its digest
(`Baseline.remember`, until they change), and one with the same digest is told the same
(`Baseline.seen`): neither the sets nor the records are read (`Comparison`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from rpdevd.sync.baseline import Baseline
from rpdevd.sync.model import LocalEntry, entry_from_record, local_record_path
from rpdevd.sync.recordsets import Seen, Told
from rpdevd.sync.remote import ListingRecords, Raw, record_path
from rpdevd.sync.scan import ScanResult

_RPDEV_MARK = b".rpdev-"  # in every name `model.is_rpdev_temp` matches


@dataclass
class Expected:
    """The baseline's records of one pair: what the scan shows while nothing changed here
    (`local`), and what the pod lists while it still holds what rpdev wrote (`pod`). Each is
    dropped (set to None) once compared, to free its memory. `nonce`: the generation they were
    read in (`Baseline.record_sets`)."""

    local: set[bytes] | None
    pod: set[bytes] | None
    nonce: bytes = b""


def local_changes(scanned: Collection[bytes], expected: Expected) -> set[str]:
    """Paths whose record is new here, changed, or gone since rpdev copied them (a path that
    changed counts once: its old and new records name the same path). `scanned` holds each
    path once (a scan's records)."""
    assert expected.local is not None, "local records compared twice"
    mine, expected.local = expected.local, None
    # Nothing changed, the usual case, is told without building a set of the scan: as many
    # records as expected, each of them expected (no path twice, so they are the same set).
    if len(scanned) == len(mine) and mine.issuperset(scanned):
        return set()
    return {local_record_path(r) for r in mine.symmetric_difference(scanned)}


def pod_changes(listed: set[bytes], expected: Expected) -> set[str]:
    """Paths rpdev wrote that the pod no longer lists as rpdev left them, and paths that look
    like rpdev's own leftovers (its temporaries; the plan tells them from the user's files).
    Paths only on the pod that are none of rpdev's business are not looked at. `listed`: the
    listing's records (`remote.record_set`, or `remote.ListingRecords` as it came)."""
    assert expected.pod is not None, "pod records compared twice"
    theirs, expected.pod = expected.pod, None
    gone = theirs - listed
    paths = {record_path(r) for r in gone}
    # Records listed beyond the expected ones (the user's files) are looked through only
    # where there are any: as many listed as expected and still there means none.
    if len(listed) > len(theirs) - len(gone):
        paths.update(record_path(r) for r in listed - theirs if _RPDEV_MARK in r)
    return paths


def entries_of(records: Iterable[bytes], paths: set[str] | None) -> dict[str, LocalEntry]:
    """The scan's entries of `paths` (all of them for None), parsed from its records."""
    if paths is None:
        return dict(map(entry_from_record, records))
    wanted = {p.encode("utf-8", "surrogateescape") for p in paths}
    return dict(entry_from_record(r) for r in records if r.partition(b"\0")[0] in wanted)


class Comparison:
    """One full pass's comparison of its scan and its listing with a pair's baseline: each told
    by its digest where the baseline keeps the same one for the current generation of its sets
    (`Baseline.seen`), the paths kept with it; otherwise by the sets, read once, when first
    needed, and what that tells is kept with the digest for the next pass. (The paths are the
    same function of the same records and the same sets: mostly none; else rows changed since
    their sets were whole, whose older records the sets still hold, or files rpdev wrote that the
    user changed on the pod.)"""

    def __init__(self, baseline: Baseline, pair: str) -> None:
        self.baseline = baseline
        self.pair = pair
        self.seen: Seen | None = baseline.seen(pair)
        self._expected: Expected | None = None
        self._read: bool | None = None  # the sets read: None not yet, False the pod's half alone
        # What the sets told each side, for `remember` to keep: (scan's, listing's).
        self._told: tuple[Told | None, Told | None] = (None, None)

    def prefetch(self, scan_digest: bool) -> None:
        """Read the sets now (while the walk and the listing run) unless both sides may be told
        by their digests: a scan without one (`scan_digest` False: a walk in a thread), or a
        side with nothing kept, needs them anyway. Where the scan may be told (the resync after
        a first sync), the pod's half alone."""
        scan_told = scan_digest and self.seen is not None and self.seen.local is not None
        if not (scan_told and self.seen and self.seen.pod):
            self._sets(local=not scan_told)

    def _sets(self, local: bool = True) -> Expected | None:
        """The sets, read once when first needed (`local` False: the pod's half may do); read
        again, whole, where the local half is needed after all. What the pod's half told is
        then kept only if it is of the same generation."""
        if self._read is not None and (self._read or not local):
            return self._expected
        before, self._read = self._expected, local
        sets = self.baseline.record_sets(self.pair, local_too=local)
        self._expected = None if sets is None else Expected(*sets)
        if before is not None and (self._expected is None or self._expected.nonce != before.nonce):
            # Read again for the scan, which is compared next: the pod's half was told of
            # another generation.
            self._told = (None, None)
        return self._expected

    def local(self, scanned: ScanResult) -> set[str] | None:
        """`local_changes` of the scan (None: the baseline gives no sets: plan every path)."""
        told = self.seen.local if self.seen else None
        if scanned.digest is not None and told is not None and scanned.digest == told.digest:
            return set(told.paths)
        expected = self._sets()
        if expected is None:
            return None
        changed = local_changes(scanned.records, expected)
        if scanned.digest is not None:
            self._told = (Told(scanned.digest, frozenset(changed)), self._told[1])
        return changed

    def pod(self, listed: ListingRecords, raw: Raw) -> set[str] | None:
        """`pod_changes` of the listing `raw`, gathered by `listed` (None: plan every path)."""
        digest = listed.digest(raw)
        told = self.seen.pod if self.seen else None
        if told is not None and digest == told.digest:
            return set(told.paths)
        expected = self._sets(local=False)  # the local half as read already, if it was
        if expected is None:
            return None
        changed = pod_changes(listed.records(raw), expected)
        self._told = (self._told[0], Told(digest, frozenset(changed)))
        return changed

    def remember(self) -> None:
        """Keep, in one write, what the sets told each side compared with them."""
        if self._expected is not None and self._told != (None, None):
            self.baseline.remember(self.pair, self._expected.nonce, *self._told)
            self._told = (None, None)

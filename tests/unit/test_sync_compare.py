"""The full pass's comparison of records as sets: which paths a plan must see."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rpdevd.sync.compare import Comparison, Expected, entries_of, local_changes, pod_changes
from rpdevd.sync.model import LocalEntry, RemoteEntry, entry_from_record, local_record
from rpdevd.sync.recordsets import Seen, Sets, Told
from rpdevd.sync.remote import END, HEADER, ListingRecords, expected_record, record_set
from rpdevd.sync.scan import ScanResult

# Paths as the scan gives them: no NUL, any other character, lone surrogates for bytes that
# are not UTF-8.
names = st.text(
    st.characters(blacklist_characters="\0/", blacklist_categories=("Cs",)), min_size=1
).filter(lambda n: n not in (".", ".."))
paths = st.lists(names, min_size=1, max_size=3).map("/".join)
odd_paths = st.one_of(
    paths,
    st.binary(min_size=1)
    .filter(lambda b: b"\0" not in b and b"/" not in b)
    .map(lambda b: b.decode("utf-8", "surrogateescape")),
)
entries = st.builds(
    LocalEntry,
    st.sampled_from(["file", "dir", "symlink", "other"]),
    st.integers(-(2**63), 2**63),
    st.integers(-(2**63), 2**63),
    st.integers(0, 0o777),
    st.integers(0, 2**64),
    st.one_of(st.just(""), odd_paths),
)


@given(odd_paths, entries)
def test_a_record_gives_back_its_path_and_entry(path: str, entry: LocalEntry) -> None:
    assert entry_from_record(local_record(path, entry)) == (path, entry)


def listing(records: list[bytes]) -> bytes:
    return HEADER + b" python3=1\n" + b"".join(records) + END


F = LocalEntry("file", 3, 1_700_000_000_000_000_000, 0o644, 7)
R = RemoteEntry("file", 3, 1_700_000_000, 0o644)


def expected(local: dict[str, LocalEntry], pod: dict[str, RemoteEntry]) -> Expected:
    return Expected(
        {local_record(p, e) for p, e in local.items()},
        {expected_record(p, e) for p, e in pod.items()},
    )


def test_local_changes_name_new_changed_and_gone_paths_once() -> None:
    base = {"same": F, "edited": F, "gone": F, "touched": F}
    exp = expected(base, {})
    scan = [
        local_record("same", F),
        local_record("edited", F._replace(size=4)),
        local_record("touched", F._replace(mtime_ns=F.mtime_ns + 1)),
        local_record("new", F),
    ]
    assert local_changes(scan, exp) == {"edited", "gone", "touched", "new"}
    assert exp.local is None  # freed once compared


def test_an_unchanged_scan_has_no_local_changes() -> None:
    exp = expected({"a": F, "b": F._replace(kind="dir", size=0, mtime_ns=0)}, {})
    scan = [local_record("b", F._replace(kind="dir", size=0, mtime_ns=0)), local_record("a", F)]
    assert local_changes(scan, exp) == set()
    assert exp.local is None


def test_a_scan_as_long_as_expected_is_still_compared_record_by_record() -> None:
    # As many records as the baseline's, not the same ones: a path gone and one new, or one
    # changed, are seen all the same.
    assert local_changes(
        [local_record("a", F), local_record("c", F)], expected({"a": F, "b": F}, {})
    ) == {"b", "c"}
    edited = [local_record("a", F), local_record("b", F._replace(ino=8))]
    assert local_changes(edited, expected({"a": F, "b": F}, {})) == {"b"}


def test_an_older_record_kept_beside_a_rows_new_one_costs_a_comparison_only() -> None:
    # The baseline's sets may still hold a record of a row changed since: the path is
    # planned once more than needed, and nothing the scan shows is missed.
    exp = expected({"a": F, "b": F}, {})
    assert exp.local is not None
    exp.local.add(local_record("b", F._replace(size=1)))
    assert local_changes([local_record("a", F), local_record("b", F)], exp) == {"b"}


def test_pod_changes_see_rpdevs_paths_and_leftovers_not_the_users() -> None:
    exp = expected({}, {"kept": R, "edited": R, "deleted": R, "d/.x.rpdev-tmp-1": R})
    raw = listing(
        [
            expected_record("kept", R),
            expected_record("edited", R._replace(size=9)),
            expected_record("users.ckpt", R),  # the user's: no business of the sync's
            expected_record(".rpdev-stage-ab", RemoteEntry("dir", 0, 0, 0o755)),  # a leftover
            expected_record("d/.x.rpdev-tmp-1", R),  # rpdev wrote it so: as expected
        ]
    )
    assert pod_changes(record_set(raw), exp) == {"edited", "deleted", ".rpdev-stage-ab"}
    assert exp.pod is None


def test_entries_of_parses_only_the_paths_asked_for() -> None:
    odd = b"bad-\xff\nname".decode("utf-8", "surrogateescape")
    scan = [local_record("a", F), local_record(odd, F), local_record("a/b", F)]
    assert entries_of(scan, {odd, "missing"}) == {odd: F}
    assert entries_of(scan, None) == {"a": F, odd: F, "a/b": F}
    assert entries_of(scan, set()) == {}


records = st.lists(
    st.builds(
        expected_record,
        odd_paths,
        st.builds(
            RemoteEntry,
            st.sampled_from(["file", "dir", "symlink"]),
            st.integers(0, 2**40),
            st.integers(0, 1_800_000_000),
            st.integers(0, 0o7777),
            st.one_of(st.just(""), odd_paths),
        ),
    ),
    max_size=12,
)


@given(
    st.binary(max_size=40).filter(lambda b: HEADER not in b),  # what a login script printed
    records,
    st.lists(st.integers(0, 400), max_size=8),
)
def test_records_gathered_as_the_listing_comes_are_the_whole_listings(
    chatter: bytes, recs: list[bytes], cuts: list[int]
) -> None:
    raw = (chatter + b"\n" if chatter else b"") + listing(recs)
    gathered = ListingRecords()
    for cut in sorted(cuts):
        gathered.feed(raw[:cut])  # each read grows the buffer; a record may end mid-read
    gathered.feed(raw)
    assert gathered._records - {END} == set(recs)  # gathered as it came, before the end
    assert gathered.records(raw) == record_set(raw) == set(recs)


def test_a_name_that_holds_the_listings_header_is_a_name() -> None:
    # A file named like the header line (planted on the pod): the listing starts at the first
    # header, after what a login script printed, and that name is one record among others.
    odd = "x\nRPDEV-LIST 1 python3=1\nevil"
    recs = [expected_record(odd, R), expected_record("a", R)]
    for chatter in (b"", b"welcome\n"):
        raw = chatter + listing(recs)
        gathered = ListingRecords()
        gathered.feed(raw)
        assert gathered.records(raw) == record_set(raw) == set(recs)


def test_a_listing_not_wanted_gathers_nothing_as_it_comes_and_bad_output_is_an_error() -> None:
    raw = listing([expected_record("a", R)])
    gathered = ListingRecords()
    gathered.wanted = False
    gathered.feed(raw)
    assert not gathered._records  # nothing parsed while it came
    assert gathered.records(raw) == {expected_record("a", R)}  # asked after all: still right
    import pytest

    with pytest.raises(ValueError, match="did not answer with a listing"):
        ListingRecords().records(b"sh: 1: find: not found\n")


def test_a_leftover_is_seen_where_as_many_records_are_listed_as_expected() -> None:
    # One of rpdev's paths gone, one leftover in its place: the counts match, the leftover is
    # still looked at; with nothing beyond the expected records, nothing is.
    leftover = expected_record(".x.rpdev-tmp-9", R)
    exp = expected({}, {"a": R, "b": R})
    assert pod_changes({expected_record("a", R), leftover}, exp) == {"b", ".x.rpdev-tmp-9"}
    exp = expected({}, {"a": R, "b": R})
    assert pod_changes({expected_record("a", R), expected_record("b", R)}, exp) == set()


def test_a_listing_read_into_a_buffer_parses_as_its_bytes() -> None:
    from rpdevd.sync.remote import has_python3, parse_listing

    raw = listing([expected_record("a", R), expected_record("d/b", R)])
    buf = bytearray(raw)  # what a pass reads the listing into, not copied
    assert parse_listing(buf).entries == parse_listing(raw).entries == {"a": R, "d/b": R}
    assert has_python3(buf) and record_set(buf) == record_set(raw)


@given(
    st.binary(max_size=40).filter(lambda b: HEADER not in b),
    st.binary(max_size=40).filter(lambda b: HEADER not in b),
    records,
    st.lists(st.integers(0, 400), max_size=8),
    st.lists(st.integers(0, 400), max_size=8),
)
def test_a_listings_digest_is_its_records_whatever_came_before_or_how_it_was_read(
    chatter: bytes, other: bytes, recs: list[bytes], cuts: list[int], cuts2: list[int]
) -> None:
    """Read in any pieces, after anything a login script printed, one listing gives one
    digest; listings that differ give different ones, and a first sync's gathers none."""

    def digest(raw: bytes, cuts: list[int], wanted: bool = True) -> bytes:
        gathered = ListingRecords()
        gathered.wanted = wanted
        for cut in sorted(cuts):
            gathered.feed(raw[:cut])
        return gathered.digest(raw)

    one = (chatter + b"\n" if chatter else b"") + listing(recs)
    two = (other + b"\n" if other else b"") + listing(recs)
    assert digest(one, cuts) == digest(two, cuts2) == digest(one, [], wanted=False)
    assert digest(one, cuts) != digest(listing([*recs, expected_record("new", R)]), [])
    if recs != recs[::-1]:  # the same records in another order: another digest
        assert digest(one, cuts) != digest(listing(recs[::-1]), [])


class _Baseline:
    """The calls a Comparison makes of a baseline, counted; it holds one pair, "pair"."""

    def __init__(self, sets: Sets | None, seen: Seen | None) -> None:
        self.sets, self._seen = sets, seen
        self.reads = 0
        self.halves: list[bool] = []  # per read: with the local half
        self.kept: list[tuple[bytes, Told | None, Told | None]] = []

    def seen(self, pair: str) -> Seen | None:
        return self._seen if pair == "pair" else None

    def record_sets(self, pair: str, local_too: bool = True) -> Sets | None:
        assert pair == "pair"
        self.reads += 1
        self.halves.append(local_too)
        if self.sets is None:
            return None
        return Sets(
            set(self.sets.local) if local_too else set(), set(self.sets.pod), self.sets.nonce
        )

    def remember(self, pair: str, nonce: bytes, local: Told | None, pod: Told | None) -> None:
        assert pair == "pair"
        self.kept.append((nonce, local, pod))


def _scan(records: list[bytes], digest: bytes | None) -> ScanResult:
    return ScanResult(records=records, digest=digest)


def two_files() -> tuple[dict[str, LocalEntry], Sets, bytes]:
    """Two files rpdev copied (`a`, `b`): their entries here, the sets of generation `n...`,
    and the pod's listing of them as rpdev left them."""
    base = {"a": F, "b": F}
    sets = Sets(
        {local_record(p, e) for p, e in base.items()},
        {expected_record("a", R), expected_record("b", R)},
        b"n" * 16,
    )
    return base, sets, listing([expected_record("a", R), expected_record("b", R)])


def test_a_scan_or_listing_with_a_kept_digest_is_told_what_it_was_told_before() -> None:
    base, sets, raw = two_files()
    listed_digest = ListingRecords().digest(raw)
    same = [local_record(p, e) for p, e in base.items()]

    # First: nothing kept; both sides compared (the sets read once) and what they were told
    # kept with their digests.
    db = _Baseline(sets, Seen(b"n" * 16))
    cmp = Comparison(db, "pair")  # type: ignore[arg-type]
    assert cmp.local(_scan(same, b"d" * 32)) == set()
    assert cmp.pod(ListingRecords(), raw) == set()
    assert db.reads == 1 and db.kept == []
    cmp.remember()  # both, in one write
    assert db.kept == [(b"n" * 16, Told(b"d" * 32), Told(listed_digest))]
    cmp.remember()
    assert len(db.kept) == 1

    # Then: both told by their digests, the sets never read, nothing kept again.
    db = _Baseline(sets, Seen(b"n" * 16, Told(b"d" * 32), Told(listed_digest)))
    cmp = Comparison(db, "pair")  # type: ignore[arg-type]
    assert cmp.local(_scan([], b"d" * 32)) == set()  # (records not even looked at)
    assert cmp.pod(ListingRecords(), raw) == set()
    cmp.remember()
    assert db.reads == 0 and db.kept == []

    # A digest told of paths gets those paths (the older record of a row changed since, a
    # file the user changed on the pod), again without the sets.
    db = _Baseline(
        sets,
        Seen(b"n" * 16, Told(b"d" * 32, frozenset({"a"})), Told(listed_digest, frozenset({"b"}))),
    )
    cmp = Comparison(db, "pair")  # type: ignore[arg-type]
    assert cmp.local(_scan([], b"d" * 32)) == {"a"}
    assert cmp.pod(ListingRecords(), raw) == {"b"}
    cmp.remember()
    assert db.reads == 0 and db.kept == []

    # A scan with another digest, or none (a walk in a thread), is compared: a change is seen,
    # and kept with its digest where it has one.
    for digest in (b"e" * 32, None):
        db = _Baseline(sets, Seen(b"n" * 16, Told(b"d" * 32), Told(listed_digest)))
        cmp = Comparison(db, "pair")  # type: ignore[arg-type]
        edited = [local_record("a", base["a"]._replace(size=9)), same[1]]
        assert cmp.local(_scan(edited, digest)) == {"a"}
        cmp.remember()
        assert db.reads == 1
        assert db.kept == ([(b"n" * 16, Told(digest, frozenset({"a"})), None)] if digest else [])

    # A listing that changed on the pod: compared, the change seen and kept.
    db = _Baseline(sets, Seen(b"n" * 16, Told(b"d" * 32), Told(listed_digest)))
    cmp = Comparison(db, "pair")  # type: ignore[arg-type]
    changed = listing([expected_record("a", R._replace(size=9)), expected_record("b", R)])
    assert cmp.pod(ListingRecords(), changed) == {"a"}
    cmp.remember()
    assert db.reads == 1
    assert db.kept == [(b"n" * 16, None, Told(ListingRecords().digest(changed), frozenset({"a"})))]


def test_a_scan_told_after_a_first_sync_reads_the_pods_half_of_the_sets_alone() -> None:
    """The resync after a first sync that kept its walk's digest (a scan told, nothing kept of
    the pod's listing): only the pod's half of the sets is read. A scan with another digest
    reads them again, whole, and its change is seen; what the pod's half told is kept only
    where the two reads are of one generation."""
    base, sets, raw = two_files()
    listed = Told(ListingRecords().digest(raw))
    edited = [local_record("a", base["a"]._replace(size=9)), local_record("b", F)]

    db = _Baseline(sets, Seen(b"n" * 16, Told(b"d" * 32)))
    cmp = Comparison(db, "pair")  # type: ignore[arg-type]
    cmp.prefetch(scan_digest=True)
    assert cmp.local(_scan([], b"d" * 32)) == set()
    assert cmp.pod(ListingRecords(), raw) == set()
    cmp.remember()
    assert db.halves == [False] and db.kept == [(b"n" * 16, None, listed)]

    for first_pod in (True, False):  # the listing compared before the scan, or after
        db = _Baseline(sets, Seen(b"n" * 16, Told(b"d" * 32)))
        cmp = Comparison(db, "pair")  # type: ignore[arg-type]
        cmp.prefetch(scan_digest=True)
        if first_pod:
            assert cmp.pod(ListingRecords(), raw) == set()
        assert cmp.local(_scan(edited, b"e" * 32)) == {"a"}
        if not first_pod:
            assert cmp.pod(ListingRecords(), raw) == set()
        cmp.remember()
        assert db.halves == [False, True]
        assert db.kept == [(b"n" * 16, Told(b"e" * 32, frozenset({"a"})), listed)]

    # A commit by another program between the two reads: the pod's half was told against the
    # generation before it, so only the scan's comparison is kept.
    db = _Baseline(sets, Seen(b"n" * 16, Told(b"d" * 32)))
    cmp = Comparison(db, "pair")  # type: ignore[arg-type]
    cmp.prefetch(scan_digest=True)
    assert cmp.pod(ListingRecords(), raw) == set()
    db.sets = sets._replace(nonce=b"m" * 16)
    assert cmp.local(_scan(edited, b"e" * 32)) == {"a"}
    cmp.remember()
    assert db.kept == [(b"m" * 16, Told(b"e" * 32, frozenset({"a"})), None)]

    # Without a digest kept for the scan, or a scan without one, the sets are read whole.
    for seen, digest in ((Seen(b"n" * 16), b"d" * 32), (Seen(b"n" * 16, Told(b"d" * 32)), None)):
        db = _Baseline(sets, seen)
        cmp = Comparison(db, "pair")  # type: ignore[arg-type]
        cmp.prefetch(scan_digest=digest is not None)
        assert cmp.local(_scan(edited, digest)) == {"a"}
        assert db.halves == [True]


def test_no_kept_sets_no_digest_and_a_row_without_a_record_plans_every_path() -> None:
    raw = listing([expected_record("a", R)])
    # Nothing kept (a first resync after an upgrade): compared by the sets.
    sets = Sets({local_record("a", F)}, {expected_record("a", R)}, b"n" * 16)
    db = _Baseline(sets, None)
    cmp = Comparison(db, "pair")  # type: ignore[arg-type]
    assert cmp.local(_scan([local_record("a", F)], b"d" * 32)) == set()
    cmp.remember()
    assert db.kept == [(b"n" * 16, Told(b"d" * 32), None)]
    # No sets (a row gives no record): every path planned (None), nothing kept.
    db = _Baseline(None, None)
    cmp = Comparison(db, "pair")  # type: ignore[arg-type]
    assert cmp.local(_scan([local_record("a", F)], b"d" * 32)) is None
    assert cmp.pod(ListingRecords(), raw) is None
    cmp.remember()
    assert db.reads == 1 and db.kept == []


@given(records, st.lists(odd_paths, max_size=4), st.booleans())
def test_a_listing_parsed_for_some_paths_gives_what_the_whole_parse_gives_for_them(
    recs: list[bytes], extra: list[str], dotted: bool
) -> None:
    """A plan of a few paths parses only their records: the entries the whole listing's parse
    gives for those paths, whatever the names (the ones asked for, and ones not listed)."""
    from rpdevd.sync.remote import parse_listing

    if dotted:  # a lister that prints `./path`
        recs = [r[: r[:-1].rindex(b"\0") + 1] + b"./" + r[r[:-1].rindex(b"\0") + 1 :] for r in recs]
    raw = listing(recs)
    whole = parse_listing(raw).entries
    for only in (set(list(whole)[::2]) | set(extra), set(), set(whole)):
        assert parse_listing(raw, only).entries == {p: e for p, e in whole.items() if p in only}


def test_the_sets_are_read_early_unless_both_sides_may_be_told_by_digests() -> None:
    """Where a side will need the sets, they are read while the walk and the listing run, not
    after them; where both may be told by their digests, not at all (until one differs)."""
    sets = Sets(set(), set(), b"n" * 16)
    both = Seen(b"n" * 16, Told(b"d" * 32), Told(b"p" * 32))
    for seen, scan_digest, reads in (
        (both, True, 0),
        (both, False, 1),  # a walk in a thread: no digest of the scan
        (Seen(b"n" * 16, Told(b"d" * 32)), True, 1),
        (Seen(b"n" * 16, None, Told(b"p" * 32)), True, 1),
        (None, True, 1),
    ):
        db = _Baseline(sets, seen)
        cmp = Comparison(db, "pair")  # type: ignore[arg-type]
        cmp.prefetch(scan_digest)
        cmp.prefetch(scan_digest)
        assert db.reads == reads


# Names from a few letters, so that paths, targets and the other fields name each other often.
_close = st.sampled_from(["a", "b", "a/b", "./a", "f", "0", "644", "d", ""])


@given(
    st.lists(st.tuples(st.sampled_from(["f", "d", "l", "0", ""]), _close, _close), max_size=10),
    st.binary(max_size=12),
    st.sets(_close, max_size=3),
)
def test_a_few_paths_are_found_by_searching_as_the_whole_parse_finds_them(
    recs: list[tuple[str, str, str]], tail: bytes, only: set[str]
) -> None:
    """A plan of a few paths finds their records by searching the listing for them: a symlink
    whose target names a path, another field that does, a record cut short at the end, or
    stray bytes after the records never make it take the wrong record or miss one."""
    from rpdevd.sync.remote import parse_listing

    body = b"".join(
        b"%s\x000\x00644\x001700000000\x00%s\x00%s\x00"
        % (t.encode(), target.encode(), path.encode())
        for t, target, path in recs
    )
    raw = HEADER + b" python3=1\n" + body + tail + END
    whole = parse_listing(raw)
    part = parse_listing(raw, only)
    assert part.entries == {p: e for p, e in whole.entries.items() if p in only}
    assert list(part.entries) == [p for p in whole.entries if p in only]

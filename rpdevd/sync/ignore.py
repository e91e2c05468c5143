"""Which local paths never leave the machine: defaults, `.gitignore` files, `.rpdevignore`.

Rules use gitignore syntax (via `pathspec`). `.gitignore` and `.rpdevignore` files apply to their
own directory and below, as git reads them; a deeper file overrides a shallower one, and a later
line overrides an earlier one. As in git, nothing below an ignored directory is looked at.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

# Directories and files that are almost never wanted on the pod (caches, environments, VCS data).
DEFAULT_IGNORES: tuple[str, ...] = (
    ".git/",
    ".hg/",
    ".svn/",
    "__pycache__/",
    "*.pyc",
    ".venv/",
    "venv/",
    "node_modules/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".tox/",
    ".nox/",
    ".ipynb_checkpoints/",
    ".DS_Store",
    "*.swp",
    "*~",
    ".#*",
    ".*.rpdev-tmp-*",
)

IGNORE_FILES: tuple[str, ...] = (".gitignore", ".rpdevignore")
MAX_IGNORE_FILE = 1 << 20  # a larger ignore file is not read (it is hostile or a mistake)


@dataclass(frozen=True)
class IgnoreConfig:
    """How to filter a tree. `extra` lines use gitignore syntax and apply at the root, after
    everything else (so `!pattern` there can re-include a default)."""

    use_defaults: bool = True
    use_gitignore: bool = True
    use_rpdevignore: bool = True
    extra: tuple[str, ...] = ()
    defaults: tuple[str, ...] = DEFAULT_IGNORES

    def files(self) -> tuple[str, ...]:
        names = []
        if self.use_gitignore:
            names.append(".gitignore")
        if self.use_rpdevignore:
            names.append(".rpdevignore")
        return tuple(names)


def _spec(lines: Iterable[str]) -> pathspec.GitIgnoreSpec | None:
    cleaned = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not cleaned:
        return None
    return pathspec.GitIgnoreSpec.from_lines(cleaned)


class UnreadableIgnoreFile(Exception):
    """An ignore file exists but cannot be read: what it would ignore is unknown."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_ignore_file(path: Path) -> list[str]:
    """Lines of an ignore file; a missing, oversized or binary one counts as empty.

    One that is there but cannot be read raises UnreadableIgnoreFile: taking it as empty would
    send to the pod what it keeps out (secrets, datasets), so the directory it governs is
    unknown until it reads again."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_IGNORE_FILE:
            return []
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise UnreadableIgnoreFile(f"{path.name}: {exc.strerror or exc}") from None


def _prefilter(spec: pathspec.GitIgnoreSpec) -> re.Pattern[str] | None:
    """One regular expression that matches wherever any of the spec's patterns does: most
    paths match none, and one search instead of one per pattern (pathspec's way) makes a scan
    several times faster. None where the patterns cannot be joined (then every path is checked
    pattern by pattern)."""
    regexes = []
    for pattern in spec.patterns:
        regex = getattr(pattern, "regex", None)
        if pattern.include is None:
            continue
        if not isinstance(regex, re.Pattern):
            return None
        regexes.append(regex)
    return _joined(regexes)


def _joined(regexes: list[re.Pattern[str]]) -> re.Pattern[str] | None:
    """One expression that matches wherever any of `regexes` does; None for none, or where
    they cannot be joined."""
    if not regexes or any(r.flags != re.UNICODE for r in regexes):
        return None
    # Named groups must be unique in one expression: number them apart.
    parts = (r.pattern.replace("(?P<", f"(?P<_{i}_") for i, r in enumerate(regexes))
    try:
        return re.compile("|".join(f"(?:{p})" for p in parts))
    except re.error:
        return None


_GLOB = frozenset("*?[\\")


@dataclass(frozen=True)
class _Names:
    """Which bare names could match a level whose every pattern names a single path component
    (`*.pyc`, `build/`, `!keep.log`: no slash but a trailing one): exact names, `*suffix`,
    `prefix*`, and the rest as one expression. Never says no where a pattern matches; a yes
    is checked by the level itself."""

    exact: frozenset[str]
    suffixes: tuple[str, ...]
    prefixes: tuple[str, ...]
    other: re.Pattern[str] | None

    @classmethod
    def of(cls, spec: pathspec.GitIgnoreSpec) -> _Names | None:
        exact: set[str] = set()
        suffixes: list[str] = []
        prefixes: list[str] = []
        other: list[re.Pattern[str]] = []
        for pattern in spec.patterns:
            if pattern.include is None:
                continue
            text = getattr(pattern, "pattern", None)
            regex = getattr(pattern, "regex", None)
            if not isinstance(text, str) or not isinstance(regex, re.Pattern):
                return None
            name = text[1:] if text.startswith("!") else text
            name = name[:-1] if name.endswith("/") else name
            if not name or "/" in name or name != name.strip():
                return None  # anchored or several components: the whole path decides
            if not _GLOB & set(name):
                exact.add(name)
            elif name.startswith("*") and not _GLOB & set(name[1:]):
                suffixes.append(name[1:])
            elif name.endswith("*") and not _GLOB & set(name[:-1]):
                prefixes.append(name[:-1])
            else:
                other.append(regex)
        rest = _joined(other)
        if other and rest is None:
            return None
        return cls(frozenset(exact), tuple(suffixes), tuple(prefixes), rest)

    def may_match(self, name: str, is_dir: bool) -> bool:
        return (
            name in self.exact
            or name.endswith(self.suffixes)
            or name.startswith(self.prefixes)
            or (
                self.other is not None
                and self.other.search(name + "/" if is_dir else name) is not None
            )
        )


@dataclass
class _Level:
    prefix: str  # "" for the root, else "a/b/"
    spec: pathspec.GitIgnoreSpec
    quick: re.Pattern[str] | None = None
    names: _Names | None = None

    def __post_init__(self) -> None:
        self.quick = _prefilter(self.spec)
        self.names = _Names.of(self.spec) if self.quick is not None else None

    def verdict(self, path: str) -> bool | None:
        """True: ignored; False: re-included by a `!` pattern; None: no pattern matches."""
        if self.quick is not None and self.quick.search(path) is None:
            return None
        return self.spec.check_file(path).include

    def by_name(self, rel_dir: str) -> _Names | None:
        """Its name filter for the entries of directory `rel_dir` (relative to the level),
        where the entry's own name alone decides: no component of `rel_dir` matches any of
        its patterns (each pattern names one component, so then only the entry's name can
        match). None where the whole path must be looked at."""
        if self.names is None or self.quick is None:
            return None
        if rel_dir and self.quick.search(rel_dir + "/") is not None:
            return None
        return self.names


@dataclass
class IgnoreRules:
    """Matcher for one tree. Build with `for_root`, then `enter(dirpath)` per directory scanned."""

    config: IgnoreConfig
    root_levels: list[_Level] = field(default_factory=list)
    tail: _Level | None = None
    _dir_levels: dict[str, _Level | None] = field(default_factory=dict)
    # Directories ('' for the root) whose ignore files could not be read, with the reason: the
    # scan takes them as unknown (nothing at or below them is sent, changed or deleted).
    unreadable: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_root(cls, root: Path, config: IgnoreConfig | None = None) -> IgnoreRules:
        config = config or IgnoreConfig()
        rules = cls(config)
        if config.use_defaults:
            spec = _spec(config.defaults)
            if spec:
                rules.root_levels.append(_Level("", spec))
        excluded: list[str] = []
        why = None
        if config.use_gitignore:
            try:
                excluded = read_ignore_file(root / ".git" / "info" / "exclude")
            except UnreadableIgnoreFile as exc:
                why = f".git/info/exclude: {exc.reason.partition(': ')[2]}"
            spec = _spec(excluded)
            if spec:
                rules.root_levels.append(_Level("", spec))
        tail = _spec(config.extra)
        rules.tail = _Level("", tail) if tail else None
        rules.load_dir(root, "")
        if why is not None:
            rules.unreadable.setdefault("", why)
        return rules

    def load_dir(self, root: Path, rel_dir: str) -> None:
        """Read the ignore files of directory `rel_dir` ('' for the root)."""
        lines: list[str] = []
        base = root / rel_dir if rel_dir else root
        self.unreadable.pop(rel_dir, None)
        for name in self.config.files():
            try:
                lines += read_ignore_file(base / name)
            except UnreadableIgnoreFile as exc:
                self.unreadable.setdefault(rel_dir, exc.reason)
        spec = _spec(lines)
        prefix = rel_dir + "/" if rel_dir else ""
        self._dir_levels[rel_dir] = _Level(prefix, spec) if spec else None

    def merge(self, other: IgnoreRules) -> None:
        """Take in the directories' rules that `other`, a copy of these rules, read since."""
        self._dir_levels.update(other._dir_levels)
        self.unreadable.update(other.unreadable)

    def forget_dir(self, rel_dir: str) -> None:
        self._dir_levels.pop(rel_dir, None)

    def _levels(self, rel: str) -> list[_Level]:
        levels = list(self.root_levels)
        parts = rel.split("/")[:-1]
        own = self._dir_levels.get("")
        if own:
            levels.append(own)
        for i in range(1, len(parts) + 1):
            lvl = self._dir_levels.get("/".join(parts[:i]))
            if lvl:
                levels.append(lvl)
        return levels

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """Whether `rel` itself matches (its parents are assumed not ignored)."""
        verdict: bool | None = None
        probe = rel + "/" if is_dir else rel
        for lvl in self._levels(rel):
            found = lvl.verdict(probe[len(lvl.prefix) :])
            if found is not None:
                verdict = found
        if self.tail is not None:
            found = self.tail.verdict(probe)
            if found is not None:
                verdict = found
        return bool(verdict)

    def dir_matcher(self, rel_dir: str) -> Callable[[str, bool], bool]:
        """`ignored` for the entries of directory `rel_dir` ('' for the root), its levels found
        once rather than per entry (a scan asks for every entry). A level whose patterns each
        name one path component is asked only about entries whose name could match (most
        names match none: one set lookup and two string tests instead of a regular
        expression over the whole path)."""
        levels = self._levels(f"{rel_dir}/x" if rel_dir else "x")
        if self.tail is not None:
            levels.append(self.tail)
        if not levels:
            return never_ignored
        own = rel_dir + "/" if rel_dir else ""
        filters = [lvl.by_name(own[len(lvl.prefix) :].rstrip("/")) for lvl in levels]
        if all(f is not None for f in filters):
            names = [(lvl, f) for lvl, f in zip(levels, filters, strict=True) if f is not None]
            start = len(own)

            def by_name(rel: str, is_dir: bool) -> bool:
                name = rel[start:]
                verdict: bool | None = None
                for lvl, f in names:
                    if f.may_match(name, is_dir):
                        probe = rel + "/" if is_dir else rel
                        found = lvl.verdict(probe[len(lvl.prefix) :])
                        if found is not None:
                            verdict = found
                return bool(verdict)

            return by_name

        def ignored(rel: str, is_dir: bool) -> bool:
            verdict: bool | None = None
            probe = rel + "/" if is_dir else rel
            for lvl in levels:
                found = lvl.verdict(probe[len(lvl.prefix) :])
                if found is not None:
                    verdict = found
            return bool(verdict)

        return ignored

    def ignored_path(self, rel: str, is_dir: bool) -> bool:
        """Whether `rel` or any of its parent directories is ignored."""
        parts = rel.split("/")
        for i in range(1, len(parts)):
            if self.ignored("/".join(parts[:i]), True):
                return True
        return self.ignored(rel, is_dir)

    def prune_names(self) -> list[str]:
        """Plain directory names ignored everywhere (no slash, no glob), for pruning the pod's
        listing; a name that `extra` re-includes is left out."""
        names = []
        for pattern in self.config.defaults if self.config.use_defaults else ():
            if pattern.endswith("/") and not any(c in pattern[:-1] for c in "*?[]/!\\"):
                name = pattern[:-1]
                if self.ignored(name, True) and self.ignored(f"x/{name}", True):
                    names.append(name)
        return names


def never_ignored(rel: str, is_dir: bool) -> bool:
    return False


def compile_patterns(lines: Sequence[str]) -> pathspec.GitIgnoreSpec | None:
    return _spec(lines)

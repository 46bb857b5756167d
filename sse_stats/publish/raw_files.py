"""The raw folder: untrusted file names, submission keys, listing and scanning.

What it is for: the first step between a file in the raw folder and the
analysts' tables (schema.md §8.1, §11; stack.md §3.2). ``scan_raw`` lists the
raw folder (and its ``<ISO3>/`` sub-folders) and names each file by its
identity, ``<name>@<sha8>`` (``submission_key``): the same bytes under two
names are one submission, and a file changed under the same name is a new one.
``check_raw_file`` checks one raw file, choosing its layout from its name.

Raw files are only read. File names are untrusted: names with path
separators, ``..``, control or shell characters are refused (``name_problem``,
``submission_path``), and so are symbolic links that leave the raw folder.

What it is not for: staging and promotion (``publish.staging``), publishing
the curated tables (``publish.publication``), reading, harmonising or
validating (``sse_stats.check``), Dagster (``pipelines/``).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sse_stats.check import check_submission, country_from_name, is_template
from sse_stats.errors import UsageError
from sse_stats.publish._files import _hash_file
from sse_stats.validate.report import ValidationReport

KEY_SEPARATOR = "@"
_KEY = re.compile(r"(?P<name>.+\.csv)@(?P<sha8>[0-9a-f]{8})", re.DOTALL)
_COUNTRY_FOLDER = re.compile(r"[A-Z]{3}")
# Characters a shell, a glob or a quoting layer would interpret. Spaces,
# parentheses and accents are common in NSO file names and stay allowed.
_SHELL_CHARS = frozenset("`$;|&<>*?!\"'{}[]")


class UnsafeFileError(UsageError):
    """A raw file name or link that the pipeline refuses to read."""

    title = "file refused"


class SubmissionChangedError(UnsafeFileError):
    """A submission key names bytes the raw file no longer holds."""

    title = "file changed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Listing:
    """Submission files found in a raw folder.

    Attributes:
        names: Names safe to read, sorted; a file in a country sub-folder is
            named ``<ISO3>/<file>.csv``.
        refused: ``(name, reason)`` for files that will not be read.
    """

    names: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RawFile:
    """One readable raw file and its identity.

    Attributes:
        name: Name relative to the raw folder (``PRT_2021.csv``,
            ``PRT/2021.csv``).
        size: Bytes.
        mtime_ns: Modification time (ns), to skip re-hashing unchanged files.
        sha256: SHA-256 of the content.
    """

    name: str
    size: int
    mtime_ns: int
    sha256: str

    @property
    def key(self) -> str:
        """The submission key ``<name>@<sha8>`` (the Dagster partition key)."""
        return submission_key(self.name, self.sha256)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scan:
    """The raw folder, file by file (``scan_raw``).

    Attributes:
        files: Distinct submissions, sorted by name.
        duplicates: ``(file, first)``: ``file`` holds the same bytes as
            ``first`` (the oldest copy) and is not a submission of its own.
        refused: ``(name, reason)`` for files that will not be read.
    """

    files: tuple[RawFile, ...]
    duplicates: tuple[tuple[RawFile, RawFile], ...]
    refused: tuple[tuple[str, str], ...]


def name_problem(name: str) -> str | None:
    """Why a raw file name is refused, or ``None`` when it is acceptable.

    Refused: empty names, path separators, ``..``, control and format
    characters (including bidirectional overrides), shell characters
    (`` ` $ ; | & < > * ? ! " ' { } [ ] ``) and a leading ``-`` or ``~``.

    Examples:
        >>> name_problem("PRT_2021.csv") is None
        True
        >>> name_problem("../x.csv")
        "it contains a path separator or '..'"
        >>> name_problem("a;rm x.csv")
        "it contains shell characters ';'"
    """
    if not name or name in (".", ".."):
        return "it is empty"
    if "/" in name or "\\" in name or ".." in name or (os.altsep and os.altsep in name):
        return "it contains a path separator or '..'"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        return "it contains a control character"
    shell = sorted({c for c in name if c in _SHELL_CHARS})
    if shell:
        return f"it contains shell characters {''.join(shell)!r}"
    if name[0] in "-~":
        return f"it starts with {name[0]!r}, which commands read as an option or home"
    return None


def submission_key(name: str, sha256: str) -> str:
    """The identity of a submission: ``<name>@<first 8 hex of its SHA-256>``.

    Used as the Dagster partition key and run key: a file changed under the
    same name gets a new key.

    Examples:
        >>> submission_key("PRT_2019-2020.csv", "0123456789abcdef" * 4)
        'PRT_2019-2020.csv@01234567'
    """
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise UsageError(f"{sha256!r} is not a SHA-256 in hex")
    return f"{name}{KEY_SEPARATOR}{sha256[:8]}"


def parse_submission_key(key: str) -> tuple[str, str | None]:
    """``(name, sha8)`` from a submission key; a bare file name gives no sha8.

    Examples:
        >>> parse_submission_key("PRT/2021.csv@0123abcd")
        ('PRT/2021.csv', '0123abcd')
        >>> parse_submission_key("PRT_2021.csv")
        ('PRT_2021.csv', None)
    """
    match = _KEY.fullmatch(key)
    if match is None:
        return key, None
    return match.group("name"), match.group("sha8")


def submission_path(raw: Path, name: str) -> Path:
    """``raw / name`` after checking the name and where the file really is.

    ``name`` is a file name, or ``<ISO3>/<file name>`` for a file in a
    country sub-folder.

    Raises:
        UnsafeFileError: the name is refused (``name_problem``), the folder is
            not an ISO3 code or is a symbolic link, the file is a symbolic link
            that leaves ``raw``, or it is not a regular file.
    """
    folder, _, base = name.rpartition("/")
    problem = name_problem(base)
    if problem is None and folder:
        if not _COUNTRY_FOLDER.fullmatch(folder):
            problem = "only one level of sub-folder, named by an ISO3 code, is read"
        elif (raw / folder).is_symlink():
            problem = f"its folder {folder} is a symbolic link"
    if problem is not None:
        raise UnsafeFileError(f"{name!r} refused: {problem}", name=repr(name))
    path = raw / name
    if path.is_symlink() and not path.resolve().is_relative_to(raw.resolve()):
        raise UnsafeFileError(
            f"{name!r} refused: it is a symbolic link to a file outside the raw "
            f"folder {raw}; copy the file into the raw folder instead",
            name=name,
        )
    if not path.is_file():
        raise UnsafeFileError(f"{name!r}: no such regular file in {raw}", name=name)
    return path


def list_submissions(raw: Path) -> Listing:
    """Every ``*.csv`` in ``raw`` and its ``<ISO3>/`` folders, safe or refused.

    Hidden files and folders are skipped, and so are directories and other
    non-files named ``*.csv``; symbolic links are followed only when they stay
    inside ``raw`` (a linked country folder is refused).

    Raises:
        UsageError: ``raw`` is not a directory.
    """
    if not raw.is_dir():
        raise UsageError(f"the raw folder {raw} does not exist or is not a directory")
    names: list[str] = []
    refused: list[tuple[str, str]] = []
    for entry in _raw_entries(raw):
        name = entry.relative_to(raw).as_posix()
        try:
            submission_path(raw, name)
        except UnsafeFileError as exc:
            refused.append((name, exc.description))
        else:
            names.append(name)
    return Listing(names=tuple(names), refused=tuple(refused))


def _raw_entries(raw: Path) -> list[Path]:
    """Candidate files: ``*.csv`` in ``raw`` and in its ``<ISO3>`` folders."""
    found: list[Path] = []
    for entry in sorted(raw.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and _COUNTRY_FOLDER.fullmatch(entry.name):
            if entry.is_symlink():
                found.append(entry / "(linked folder).csv")
                continue
            found += [
                p
                for p in sorted(entry.iterdir(), key=lambda p: p.name)
                if _is_candidate(p)
            ]
        elif _is_candidate(entry):
            found.append(entry)
    return sorted(found, key=lambda p: p.relative_to(raw).as_posix())


def _is_candidate(entry: Path) -> bool:
    return (
        not entry.name.startswith(".")
        and entry.name.endswith(".csv")
        and (entry.is_symlink() or entry.is_file())
    )


def scan_raw(raw: Path, known: Mapping[str, RawFile] | None = None) -> Scan:
    """List the raw folder with each file's identity (``submission_key``).

    Files with the same bytes as another are duplicates, not submissions: the
    oldest (by modification time, then name) is the submission. A file listed
    in ``known`` with the same size and modification time is not hashed again.

    Raises:
        UsageError: ``raw`` is not a directory.
    """
    listing = list_submissions(raw)
    items: list[RawFile] = []
    refused = list(listing.refused)
    for name in listing.names:
        path = raw / name
        try:
            stat = path.stat()
        except OSError as exc:
            refused.append((name, f"cannot be read: {exc.strerror}"))
            continue
        previous = (known or {}).get(name)
        if (
            previous is not None
            and previous.size == stat.st_size
            and previous.mtime_ns == stat.st_mtime_ns
        ):
            sha256: str | None = previous.sha256
        else:
            sha256, _size = _hash_file(path)
        if sha256 is None:
            refused.append((name, "cannot be read"))
            continue
        items.append(
            RawFile(
                name=name, size=stat.st_size, mtime_ns=stat.st_mtime_ns, sha256=sha256
            )
        )
    first: dict[str, RawFile] = {}
    for item in sorted(items, key=lambda f: (f.mtime_ns, f.name)):
        first.setdefault(item.sha256, item)
    return Scan(
        files=tuple(f for f in items if first[f.sha256] is f),
        duplicates=tuple(
            (f, first[f.sha256]) for f in items if first[f.sha256] is not f
        ),
        refused=tuple(refused),
    )


def check_raw_file(raw: Path, name: str, *, schemas_dir: Path) -> ValidationReport:
    """``check_submission`` on a raw file, choosing the layout from its name.

    The canonical template (first header ``STRUCTURE``) needs no country; any
    other file is read with ``schemas/mappings/<ISO3>.yaml`` for the ISO3 code
    its name starts with (``PRT_2019-2020.csv``), else for the country folder
    it is in (``PRT/2019-2020.csv``).

    Raises:
        UnsafeFileError: see ``submission_path``.
        UsageError: no layout can be chosen for the file.
    """
    path = submission_path(raw, name)
    if is_template(path):
        return check_submission(path, schemas_dir=schemas_dir)
    folder, _, base = name.rpartition("/")
    country = country_from_name(base) or (folder or None)
    if country is None:
        raise UsageError(
            f"{name} is not in the canonical template (its first column is not "
            "STRUCTURE) and its name does not start with an ISO 3166-1 alpha-3 "
            "code: rename it <ISO3>_....csv so schemas/mappings/<ISO3>.yaml is used"
        )
    try:
        return check_submission(path, schemas_dir=schemas_dir, country=country)
    except UsageError as exc:
        if isinstance(exc, UnsafeFileError):
            raise
        raise UsageError(f"{name}: {exc.description}") from exc

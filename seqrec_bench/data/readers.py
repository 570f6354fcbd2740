"""Readers for local data files: interaction records and per-user sequences (PROTOCOL §1.1).

Two formats are understood:

* ``interactions``: one record per line, ``user item timestamp[ rating]`` in any column order,
  separated by ``,``, ``;``, a tab, ``::`` (MovieLens ``ratings.dat``) or runs of spaces. Columns
  are found by header name (common aliases such as ``user_id``/``userId``/``uid`` are accepted),
  or given explicitly; a headerless file is read as ``user item rating timestamp`` when it has 4
  fields (MovieLens ``u.data``) and ``user item timestamp`` when it has 3. Parquet files
  (``.parquet`` suffix or ``PAR1`` magic bytes) hold interactions too, one record per row, and
  are read with pandas + pyarrow (the ``parquet`` extra: ``pip install 'seqrec-bench[parquet]'``).
* ``sequences``: one line per user, ``user item item ...``, items already in time order
  (the ``Beauty.txt`` files of the S3-Rec/ICLRec code).

Both readers return :class:`Interactions` (raw ids, file order) for
:func:`seqrec_bench.data.preprocess.preprocess_interactions`. Everything a user can get wrong
raises :class:`~seqrec_bench.data.dataset.DatasetError` with ``file:line`` where a line is at fault.
"""

from __future__ import annotations

import bz2
import gzip
import io
import itertools
import lzma
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from seqrec_bench.data.dataset import DatasetError

__all__ = [
    "FORMATS",
    "COLUMN_ALIASES",
    "Interactions",
    "detect_format",
    "read_interactions",
    "read_sequences",
    "read_file",
    "parse_columns",
    "COLUMNS_SYNTAX",
    "is_parquet",
    "read_parquet",
]

#: The local file formats :func:`read_file` understands.
FORMATS = ("interactions", "sequences")

#: Header names recognised for each role, compared after lower-casing, dropping a RecBole-style
#: ``:type`` suffix and removing everything but letters and digits (``user_id`` == ``UserID``).
#: Earlier aliases win when a header matches several.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "user": (
        "user",
        "userid",
        "uid",
        "users",
        "customerid",
        "reviewerid",
        "visitorid",
        "sessionid",
    ),
    "item": (
        "item",
        "itemid",
        "iid",
        "items",
        "movieid",
        "movie",
        "productid",
        "product",
        "asin",
        "trackid",
        "songid",
        "bookid",
        "isbn",
        "articleid",
    ),
    "timestamp": (
        "timestamp",
        "time",
        "ts",
        "datetime",
        "date",
        "unixtime",
        "unixreviewtime",
        "createdat",
    ),
    "rating": ("rating", "ratings", "score", "stars", "overall"),
}

_ROLES = ("user", "item", "timestamp", "rating")
_REQUIRED = ("user", "item", "timestamp")
#: The roles as the user names them: ``time`` is the short name of ``timestamp``.
_ROLE_NAMES = {
    "user": "user",
    "item": "item",
    "time": "timestamp",
    "timestamp": "timestamp",
    "rating": "rating",
}
_VALID_ROLES = "user, item, time, rating"

#: The command-line form of the ``columns`` option (COL: a header name or a 0-based position).
COLUMNS_SYNTAX = "user=COL,item=COL,time=COL[,rating=COL]"
#: How to name columns, for the error messages: the CLI option and the TOML key.
_COLUMNS_HOW = (
    f"--columns {COLUMNS_SYNTAX} (COL: a header name or a 0-based position), or the TOML key "
    'columns = { user = "...", item = "...", time = "..." }'
)
_SAMPLE_LINES = 50
_SAMPLE_BYTES = 1 << 16
_PARSER_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


@dataclass
class Interactions:
    """Raw interaction records in file order, before any id remapping or filtering.

    Attributes:
        users: raw user id of every record (int64, or strings).
        items: raw item id of every record (int64, or strings).
        timestamps: numeric timestamp of every record (datetimes become int64 nanoseconds), or
            ``None`` when the file order already is the time order (sequences format, synthetic).
        ratings: rating of every record, or ``None`` when the file has none.
        files: names of the files the records came from (for the statistics).
    """

    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray | None = None
    ratings: np.ndarray | None = None
    files: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.users)


# -- the columns option ------------------------------------------------------------------------
def parse_columns(text: str) -> dict[str, str | int]:
    """Parse the command-line form ``user=COL,item=COL,time=COL[,rating=COL]``.

    ``COL`` is a header name or a 0-based position (all digits: an ``int``). ``time`` may also
    be written ``timestamp``; the result uses the role names of :func:`read_interactions`
    (``user``, ``item``, ``timestamp``, ``rating``). ``user`` and ``item`` are required; a
    missing ``time`` is found by header name or by the headerless defaults.

    Raises:
        DatasetError: a part without ``=``, an unknown or repeated role, an empty column, or no
            user / item column (one line naming the bad part and the valid roles).

    Example:
        >>> parse_columns("user=userId,item=movieId,time=timestamp")
        {'user': 'userId', 'item': 'movieId', 'timestamp': 'timestamp'}
        >>> parse_columns("user=0, item=1, time=3, rating=2")
        {'user': 0, 'item': 1, 'timestamp': 3, 'rating': 2}
    """
    where = f"--columns {text!r}"
    syntax = f"write --columns {COLUMNS_SYNTAX}, COL a header name or a 0-based position"
    out: dict[str, str | int] = {}
    for part in str(text).split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise DatasetError(f"{where}: {part.strip()!r} has no '=': {syntax}")
        name, _, col = (x.strip() for x in part.partition("="))
        role = _ROLE_NAMES.get(name.lower())
        if role is None:
            raise DatasetError(
                f"{where}: unknown role {name!r}; valid roles are {_VALID_ROLES} ({syntax})"
            )
        if role in out:
            raise DatasetError(f"{where}: the {name.lower()} column is given twice ({syntax})")
        if not col:
            raise DatasetError(f"{where}: {name}= names no column ({syntax})")
        out[role] = int(col) if col.isascii() and col.isdigit() else col
    missing = [r for r in ("user", "item") if r not in out]
    if missing:
        raise DatasetError(
            f"{where}: no {' / '.join(missing)} column; user and item are required ({syntax})"
        )
    return out


# -- sniffing ----------------------------------------------------------------------------------
def _open_text(path: Path) -> io.TextIOBase:
    """Open a possibly compressed text file (the same suffixes pandas infers)."""
    suffix = path.suffix.lower()
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(suffix, open)
    return opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="")  # type: ignore[operator]


def _sample_lines(path: Path) -> list[tuple[int, str]]:
    """The first non-blank lines of ``path`` with their 1-based line numbers."""
    out: list[tuple[int, str]] = []
    read = 0
    try:
        with _open_text(path) as fh:
            for number, line in enumerate(fh, start=1):
                read += len(line)
                stripped = line.rstrip("\r\n")
                if stripped.strip():
                    out.append((number, stripped))
                if len(out) >= _SAMPLE_LINES or read >= _SAMPLE_BYTES:
                    break
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not out:
        raise DatasetError(
            f"{path} is empty: expected interaction records or one sequence per line"
        )
    return out


def _delimiter(lines: list[str]) -> str:
    """The field separator every sampled line uses; ``r"\\s+"`` means runs of blanks."""
    for sep in ("::", "\t", ",", ";"):
        if all(sep in line for line in lines):
            return sep
    return r"\s+"


def _split(line: str, sep: str) -> list[str]:
    return line.split() if sep == r"\s+" else [f.strip() for f in line.split(sep)]


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.split(":")[0].lower())


def _role_of_header(name: str) -> str | None:
    norm = _normalise(name)
    for role in _ROLES:
        if norm in COLUMN_ALIASES[role]:
            return role
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _has_header(rows: list[list[str]], columns: Mapping | None) -> bool:
    """Whether the first sampled row is a header.

    It is when it names a known column, when ``columns`` refers to columns by name, or when a
    column that is numeric on every later line is not numeric on the first one.
    """
    first = rows[0]
    if any(_role_of_header(f) for f in first):
        return True
    if columns and any(isinstance(v, str) for v in columns.values()):
        return True
    rest = rows[1:]
    if not rest:
        return False
    for j, value in enumerate(first):
        later = [r[j] for r in rest if j < len(r)]
        if later and all(_is_number(v) for v in later) and not _is_number(value):
            return True
    return False


def detect_format(path: str | Path) -> str:
    """Guess whether ``path`` holds interaction records or per-user sequences.

    Parquet files (``.parquet`` or the ``PAR1`` magic) hold records. Text records use a fixed
    number of fields per line (or have a header, or use ``,``/``;``/``::``,
    or repeat a user in the first field); sequences files have one line per user whose number of
    fields varies. A blank-separated file whose lines all have the same number of fields is only
    taken for records when its last column looks like unix timestamps; anything else is
    ambiguous. ``--format`` always overrides the guess.

    Raises:
        DatasetError: when the file is empty or the format cannot be told (asks for ``--format``).

    Example:
        >>> detect_format("ml-100k/u.data")  # doctest: +SKIP
        'interactions'
    """
    path = Path(path)
    if is_parquet(path):
        return "interactions"
    sample = _sample_lines(path)
    lines = [line for _, line in sample]
    sep = _delimiter(lines)
    rows = [_split(line, sep) for line in lines]
    if sep in ("::", ",", ";") or any(_role_of_header(f) for f in rows[0]):
        return "interactions"
    counts = [len(r) for r in rows]
    n_fields = max(set(counts), key=counts.count)
    if len(set(counts)) > 1:
        # records with a stray malformed line still look like records (the reader then reports
        # that line); a first field that repeats means records too, as a user has one line in a
        # sequences file
        firsts = [r[0] for r in rows]
        mostly_fixed = n_fields in (3, 4) and counts.count(n_fields) >= 0.9 * len(counts)
        if mostly_fixed or len(set(firsts)) < len(firsts):
            return "interactions"
        return "sequences"
    if sep == "\t" and n_fields >= 3:
        return "interactions"
    last = [r[-1] for r in rows]
    if n_fields in (3, 4) and all(v.isdigit() and int(v) >= 10**8 for v in last):
        return "interactions"
    raise DatasetError(
        f"cannot tell the format of {path}: every sampled line has {n_fields} fields, which fits "
        "both one record per line and one user per line; pass --format interactions or "
        "--format sequences"
    )


# -- interactions ------------------------------------------------------------------------------
def _resolve_columns(
    path: Path,
    header: list[str] | None,
    n_fields: int,
    columns: Mapping | None,
    header_where: str = "",
) -> dict[str, int | None]:
    """Map each role to a 0-based field position (``None``: the file has no such column)."""
    given = dict(columns or {})
    unknown = sorted(str(k) for k in given if str(k).lower() not in _ROLE_NAMES)
    if unknown:
        raise DatasetError(
            f"unknown column role(s) {unknown} in columns: valid roles are {_VALID_ROLES}"
        )
    columns = {}
    for name, spec in given.items():
        role = _ROLE_NAMES[str(name).lower()]
        if role in columns:
            raise DatasetError(f"columns names the {role} column twice ({name!r}): give it once")
        columns[role] = spec
    positions: dict[str, int | None] = {}
    for role, spec in columns.items():
        if spec is None:
            positions[role] = None  # explicitly absent (e.g. no timestamps: keep file order)
        elif isinstance(spec, bool) or not isinstance(spec, (int, str)):
            raise DatasetError(
                f"columns[{role!r}] must be a header name or a 0-based position, not {spec!r}"
            )
        elif isinstance(spec, int):
            if not 0 <= spec < n_fields:
                raise DatasetError(
                    f"columns[{role!r}] = {spec} but {path} has {n_fields} fields per line "
                    f"(positions 0..{n_fields - 1})"
                )
            positions[role] = spec
        else:
            if header is None:
                raise DatasetError(
                    f"columns[{role!r}] names a column ({spec!r}) but {path} has no header line: "
                    "give 0-based positions instead"
                )
            matches = [j for j, h in enumerate(header) if h == spec] or [
                j for j, h in enumerate(header) if h.strip().lower() == spec.strip().lower()
            ]
            if not matches:
                raise DatasetError(
                    f"{path} has no column {spec!r} (columns[{role!r}]); its header is {header}"
                )
            positions[role] = matches[0]

    if header is not None:
        for role in _ROLES:
            if role in positions:
                continue
            taken = {p for p in positions.values() if p is not None}
            for alias in COLUMN_ALIASES[role]:
                hit = [j for j, h in enumerate(header) if _normalise(h) == alias and j not in taken]
                if hit:
                    positions[role] = hit[0]
                    break
        missing = [r for r in _REQUIRED if r not in positions]
        if missing:
            raise DatasetError(
                f"{header_where or path}: no {' / '.join(missing)} column among the header "
                f"{header}; name the columns with {_COLUMNS_HOW}"
            )
    elif not all(r in positions for r in _REQUIRED):
        defaults = {
            4: {"user": 0, "item": 1, "rating": 2, "timestamp": 3},
            3: {"user": 0, "item": 1, "timestamp": 2},
        }.get(n_fields)
        if defaults is None:
            raise DatasetError(
                f"{path} has no header and {n_fields} fields per line, so its columns cannot be "
                "guessed (3 fields = user item timestamp, 4 = user item rating timestamp); give "
                "their 0-based positions with --columns user=0,item=1,time=2[,rating=3], or the "
                "TOML key columns = { user = 0, item = 1, time = 2 }"
            )
        for role, pos in defaults.items():
            positions.setdefault(role, pos)
    positions.setdefault("rating", None)
    used = [p for p in positions.values() if p is not None]
    if len(used) != len(set(used)):
        raise DatasetError(f"{path}: two roles map to the same column in {positions}")
    return positions


def _data_line_number(path: Path, row: int, header: bool, sep: str) -> int:
    """The 1-based file line of data row ``row``.

    Only on the error path. Blank lines are skipped the way pandas skips them: a line of
    whitespace is blank unless that whitespace includes the (tab) separator.
    """
    blank = " \r\n\f\v" if sep == "\t" else None
    seen = -1 if header else 0
    with _open_text(path) as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip(blank):
                if seen == row:
                    return number
                seen += 1
    return -1


def _bad_line(path: Path, line: int, what: str, hint: str = "") -> DatasetError:
    return _bad_record(f"{path}:{line}", what, hint)


def _bad_record(where: str, what: str, hint: str = "") -> DatasetError:
    return DatasetError(
        f"{where}: {what}; "
        + (
            hint
            or "fix or delete that line (or, if the file was read the wrong way, pass --format "
            f"interactions|sequences or --columns {COLUMNS_SYNTAX})"
        )
    )


def _to_ids(values: pd.Series) -> np.ndarray:
    """Raw ids as int64 when every id is an integer, else as an object array of strings.

    Strings stay Python objects (a fixed-width unicode copy of millions of ids would cost
    gigabytes, and one long id would make every id cost as much).
    """
    if values.dtype.kind in "iu":
        return values.to_numpy(dtype=np.int64)
    if values.dtype.kind == "f":
        arr = values.to_numpy()
        if np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        return arr.astype(str).astype(object)
    out = values.to_numpy(dtype=object)
    if len(out) and not isinstance(out[0], str):  # e.g. dates or bytes in a parquet column
        out = np.array([str(v) for v in out], dtype=object)
    return out


def _to_numbers(
    values: pd.Series, role: str, allow_dates: bool, locate: Callable[[int], str], hint: str = ""
) -> np.ndarray:
    """A numeric column; a value that is not a number (or a date) is a malformed record.

    ``locate(row)`` names the place of data row ``row`` (``file:line``), only on the error path.
    """
    if values.dtype.kind == "M":  # parquet datetimes (any unit, naive or with a time zone)
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return values.to_numpy().astype("datetime64[ns]").astype(np.int64)
    if values.dtype.kind in "iuf":
        return values.to_numpy()
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna().to_numpy()
    if bad.all() and allow_dates:
        dates = pd.to_datetime(values, errors="coerce", format="mixed")
        bad = dates.isna().to_numpy()
        if not bad.any():
            return dates.to_numpy().astype("datetime64[ns]").astype(np.int64)
    if bad.any():
        row = int(np.argmax(bad))
        kind = "a number or date" if allow_dates else "a number"
        raise _bad_record(locate(row), f"{role} {values.iloc[row]!r} is not {kind}", hint)
    return numbers.to_numpy()


def _records(
    path: Path,
    frame: pd.DataFrame,
    positions: dict[str, int | None],
    stride: int,
    locate: Callable[[int], str],
    hint: str = "",
) -> Interactions:
    """The :class:`Interactions` in the columns ``positions`` names (pandas column ``pos * stride``)."""
    out: dict[str, pd.Series] = {}
    n_fields = (frame.shape[1] + stride - 1) // stride
    for role, pos in positions.items():
        if pos is None:
            continue
        if pos * stride >= frame.shape[1]:
            raise DatasetError(f"{path}: column {pos} ({role}) is beyond the {n_fields} fields")
        series = frame[frame.columns[pos * stride]]
        missing = series.isna().to_numpy()
        if missing.any():
            raise _bad_record(locate(int(np.argmax(missing))), f"no {role} value", hint)
        out[role] = series
    del frame

    timestamps = (
        _to_numbers(out["timestamp"], "timestamp", True, locate, hint)
        if "timestamp" in out
        else None
    )
    ratings = _to_numbers(out["rating"], "rating", False, locate, hint) if "rating" in out else None
    return Interactions(
        users=_to_ids(out["user"]),
        items=_to_ids(out["item"]),
        timestamps=timestamps,
        ratings=ratings,
        files=[path.name],
    )


def _sequence_like(sample: list[tuple[int, str]], rows: list[list[str]]) -> str | None:
    """Why blank- or tab-separated lines look like one sequence per user, or ``None``.

    They do when the number of fields varies (which no records file of these separators can
    do) and either it takes three or more values or no user (first field) repeats.
    """
    if len(rows) < 2:
        return None
    counts = [len(r) for r in rows]
    if len(set(counts)) < 2:
        return None
    firsts = [r[0] for r in rows]
    if len(set(counts)) < 3 and len(set(firsts)) < len(firsts):
        return None
    odd = next(k for k, c in enumerate(counts) if c != counts[0])
    return (
        f"{sample[odd][0]}: {counts[odd]} fields where line {sample[0][0]} has {counts[0]}: "
        f"the lines have different numbers of fields ({min(counts)} to {max(counts)} among the "
        f"first {len(rows)}){'' if len(set(firsts)) < len(firsts) else ' and no user repeats'}, "
        "so the file looks like one sequence per user ('user item item ...'): pass --format "
        "sequences"
    )


def read_interactions(path: str | Path, columns: Mapping | None = None) -> Interactions:
    """Read one-record-per-line interactions.

    Args:
        path: the file (``.gz``/``.bz2``/``.xz`` compressed files work too).
        columns: optional ``{"user": ..., "item": ..., "timestamp": ..., "rating": ...}`` with header
            names or 0-based positions; roles left out are found by header alias or by the
            headerless defaults. ``"timestamp": None`` means the file has no timestamps and its
            order is the time order.

    Returns:
        The records in file order.

    Raises:
        DatasetError: unreadable or malformed file (with ``file:line``), unknown columns.

    Example:
        >>> recs = read_interactions("ml-100k/u.data")  # doctest: +SKIP
        >>> len(recs), recs.ratings is not None  # doctest: +SKIP
        (100000, True)
    """
    path = Path(path)
    if is_parquet(path):
        return read_parquet(path, columns)
    sample = _sample_lines(path)
    lines = [line for _, line in sample]
    sep = _delimiter(lines)
    rows = [_split(line, sep) for line in lines]
    header = _has_header(rows, columns)
    if len(rows) == 1 and not all(_is_number(v) for v in rows[0]) and _whole_sample(path, sample):
        what = "a header line" if header else "one line, which looks like a header"
        raise DatasetError(
            f"{path}:{sample[0][0]}: the file has {what} ({', '.join(rows[0])}) and no records: "
            "add the interactions below it, one per line"
        )
    if sep in (r"\s+", "\t"):
        data = rows[1:] if header else rows
        why = _sequence_like(sample[1:] if header else sample, data)
        if why is not None:
            raise DatasetError(f"{path}:{why}")
    n_fields = len(rows[1] if header and len(rows) > 1 else rows[0])
    positions = _resolve_columns(
        path, rows[0] if header else None, n_fields, columns, f"{path}:{sample[0][0]}"
    )

    # The C engine is an order of magnitude faster than the python one. "::" is read as ":" with
    # an empty field between every two real ones, so real field j is pandas column 2j.
    pd_sep, stride = (":", 2) if sep == "::" else (sep, 1)
    try:
        frame = pd.read_csv(
            path,
            sep=pd_sep,
            # header=0 reads the first non-blank line as the header; names are ignored (columns
            # are taken by position) and a skiprows list would make parsing twice as slow
            header=0 if header else None,
            index_col=False,
            engine="c",
            encoding="utf-8-sig",
            encoding_errors="replace",
            skip_blank_lines=True,
            quoting=3 if sep in ("\t", "::", r"\s+") else 0,  # QUOTE_NONE: quotes are data there
            low_memory=False,
        )
    except pd.errors.ParserError as exc:
        hit = _PARSER_FIELDS.search(str(exc))
        if hit:
            expected, line, saw = (int(g) for g in hit.groups())
            if stride == 2:
                expected, saw = (expected + 1) // 2, (saw + 1) // 2
            raise _bad_line(path, line, f"expected {expected} fields, found {saw}") from exc
        raise DatasetError(f"cannot parse {path}: {' '.join(str(exc).split())}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {' '.join(str(exc).split())}") from exc
    if frame.empty:
        raise DatasetError(
            f"{path}:{sample[0][0]}: the file has a header line ({', '.join(rows[0])}) and no "
            "records: add the interactions below it, one per line"
        )

    def locate(row: int) -> str:
        return f"{path}:{_data_line_number(path, row, header, sep)}"

    return _records(path, frame, positions, stride, locate)


def _whole_sample(path: Path, sample: list[tuple[int, str]]) -> bool:
    """Whether the sample is the whole file (nothing non-blank after its last line)."""
    with _open_text(path) as fh:
        for number, line in enumerate(fh, start=1):
            if number > sample[-1][0] and line.strip():
                return False
    return True


# -- parquet -----------------------------------------------------------------------------------
def is_parquet(path: str | Path) -> bool:
    """Whether ``path`` is a parquet file: a ``.parquet`` / ``.pq`` suffix or the ``PAR1`` magic.

    Example:
        >>> is_parquet("ratings.parquet")
        True
    """
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PAR1"
    except OSError:
        return False


def read_parquet(path: str | Path, columns: Mapping | None = None) -> Interactions:
    """Read interaction records from a parquet file (one record per row), with pandas + pyarrow.

    Columns are found as in :func:`read_interactions`: by ``columns`` (names or 0-based
    positions) or by the column names' aliases. Datetime columns become int64 nanoseconds.

    Raises:
        DatasetError: pyarrow is not installed (says ``pip install 'seqrec-bench[parquet]'``),
            the file is not readable parquet, has no records, or misses a column.
    """
    path = Path(path)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise DatasetError(
            f"{path} is a parquet file, and reading parquet needs pyarrow, which is not "
            "installed: pip install 'seqrec-bench[parquet]' (or export it as CSV)"
        ) from None
    try:
        frame = pd.read_parquet(path)
    except ImportError as exc:  # a pyarrow too old for this pandas
        raise DatasetError(
            f"cannot read parquet file {path}: {' '.join(str(exc).split())}; pip install "
            "'seqrec-bench[parquet]'"
        ) from exc
    except Exception as exc:  # pyarrow's errors (ArrowInvalid, ...) have no common base to name
        raise DatasetError(
            f"cannot read {path} as parquet: {' '.join(str(exc).split())[:300]}"
        ) from exc
    header = [str(c) for c in frame.columns]
    if frame.empty:
        raise DatasetError(
            f"{path}: the parquet file has columns ({', '.join(header)}) and no records"
        )
    positions = _resolve_columns(path, header, len(header), columns, f"{path} (parquet columns)")

    def locate(row: int) -> str:
        return f"{path}: row {row + 1}"

    hint = f"fix or delete that record (or name the columns with --columns {COLUMNS_SYNTAX})"
    return _records(path, frame, positions, 1, locate, hint)


# -- sequences ---------------------------------------------------------------------------------
def read_sequences(path: str | Path) -> Interactions:
    """Read one line per user, ``user item item ...``, items oldest first.

    The records come back flattened in file order with ``timestamps=None``: the order of each line
    is the time order. A user may appear on one line only.

    Raises:
        DatasetError: unreadable file, or a user on two lines (then the file is probably an
            interactions file; the message says so).

    Example:
        >>> recs = read_sequences("amazon-beauty/Beauty.txt")  # doctest: +SKIP
        >>> recs.timestamps is None  # doctest: +SKIP
        True
    """
    path = Path(path)
    try:
        with _open_text(path) as fh:
            text = fh.read()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    parsed = _numeric_lines(text)
    if parsed is None:
        parsed = _token_lines(text)
    if parsed is None:
        raise DatasetError(f"{path} is empty: expected one line per user, 'user item item ...'")
    line_numbers, counts, users, items = parsed

    dup = pd.Series(users).duplicated(keep="first").to_numpy()
    if dup.any():
        second = int(np.argmax(dup))
        first = int(np.flatnonzero(users == users[second])[0])
        raise DatasetError(
            f"{path}:{line_numbers[second]}: user {users[second]} already has a line "
            f"({path.name}:{line_numbers[first]}); a sequences file has one line per user, so "
            "this looks like an interactions file: pass --format interactions"
        )
    return Interactions(users=np.repeat(users, counts), items=items, files=[path.name])


_NUMERIC_TEXT = re.compile(r"[0-9 \t\r\n]*")
#: Longest token the numeric path reads (19 digits can pass the int64 range).
_NUMERIC_DIGITS = 18


def _numeric_lines(
    text: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`_token_lines` for text of unsigned integers and whitespace only, in numpy.

    The per-token path builds one Python string per interaction (10x slower than the CSV
    reader on the same records); here the digits are parsed by numpy in C and the line of each
    token found from the positions of the line breaks. ``None`` for any other text (signs,
    letters, other whitespace, very long numbers): :func:`_token_lines` reads it.
    """
    if not _NUMERIC_TEXT.fullmatch(text):
        return None
    raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    if not len(raw):
        return None
    digit = (raw >= ord("0")) & (raw <= ord("9"))
    before = np.concatenate([[False], digit[:-1]])
    after = np.concatenate([digit[1:], [False]])
    starts = np.flatnonzero(digit & ~before)
    if not len(starts):
        return None
    ends = np.flatnonzero(digit & ~after)
    if int((ends - starts).max()) + 1 > _NUMERIC_DIGITS:
        return None
    values = np.fromstring(text, dtype=np.int64, sep=" ")  # text mode: whitespace-separated
    if len(values) != len(starts):
        return None
    # line breaks as str.splitlines sees them here: \n, \r\n (one break) and a lone \r
    next_is_lf = np.concatenate([raw[1:] == ord("\n"), [False]])
    breaks = (raw == ord("\n")) | ((raw == ord("\r")) & ~next_is_lf)
    token_line = np.cumsum(breaks)[starts]
    lines, first, counts = np.unique(token_line, return_index=True, return_counts=True)
    is_user = np.zeros(len(values), dtype=bool)
    is_user[first] = True
    return (
        lines.astype(np.int64) + 1,
        counts.astype(np.int64) - 1,
        values[first],
        values[~is_user],
    )


def _token_lines(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """``(line numbers, items per line, users, items)`` of the non-blank lines; ``None``: none."""
    # one Python step per user (a line), one string per token: the splitting runs in C
    numbered = [(n, line.split()) for n, line in enumerate(text.splitlines(), start=1)]
    numbered = [(n, fields) for n, fields in numbered if fields]
    if not numbered:
        return None
    line_numbers = np.fromiter((n for n, _ in numbered), dtype=np.int64, count=len(numbered))
    counts = np.fromiter((len(f) - 1 for _, f in numbered), dtype=np.int64, count=len(numbered))
    users = _tokens_to_ids([f[0] for _, f in numbered])
    items = _tokens_to_ids(list(itertools.chain.from_iterable(f[1:] for _, f in numbered)))
    return line_numbers, counts, users, items


def _tokens_to_ids(tokens: list[str]) -> np.ndarray:
    """int64 ids when every token is an integer, else an object array of the ``str`` tokens.

    Never a fixed-width unicode array of all tokens: its width would be that of the longest
    token, so one very long id would make every token cost as much.
    """
    if tokens and max(map(len, tokens)) <= 20:  # an int64 has at most 20 characters
        try:
            return np.asarray(tokens, dtype=str).astype(np.int64)
        except ValueError:
            pass
    out = np.empty(len(tokens), dtype=object)
    out[:] = tokens
    return out


def read_file(
    path: str | Path, format: str | None = None, columns: Mapping | None = None
) -> Interactions:
    """Read a local file in ``format`` (``None``: :func:`detect_format`).

    Raises:
        DatasetError: unknown format, ``columns`` with the sequences format, or a reader error.
    """
    path = Path(path)
    if format is None:
        format = detect_format(path)
    if format not in FORMATS:
        raise DatasetError(
            f"unknown format {format!r}: use --format interactions or --format sequences"
        )
    if format == "sequences":
        if is_parquet(path):
            raise DatasetError(
                f"{path} is a parquet file, which is read as interactions (one record per row): "
                "drop --format sequences or pass --format interactions"
            )
        if columns:
            raise DatasetError("--columns applies to the interactions format, not to sequences")
        return read_sequences(path)
    return read_interactions(path, columns)

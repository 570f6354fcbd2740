"""Inputs a new user gets wrong: each is one clear line (what, where, what to do).

The --columns form and every suggestion of it, parquet files, a header without records, and a
sequences file read as interactions."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqrec_bench.data import (
    COLUMNS_SYNTAX,
    DatasetError,
    load_dataset,
    parse_columns,
    read_file,
)
from seqrec_bench.data.readers import is_parquet


def one_line_error(excinfo: pytest.ExceptionInfo[DatasetError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and message
    return message


def log_frame(n_users: int = 8, per_user: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        (f"u{u}", int(i), 1_600_000_000 + 60 * k + u)
        for u in range(n_users)
        for k, i in enumerate(rng.choice(np.arange(1, 30), size=per_user, replace=False))
    ]
    return pd.DataFrame(rows, columns=["userId", "movieId", "timestamp"])


# -- the --columns form ---------------------------------------------------------------------------
def test_parse_columns_names_positions_and_aliases() -> None:
    assert parse_columns("user=userId,item=movieId,time=ts") == {
        "user": "userId",
        "item": "movieId",
        "timestamp": "ts",
    }
    assert parse_columns(" user = 0 , item=1, timestamp=3, rating=2 ") == {
        "user": 0,
        "item": 1,
        "timestamp": 3,
        "rating": 2,
    }
    assert parse_columns("User=a,ITEM=b") == {"user": "a", "item": "b"}
    assert parse_columns(COLUMNS_SYNTAX.replace("[", "").replace("]", "")) == {
        "user": "COL",
        "item": "COL",
        "timestamp": "COL",
        "rating": "COL",
    }


@pytest.mark.parametrize(
    "text, names",
    [
        ("user=a,item=b,foo=c", ["unknown role 'foo'", "valid roles are user, item, time, rating"]),
        ("user=a,item", ["'item' has no '='"]),
        ("user=a,item=b,user=c", ["the user column is given twice"]),
        ("user=a,item=b,time=c,timestamp=d", ["the timestamp column is given twice"]),
        ("user=a,time=c", ["no item column", "user and item are required"]),
        ("time=c", ["no user / item column"]),
        ("user=,item=b", ["user= names no column"]),
        ("", ["no user / item column"]),
    ],
)
def test_parse_columns_errors_name_the_bad_part(text: str, names: list[str]) -> None:
    with pytest.raises(DatasetError) as info:
        parse_columns(text)
    message = one_line_error(info)
    assert message.startswith(f"--columns {text!r}: ")
    assert f"--columns {COLUMNS_SYNTAX}" in message
    for name in names:
        assert name in message


def test_parsed_columns_read_the_file(tmp_path: Path) -> None:
    frame = log_frame()
    named = tmp_path / "log.csv"
    frame.rename(columns={"userId": "who", "movieId": "what", "timestamp": "when"}).to_csv(
        named, index=False
    )
    plain = tmp_path / "plain.csv"
    frame.to_csv(plain, index=False)
    reference = load_dataset(plain, progress=False, cache=False).sequences.to_lists()
    by_name = load_dataset(
        named, columns=parse_columns("user=who,item=what,time=when"), progress=False, cache=False
    )
    assert by_name.sequences.to_lists() == reference
    # the TOML form: a table with the short role name "time"
    toml_like = load_dataset(
        named, columns={"user": "who", "item": "what", "time": "when"}, progress=False, cache=False
    )
    assert toml_like.sequences.to_lists() == reference
    headerless = tmp_path / "headerless.csv"
    frame[["timestamp", "movieId", "userId"]].to_csv(headerless, index=False, header=False)
    by_position = load_dataset(
        headerless, columns=parse_columns("user=2,item=1,time=0"), progress=False, cache=False
    )
    assert by_position.sequences.to_lists() == reference


def suggested_columns(message: str) -> list[str]:
    return re.findall(r"--columns (\S+)", message)


def test_every_columns_suggestion_is_valid_syntax(tmp_path: Path) -> None:
    unknown_header = tmp_path / "odd.csv"
    unknown_header.write_text("a,b,c\n1,2,3\n1,3,4\n")
    five = tmp_path / "five.txt"
    five.write_text("1 2 3 4 5\n1 3 3 4 5\n")
    bad_line = tmp_path / "bad.csv"
    bad_line.write_text("user,item,timestamp\n1,2,3\n1,2,3,4\n")
    messages = []
    for path in (unknown_header, five, bad_line):
        with pytest.raises(DatasetError) as info:
            load_dataset(path, format="interactions", progress=False)
        messages.append(one_line_error(info))
    no_rating = tmp_path / "no_rating.csv"
    no_rating.write_text("user,item,timestamp\n1,5,100\n1,6,90\n1,7,80\n")
    with pytest.raises(DatasetError) as info:
        load_dataset(no_rating, min_rating=3, progress=False)
    messages.append(one_line_error(info))
    few = tmp_path / "few.csv"
    few.write_text("user,item,timestamp\n1,5,100\n1,6,90\n2,7,80\n")
    with pytest.raises(DatasetError) as info:
        load_dataset(few, progress=False)
    messages.append(one_line_error(info))
    assert 'columns = { user = "...", item = "...", time = "..." }' in messages[0]
    assert "columns = { user = 0, item = 1, time = 2 }" in messages[1]
    assert "--format interactions|sequences" in messages[2]
    for message in messages:
        suggestions = suggested_columns(message)
        assert suggestions, message
        for text in suggestions:
            parse_columns(re.sub(r"\[,?|\]|[).;]+$", "", text).replace("[", ""))


def test_unknown_format_names_the_options(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    log_frame().to_csv(path, index=False)
    for call in (
        lambda: load_dataset(path, format="csv", progress=False),
        lambda: read_file(path, "csv"),
    ):
        with pytest.raises(DatasetError) as info:
            call()
        assert "--format interactions or --format sequences" in one_line_error(info)


# -- parquet ----------------------------------------------------------------------------------------
def test_parquet_is_detected_by_suffix_and_magic(tmp_path: Path) -> None:
    (tmp_path / "a.parquet").write_bytes(b"")
    (tmp_path / "b.bin").write_bytes(b"PAR1\x00\x00")
    (tmp_path / "c.csv").write_text("PAR,1\n")
    assert is_parquet(tmp_path / "a.parquet") and is_parquet(tmp_path / "b.bin")
    assert not is_parquet(tmp_path / "c.csv")


def test_parquet_without_pyarrow_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ratings.bin"  # no suffix: the magic bytes tell
    path.write_bytes(b"PAR1" + bytes(200) + b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    with pytest.raises(DatasetError) as info:
        load_dataset(path, progress=False)
    message = one_line_error(info)
    assert message.startswith(f"{path} is a parquet file")
    assert "pip install 'seqrec-bench[parquet]'" in message
    assert "fields" not in message  # never parsed as CSV


def test_parquet_reads_like_the_csv(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    frame = log_frame()
    csv = tmp_path / "log.csv"
    frame.to_csv(csv, index=False)
    reference = load_dataset(csv, progress=False, cache=False)
    for name in ("log.parquet", "log-without-suffix"):
        path = tmp_path / name
        frame.to_parquet(path)
        ds = load_dataset(path, progress=False)
        assert ds.options["format"] == "interactions"
        assert ds.sequences.to_lists() == reference.sequences.to_lists()
        assert ds.vocab.user_ids.tolist() == reference.vocab.user_ids.tolist()
        assert ds.stats["hygiene"]["duplicates_found"] == 0
    # datetimes (with a time zone) and explicit columns
    dated = frame.rename(columns={"userId": "who"}).assign(
        timestamp=pd.to_datetime(frame["timestamp"], unit="s", utc=True)
    )
    path = tmp_path / "dated.parquet"
    dated.to_parquet(path)
    ds = load_dataset(path, columns=parse_columns("user=who,item=movieId"), progress=False)
    assert ds.sequences.to_lists() == reference.sequences.to_lists()


def test_parquet_failures_are_one_line(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(b"PAR1" + bytes(100))
    with pytest.raises(DatasetError) as info:
        load_dataset(damaged, progress=False)
    assert one_line_error(info).startswith(f"cannot read {damaged} as parquet: ")

    empty = tmp_path / "empty.parquet"
    log_frame().iloc[:0].to_parquet(empty)
    with pytest.raises(DatasetError) as info:
        load_dataset(empty, progress=False)
    assert "has columns (userId, movieId, timestamp) and no records" in one_line_error(info)

    odd = tmp_path / "odd.parquet"
    log_frame().rename(columns={"movieId": "thing"}).to_parquet(odd)
    with pytest.raises(DatasetError) as info:
        load_dataset(odd, progress=False)
    message = one_line_error(info)
    assert message.startswith(f"{odd} (parquet columns): no item column")
    assert f"--columns {COLUMNS_SYNTAX}" in message

    holes = tmp_path / "holes.parquet"
    frame = log_frame()
    frame.loc[3, "userId"] = None
    frame.to_parquet(holes)
    with pytest.raises(DatasetError) as info:
        load_dataset(holes, progress=False)
    assert one_line_error(info).startswith(f"{holes}: row 4: no user value; ")

    good = tmp_path / "good.parquet"
    log_frame().to_parquet(good)
    with pytest.raises(DatasetError) as info:
        load_dataset(good, format="sequences", progress=False)
    assert "is a parquet file, which is read as interactions" in one_line_error(info)


# -- files that hold no usable records ---------------------------------------------------------------
def test_header_only_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,timestamp\n\n")
    with pytest.raises(DatasetError) as info:
        load_dataset(path, progress=False)
    assert one_line_error(info) == (
        f"{path}:1: the file has a header line (user_id, item_id, timestamp) and no records: "
        "add the interactions below it, one per line"
    )
    odd = tmp_path / "odd.csv"
    odd.write_text("who,what,when\n")
    with pytest.raises(DatasetError) as info:
        load_dataset(odd, format="interactions", progress=False)
    assert "the file has one line, which looks like a header (who, what, when)" in one_line_error(
        info
    )


def test_sequences_file_read_as_interactions_says_so(tmp_path: Path) -> None:
    path = tmp_path / "Beauty.txt"
    path.write_text("1 2 3 4 5\n2 6 7 8\n3 8 9 10 11 12\n4 2 6 9\n")
    assert load_dataset(path, progress=False, cache=False).sequences.n_users == 4
    with pytest.raises(DatasetError) as info:
        load_dataset(path, format="interactions", progress=False)
    assert one_line_error(info) == (
        f"{path}:2: 4 fields where line 1 has 5: the lines have different numbers of fields "
        "(4 to 6 among the first 4) and no user repeats, so the file looks like one sequence per "
        "user ('user item item ...'): pass --format sequences"
    )


def test_sequences_of_equal_length_read_as_interactions_says_so(tmp_path: Path) -> None:
    # every line "user item item": three fields, like user item timestamp
    path = tmp_path / "pairs.txt"
    path.write_text("".join(f"u{u} {u + 1} {u + 2}\n" for u in range(30)))
    with pytest.raises(DatasetError) as info:
        load_dataset(path, format="interactions", progress=False)
    message = one_line_error(info)
    assert message.startswith(
        "pairs.txt: no user has >= 3 interactions: each of the 30 users appears in exactly one "
        "record"
    )
    assert "pass --format sequences" in message

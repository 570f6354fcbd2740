"""Local file formats, column finding, format detection and malformed-line reports."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from seqrec_bench.data import DatasetError, detect_format, load_dataset, read_file
from seqrec_bench.data.readers import read_interactions, read_sequences


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


# u.data style: user item rating timestamp, tab-separated, no header
UDATA = "1\t10\t5\t300\n1\t20\t3\t100\n2\t10\t4\t200\n1\t30\t4\t200\n2\t30\t1\t100\n2\t20\t2\t300\n"


def test_udata_style_tab_separated(tmp_path: Path) -> None:
    recs = read_file(write(tmp_path, "u.data", UDATA))
    assert recs.users.tolist() == [1, 1, 2, 1, 2, 2]
    assert recs.items.tolist() == [10, 20, 10, 30, 30, 20]
    assert recs.ratings.tolist() == [5, 3, 4, 4, 1, 2]
    assert recs.timestamps.tolist() == [300, 100, 200, 200, 100, 300]
    assert recs.files == ["u.data"]


def test_ratings_dat_double_colon(tmp_path: Path) -> None:
    path = write(tmp_path, "ratings.dat", UDATA.replace("\t", "::"))
    ds = load_dataset(path, cache=False, progress=False)
    # time order per user: user 1 -> 20 (t100), 30 (t200), 10 (t300)
    assert ds.vocab.item_ids.tolist() == [10, 20, 30]
    assert ds.sequences.to_lists() == [[2, 3, 1], [3, 1, 2]]


def test_ratings_csv_with_header(tmp_path: Path) -> None:
    text = "userId,movieId,rating,timestamp\n" + UDATA.replace("\t", ",")
    ds = load_dataset(write(tmp_path, "ratings.csv", text), cache=False, progress=False)
    assert ds.sequences.to_lists() == [[2, 3, 1], [3, 1, 2]]
    assert ds.options["format"] == "interactions"


@pytest.mark.parametrize(
    "header",
    ["user_id,item_id,rating,timestamp", "uid,iid,rating,ts", "UserID,ItemID,score,time"],
)
def test_header_aliases(tmp_path: Path, header: str) -> None:
    recs = read_file(write(tmp_path, "log.csv", header + "\n" + UDATA.replace("\t", ",")))
    assert recs.items.tolist() == [10, 20, 10, 30, 30, 20]
    assert recs.timestamps.tolist() == [300, 100, 200, 200, 100, 300]


def test_columns_in_any_order_by_header(tmp_path: Path) -> None:
    text = "timestamp;rating;item_id;user_id\n300;5;10;1\n100;3;20;1\n200;4;30;1\n"
    recs = read_file(write(tmp_path, "log.txt", text))
    assert recs.users.tolist() == [1, 1, 1]
    assert recs.items.tolist() == [10, 20, 30]
    assert recs.timestamps.tolist() == [300, 100, 200]


def test_custom_column_names_and_positions(tmp_path: Path) -> None:
    text = "customer,product,when,stars,shop\n" + "".join(
        f"{u},{i},{t},{r},x\n"
        for u, i, r, t in (line.split("\t") for line in UDATA.split("\n") if line)
    )
    path = write(tmp_path, "custom.csv", text)
    with pytest.raises(DatasetError, match="no user / timestamp column"):
        read_file(path)
    by_name = read_file(
        path,
        columns={"user": "customer", "item": "product", "timestamp": "when", "rating": "stars"},
    )
    by_pos = read_file(path, columns={"user": 0, "item": 1, "timestamp": 2, "rating": 3})
    for recs in (by_name, by_pos):
        assert recs.users.tolist() == [1, 1, 2, 1, 2, 2]
        assert recs.timestamps.tolist() == [300, 100, 200, 200, 100, 300]
        assert recs.ratings.tolist() == [5, 3, 4, 4, 1, 2]


def test_unknown_column_name_lists_header(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(DatasetError, match=r"no column 'user_col'.*\['a', 'b', 'c'\]"):
        read_file(path, columns={"user": "user_col", "item": "b", "timestamp": "c"})
    with pytest.raises(DatasetError, match="valid roles"):
        read_file(path, columns={"person": 0})


def test_headerless_three_fields_is_user_item_timestamp(tmp_path: Path) -> None:
    recs = read_file(write(tmp_path, "log.csv", "1,5,100\n1,6,90\n2,5,80\n"))
    assert recs.ratings is None
    assert recs.timestamps.tolist() == [100, 90, 80]


def test_headerless_five_fields_needs_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", "1,5,100,3,x\n1,6,90,3,y\n")
    with pytest.raises(DatasetError, match="--columns"):
        read_file(path)
    recs = read_file(path, columns={"user": 0, "item": 1, "timestamp": 2})
    assert recs.items.tolist() == [5, 6]


def test_string_ids(tmp_path: Path) -> None:
    text = "user,item,timestamp\nbob,x-1,3\nalice,y,1\nbob,y,1\nalice,x-1,2\nalice,z,0\nbob,z,2\n"
    ds = load_dataset(write(tmp_path, "s.csv", text), cache=False, progress=False)
    assert ds.vocab.user_ids.tolist() == ["alice", "bob"]
    assert ds.vocab.item_ids.tolist() == ["x-1", "y", "z"]
    assert ds.sequences.to_lists() == [[3, 2, 1], [2, 3, 1]]


def test_iso_datetime_timestamps(tmp_path: Path) -> None:
    text = "user,item,time\n1,a,2021-03-01 10:00:00\n1,b,2020-12-31 23:59:59\n1,c,2021-01-15\n"
    ds = load_dataset(write(tmp_path, "d.csv", text), cache=False, progress=False)
    assert ds.sequences.to_lists() == [[2, 3, 1]]  # b (2020), c (Jan 2021), a (Mar 2021)


def test_gzip_file(tmp_path: Path) -> None:
    path = tmp_path / "u.data.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(UDATA)
    recs = read_file(path)
    assert len(recs) == 6


# -- sequences format ---------------------------------------------------------------------------
def test_sequences_format(tmp_path: Path) -> None:
    path = write(tmp_path, "Beauty.txt", "1 5 3 9\n2 3 3 4 5 6\n3 9 8\n")
    recs = read_sequences(path)
    assert recs.timestamps is None
    assert recs.users.tolist() == [1, 1, 1, 2, 2, 2, 2, 2, 3, 3]
    ds = load_dataset(path, cache=False, progress=False)
    assert ds.options["format"] == "sequences"
    # user 3 has only 2 items and is dropped; items 3,4,5,6,9 -> 1..5, order kept (repeats too)
    assert ds.sequences.to_lists() == [[3, 1, 5], [1, 1, 2, 3, 4]]
    assert ds.stats["users_dropped_short"] == 1
    assert ds.stats["tied_share"] is None


def test_sequences_with_string_ids(tmp_path: Path) -> None:
    path = write(tmp_path, "seq.txt", "u1 b a c\nu2 c b a d\n")
    ds = load_dataset(path, format="sequences", cache=False, progress=False)
    assert ds.vocab.item_ids.tolist() == ["a", "b", "c", "d"]
    assert ds.sequences.to_lists() == [[2, 1, 3], [3, 2, 1, 4]]


def test_sequences_duplicate_user_suggests_interactions(tmp_path: Path) -> None:
    path = write(tmp_path, "seq.txt", "1 4 5 6\n2 3 4 5 6\n\n1 7 8\n")
    with pytest.raises(
        DatasetError, match=r"seq\.txt:4: user 1 already has a line.*--format interactions"
    ):
        read_sequences(path)


# -- detection ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("u.data", UDATA, "interactions"),
        ("ratings.dat", UDATA.replace("\t", "::"), "interactions"),
        ("log.csv", "a,b,c\n1,2,3\n", "interactions"),
        ("Beauty.txt", "1 1 2 3 4 5\n2 6 7 8 9 10 4 11\n3 4 12\n", "sequences"),
        ("log.txt", "1 5 881250949\n1 6 881250950\n2 5 881250951\n", "interactions"),
        ("seq.tsv", "1\t2\t3\n2\t3\t4\t5\n", "sequences"),
        ("u.data", UDATA + "3\t10\t4\t200\t9\n", "interactions"),  # one malformed line
    ],
)
def test_detect_format(tmp_path: Path, name: str, text: str, expected: str) -> None:
    assert detect_format(write(tmp_path, name, text)) == expected


def test_ambiguous_format_asks_for_format(tmp_path: Path) -> None:
    path = write(tmp_path, "data.txt", "1 2 3\n2 3 4\n3 4 5\n")
    with pytest.raises(DatasetError, match="--format interactions or --format sequences"):
        load_dataset(path, cache=False, progress=False)


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="is empty"):
        detect_format(write(tmp_path, "empty.csv", "\n\n"))


# -- malformed lines: file:line in one message --------------------------------------------------
def test_extra_field_reports_line(tmp_path: Path) -> None:
    path = write(tmp_path, "u.data", "1\t10\t5\t300\n1\t20\t3\t100\n2\t10\t4\t200\t9\n")
    with pytest.raises(DatasetError) as err:
        load_dataset(path, cache=False, progress=False)
    message = str(err.value)
    assert f"{path}:3: expected 4 fields, found 5" in message
    assert "\n" not in message


def test_extra_field_double_colon(tmp_path: Path) -> None:
    path = write(tmp_path, "ratings.dat", "1::10::5::300\n\n1::20::3::100::7\n")
    with pytest.raises(DatasetError, match=r"ratings\.dat:3: expected 4 fields, found 5"):
        read_interactions(path)


def test_missing_field_reports_line(tmp_path: Path) -> None:
    path = write(tmp_path, "u.data", "1\t10\t5\t300\n\n1\t20\t3\n2\t10\t4\t200\n")
    with pytest.raises(DatasetError, match=r"u\.data:3: no timestamp value"):
        read_interactions(path)


def test_bad_timestamp_reports_line_after_header_and_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", "user,item,timestamp\n1,2,100\n\n1,3,soon\n1,4,300\n")
    with pytest.raises(DatasetError, match=r"log\.csv:4: timestamp 'soon' is not a number or date"):
        read_interactions(path)


def test_bad_rating_reports_line(tmp_path: Path) -> None:
    path = write(tmp_path, "u.data", "1\t10\t5\t300\n1\t20\tgood\t100\n")
    with pytest.raises(DatasetError, match=r"u\.data:2: rating 'good' is not a number"):
        read_interactions(path)


def test_min_rating_needs_ratings(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", "1,5,100\n1,6,90\n1,7,80\n")
    with pytest.raises(DatasetError, match="no rating column"):
        load_dataset(path, min_rating=3, cache=False, progress=False)


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown format 'parquet'"):
        load_dataset(write(tmp_path, "u.data", UDATA), format="parquet", progress=False)


def test_ids_keep_raw_values(tmp_path: Path) -> None:
    recs = read_file(write(tmp_path, "log.csv", "user,item,timestamp\n7,0012,1\n"))
    # numeric ids become integers: "0012" and "12" are the same item
    assert recs.items.dtype == np.int64 and recs.items.tolist() == [12]


@pytest.mark.filterwarnings("error")  # numpy's text parsing must not warn either
@pytest.mark.parametrize("seed", range(6))
def test_numeric_sequences_fast_path_equals_the_token_path(seed: int) -> None:
    from seqrec_bench.data.readers import _numeric_lines, _token_lines

    rng = np.random.default_rng(seed)
    seps, breaks = [" ", "  ", "\t", " \t "], ["\n", "\r\n", "\r", "\n\n", "\n \n"]
    lines = []
    for user in rng.permutation(40) + 1:
        items = rng.integers(0, 10 ** int(rng.integers(1, 18)), size=int(rng.integers(0, 9)))
        tokens = [f"{'0' * int(rng.integers(0, 2))}{user}", *map(str, items)]
        lines.append(str(rng.choice(seps)).join(tokens) + str(rng.choice(seps[:2])) * int(seed % 2))
    text = "".join(line + str(rng.choice(breaks)) for line in lines)
    if seed % 3 == 0:
        text = "\n  \n" + text.rstrip()  # blank lines first, no final break
    fast, slow = _numeric_lines(text), _token_lines(text)
    assert fast is not None and slow is not None
    for got, want in zip(fast, slow, strict=True):
        assert got.dtype == np.int64 and got.tolist() == want.tolist()


@pytest.mark.parametrize(
    "text", ["u1 2 3\n", "1 -2 3\n", "1 2\x0c3\n", "1 1234567890123456789012 3\n", " \n\t\n", ""]
)
def test_numeric_fast_path_leaves_other_text_to_the_token_path(text: str) -> None:
    from seqrec_bench.data.readers import _numeric_lines

    assert _numeric_lines(text) is None


def test_blank_sequences_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "seq.txt", "  \n\n\t\n")
    with pytest.raises(DatasetError, match="is empty"):
        read_sequences(path)

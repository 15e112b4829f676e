"""copy_text: rows as COPY's text format (the Postgres catalog's bulk inserts)."""

import random

import pytest

from synthreid.workers.catalog.postgres import _copy_field, copy_text


def test_fields_nulls_and_numbers():
    assert copy_text([(1, None, 2.5, "a b", True, False)]) == "1\t\\N\t2.5\ta b\tt\tf\n"
    assert copy_text([(7e-05, 10**15, -0.0)]) == "7e-05\t1000000000000000\t-0.0\n"
    assert copy_text([]) == ""


def test_backslash_tab_newline_and_return_are_escaped():
    value = '{"path":"C:\\\\x","note":"a\tb\nc\rd"}'
    assert copy_text([(value,)]) == '{"path":"C:\\\\\\\\x","note":"a\\tb\\nc\\rd"}\n'
    # a literal backslash-N is data, not NULL
    assert copy_text([("\\N",)]) == "\\\\N\n"


def test_json_rows_pass_through_unchanged():
    row = (3, 17, 0, 5, "00017_c5_0000", '{"camera":{"camid":5},"schema":2}')
    assert copy_text([row, row]) == ("3\t17\t0\t5\t00017_c5_0000\t" + row[5] + "\n") * 2


def _field_by_field(rows) -> str:
    return "".join("\t".join(map(_copy_field, row)) + "\n" for row in rows)


def test_column_wise_conversion_equals_field_by_field():
    rng = random.Random(7)
    pool = [
        None,
        True,
        False,
        0,
        -3,
        10**18,
        2.5,
        -0.0,
        float("inf"),
        "",
        "plain",
        "ünï",
        "a\\b",
        "t\tab",
        "n\nl",
        "c\rr",
        "\\N",
        '{"k":"v\\\\w"}',
    ]
    kinds = [[v for v in pool if type(v) is int], [v for v in pool if type(v) is str], pool]
    for _ in range(300):
        columns = [rng.choice(kinds) for _ in range(rng.randint(1, 6))]
        rows = [tuple(rng.choice(c) for c in columns) for _ in range(rng.randint(1, 12))]
        assert copy_text(rows) == _field_by_field(rows), rows
        assert copy_text(iter(rows)) == _field_by_field(rows)


def test_ragged_rows_are_refused():
    with pytest.raises(ValueError, match="rows of different lengths"):
        copy_text([(1, 2), (3,)])

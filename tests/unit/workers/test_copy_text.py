"""copy_text: rows as COPY's text format (the Postgres catalog's bulk inserts)."""

from synthreid.workers.catalog.postgres import copy_text


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

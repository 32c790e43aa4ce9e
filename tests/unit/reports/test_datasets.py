"""CSV uploads: numbers inferred, every malformed file explained, limits enforced."""

from __future__ import annotations

import pytest

from common.errors import PayloadTooLarge, ValidationError
from common.reports.datasets import DatasetLimits, parse_csv


def test_parses_rows_and_infers_numbers_per_column() -> None:
    data = parse_csv("\ufeffname,qty,price,code\nÉva,3,2.5,A1\nŁukasz,,10,7\n".encode())
    assert data.columns == ["name", "qty", "price", "code"]
    assert data.rows == [
        {"name": "Éva", "qty": 3, "price": 2.5, "code": "A1"},
        {"name": "Łukasz", "qty": None, "price": 10.0, "code": "7"},
    ]


def test_semicolon_files_and_trailing_blank_lines() -> None:
    data = parse_csv(b"a;b\n1;2\n\n\n")
    assert data.rows == [{"a": 1, "b": 2}]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"  \n\n", "empty"),
        (b"a,b\n\xff\xfe,1\n", "not UTF-8"),
        (b"a,b\n1,2\n3,4,5\n", "Line 3 has 3 fields, but the header has 2"),
        (b"a,,c\n1,2,3\n", "empty column name"),
        (b"a,b,a\n1,2,3\n", "repeats column name(s): a"),
        (b"a\x00,b\n1,2\n", "a NUL character (line 1)"),
        (b"a,b\n1,2\n3\x00,4\n", "a NUL character (line 3)"),
    ],
)
def test_malformed_files_are_explained(content: bytes, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_csv(content)
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("content", "limits", "message"),
    [
        (b"a\n" + b"1\n" * 100, DatasetLimits(max_bytes=50), "larger than"),
        (b"a\n" + b"1\n" * 11, DatasetLimits(max_rows=10), "more than 10 rows"),
        (b"a,b,c\n1,2,3\n", DatasetLimits(max_columns=2), "more than 2 columns"),
    ],
)
def test_limits(content: bytes, limits: DatasetLimits, message: str) -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        parse_csv(content, limits=limits)
    assert message in caught.value.message

"""CSV datasets: parse an upload into rows a template can read, within size limits.

Uploads come from people, so every way a CSV goes wrong gets a message that says what to fix
(encoding, empty file, a row with the wrong number of fields). Numbers are inferred per column so
that ``sum``/``mean``/charts work without casts in the template; everything else stays text.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from common.errors import PayloadTooLarge, ValidationError

Cell = str | int | float | None


@dataclass(frozen=True)
class DatasetLimits:
    """Caps on one upload; the defaults keep a render's input well inside its memory limit."""

    max_bytes: int = 5 * 1024 * 1024
    max_rows: int = 50_000
    max_columns: int = 100


@dataclass(frozen=True)
class Dataset:
    """A parsed CSV: column names in file order and one dict per row (keys = columns)."""

    columns: list[str]
    rows: list[dict[str, Cell]] = field(default_factory=list)

    @property
    def cells(self) -> int:
        """Rows × columns: what the render limits count."""
        return len(self.rows) * len(self.columns)

    def to_dict(self) -> dict[str, object]:
        return {"columns": list(self.columns), "rows": [dict(r) for r in self.rows]}


def parse_csv(data: bytes, *, limits: DatasetLimits | None = None) -> Dataset:
    """Parse CSV ``data`` (UTF-8, comma, semicolon or tab separated, first row = header).

    Raises ``PayloadTooLarge`` past ``limits.max_bytes`` and ``ValidationError`` for anything else
    wrong with the file; messages name the line so the uploader can fix it.
    """
    limits = limits or DatasetLimits()
    if len(data) > limits.max_bytes:
        raise PayloadTooLarge(f"The CSV file is larger than {limits.max_bytes // 1024} KiB.")
    text = _decode(data)
    if not text.strip():
        raise ValidationError("The CSV file is empty.")
    records = _records(text)
    header = _header(next(records), limits)
    raw_rows: list[list[str]] = []
    for line_no, record in records:
        if not any(cell.strip() for cell in record):
            continue  # blank lines (often trailing) carry no data
        if len(record) != len(header):
            raise ValidationError(
                f"Line {line_no} has {len(record)} fields, but the header has {len(header)}."
            )
        if len(raw_rows) >= limits.max_rows:
            raise PayloadTooLarge(f"The CSV file has more than {limits.max_rows} rows.")
        raw_rows.append(record)
    columns = [_infer_column([r[i] for r in raw_rows]) for i in range(len(header))]
    rows = [{name: columns[i][n] for i, name in enumerate(header)} for n in range(len(raw_rows))]
    return Dataset(columns=header, rows=rows)


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"The CSV file is not UTF-8 text (invalid byte at position {exc.start}); "
            "save it as 'CSV UTF-8' and upload it again."
        ) from None
    # PostgreSQL cannot store NUL in text or jsonb: in a column name it was a 500 at upload, in a value a
    # report that could never be stored. Python's csv module reads NUL without complaint.
    nul = text.find("\x00")
    if nul >= 0:
        raise ValidationError(f"The CSV file contains a NUL character (line {text.count(chr(10), 0, nul) + 1}); "
                              "it is not a text file, or it was saved with a wrong encoding.")
    return text


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) per record; a bad quote becomes a ValidationError with its line."""
    try:
        dialect: type[csv.Dialect] = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        for record in reader:
            yield reader.line_num, record
    except csv.Error as exc:
        raise ValidationError(f"Line {reader.line_num}: the CSV file is malformed ({exc}).") from None


def _header(first: tuple[int, list[str]], limits: DatasetLimits) -> list[str]:
    names = [name.strip() for name in first[1]]
    if len(names) > limits.max_columns:
        raise PayloadTooLarge(f"The CSV file has more than {limits.max_columns} columns.")
    if any(not name for name in names):
        raise ValidationError("The CSV header (line 1) has an empty column name.")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationError(f"The CSV header repeats column name(s): {', '.join(duplicates)}.")
    return names


def _infer_column(values: list[str]) -> list[Cell]:
    """Numbers when every non-empty value is one (ints stay ints), else the text; empty is None."""
    stripped = [v.strip() for v in values]
    present = [v for v in stripped if v]
    if present and all(_is_int(v) for v in present):
        return [int(v) if v else None for v in stripped]
    if present and all(_is_float(v) for v in present):
        return [float(v) if v else None for v in stripped]
    return [v if v else None for v in stripped]


def _is_int(value: str) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return True


def _is_float(value: str) -> bool:
    try:
        number = float(value)
    except ValueError:
        return False
    return math.isfinite(number)

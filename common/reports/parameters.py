"""Template parameters: declarations checked when a template is saved, values checked per run.

Both checks raise ``ValidationError`` with ``details = {field: message}`` so the API can answer
one 422 that marks every bad field at once, and the form can show each message beside its input.
Values arrive as JSON types (API) or strings (HTML forms); both are accepted and coerced.
"""

from __future__ import annotations

import datetime as dt
import keyword
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.errors import AppError, ValidationError
from common.reports.datasets import Dataset, DatasetLimits, parse_csv

PARAMETER_TYPES = ("text", "number", "date", "choice", "boolean", "dataset")
MAX_PARAMETERS = 50
MAX_TEXT_LENGTH = 10_000
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Names a template could not use as a plain variable (Jinja literals and our helpers).
_RESERVED = frozenset(
    {"true", "false", "none", "True", "False", "None", "loop", "self", "super", "varargs", "kwargs"}
    | {"range", "dict", "namespace", "cycler", "joiner", "table", "bar_chart", "line_chart", "params"}
)
_KEYS = {"name", "type", "label", "help", "required", "default", "min", "max", "min_length",
         "max_length", "choices"}
_TYPE_KEYS = {"number": {"min", "max"}, "date": {"min", "max"}, "text": {"min_length", "max_length"},
              "choice": {"choices"}}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}

Value = str | int | float | bool | dt.date | Dataset | None


@dataclass(frozen=True)
class Parameter:
    """One declared parameter, already checked; ``default`` is coerced to the parameter's type."""

    name: str
    type: str
    label: str
    help: str = ""
    required: bool = False
    default: Value = None
    min: int | float | dt.date | None = None
    max: int | float | dt.date | None = None
    min_length: int | None = None
    max_length: int | None = None
    choices: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe declaration (dates as ISO strings), the form the database stores."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "label": self.label,
                               "required": self.required}
        for key in ("help", "default", "min", "max", "min_length", "max_length"):
            value = getattr(self, key)
            if value not in (None, ""):
                out[key] = value.isoformat() if isinstance(value, dt.date) else value
        if self.choices:
            out["choices"] = list(self.choices)
        return out


def validate_declarations(raw: Sequence[Mapping[str, Any]]) -> list[Parameter]:
    """Check a template's declarations at save time; details keys are ``parameters[i].key``."""
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise ValidationError("Parameters must be a list.", details={"parameters": "Must be a list."})
    if len(raw) > MAX_PARAMETERS:
        raise ValidationError("Too many parameters.", details={"parameters": f"At most {MAX_PARAMETERS}."})
    errors: dict[str, str] = {}
    params: list[Parameter] = []
    seen: set[str] = set()
    for index, decl in enumerate(raw):
        where = f"parameters[{index}]"
        try:
            param = _declaration(decl)
        except _FieldError as exc:
            errors[f"{where}.{exc.key}" if exc.key else where] = exc.message
            continue
        if param.name in seen:
            errors[f"{where}.name"] = f"The name {param.name!r} is used twice."
        seen.add(param.name)
        params.append(param)
    if errors:
        raise ValidationError("The parameter declarations are invalid.", details=errors)
    return params


def validate_parameters(
    declarations: Sequence[Parameter | Mapping[str, Any]],
    values: Mapping[str, Any],
    *,
    dataset_limits: DatasetLimits | None = None,
) -> dict[str, Value]:
    """Coerce and check ``values`` for one run; returns every declared name → typed value.

    Missing values take the default (or None when optional). Dataset values may be a parsed
    ``Dataset`` or the CSV bytes of an upload. Unknown names are errors, so typos are not silent.
    """
    params = (
        list(declarations)
        if all(isinstance(d, Parameter) for d in declarations)
        else validate_declarations([d.to_dict() if isinstance(d, Parameter) else d for d in declarations])
    )
    errors: dict[str, str] = {}
    out: dict[str, Value] = {}
    for param in params:
        assert isinstance(param, Parameter)
        try:
            out[param.name] = _value(param, values.get(param.name), dataset_limits)
        except _FieldError as exc:
            errors[param.name] = exc.message
    for name in values:
        if name not in out and name not in errors:
            errors[name] = "This template has no parameter of that name."
    if errors:
        raise ValidationError("Some parameters are invalid.", details=errors)
    return out


class _FieldError(Exception):
    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.key = key


def _declaration(decl: Any) -> Parameter:
    if not isinstance(decl, Mapping):
        raise _FieldError("Each parameter must be an object.")
    unknown = sorted(set(decl) - _KEYS)
    if unknown:
        raise _FieldError(f"Unknown key(s): {', '.join(unknown)}.", unknown[0])
    name, kind = decl.get("name"), decl.get("type")
    if not isinstance(name, str) or not _NAME.match(name) or keyword.iskeyword(name) or name in _RESERVED:
        raise _FieldError("A name is a letter or _ followed by letters, digits or _, not a reserved word.",
                          "name")
    if kind not in PARAMETER_TYPES:
        raise _FieldError(f"The type must be one of: {', '.join(PARAMETER_TYPES)}.", "type")
    misplaced = sorted(k for keys in _TYPE_KEYS.values() for k in keys
                       if k in decl and k not in _TYPE_KEYS.get(kind, set()))
    if misplaced:
        raise _FieldError(f"A {kind} parameter has no {misplaced[0]!r}.", misplaced[0])
    for key in ("label", "help"):
        if not isinstance(decl.get(key, ""), str):
            raise _FieldError("Must be text.", key)
    if not isinstance(decl.get("required", False), bool):
        raise _FieldError("Must be true or false.", "required")
    base = Parameter(name=name, type=kind, label=decl.get("label") or name.replace("_", " ").capitalize(),
                     help=decl.get("help", ""), required=decl.get("required", False))
    param = _with_bounds(base, decl)
    default = decl.get("default")
    if default is not None:
        if kind == "dataset":
            raise _FieldError("A dataset parameter has no default.", "default")
        try:
            default = _value(param, default, None)
        except _FieldError as exc:
            raise _FieldError(f"Invalid default: {exc.message}", "default") from None
    return Parameter(**{**param.__dict__, "default": default})


def _with_bounds(param: Parameter, decl: Mapping[str, Any]) -> Parameter:
    fields: dict[str, Any] = {}
    if param.type == "choice":
        choices = decl.get("choices")
        if (not isinstance(choices, list) or not choices or len(choices) > 200
                or not all(isinstance(c, str) and c for c in choices) or len(set(choices)) != len(choices)):
            raise _FieldError("Choices are a list of 1–200 different, non-empty texts.", "choices")
        fields["choices"] = tuple(choices)
    for low, high in (("min", "max"), ("min_length", "max_length")):
        for key in (low, high):
            if key in decl and decl[key] is not None:
                fields[key] = _bound(param.type, key, decl[key])
        if fields.get(low) is not None and fields.get(high) is not None and fields[low] > fields[high]:
            raise _FieldError(f"{low} is greater than {high}.", low)
    return Parameter(**{**param.__dict__, **fields})


def _bound(kind: str, key: str, raw: Any) -> int | float | dt.date:
    if key.endswith("_length"):
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_TEXT_LENGTH:
            raise _FieldError(f"Must be a whole number from 0 to {MAX_TEXT_LENGTH}.", key)
        return raw
    try:
        return _date(raw) if kind == "date" else _number(raw)
    except _FieldError as exc:
        raise _FieldError(exc.message, key) from None


def _value(param: Parameter, raw: Any, dataset_limits: DatasetLimits | None) -> Value:
    if raw is None or (isinstance(raw, str) and not raw.strip() and (param.type != "text" or param.required)):
        if param.default is not None:
            return param.default
        if param.required:
            raise _FieldError("This field is required.")
        return False if param.type == "boolean" else None
    if param.type == "text":
        return _text(param, raw)
    if param.type == "number":
        return _in_range(param, _number(raw))
    if param.type == "date":
        return _in_range(param, _date(raw))
    if param.type == "boolean":
        return _boolean(raw)
    if param.type == "choice":
        if not isinstance(raw, str) or raw not in param.choices:
            raise _FieldError(f"Choose one of: {', '.join(param.choices)}.")
        return raw
    return _dataset(raw, dataset_limits)


def _text(param: Parameter, raw: Any) -> str:
    if not isinstance(raw, str):
        raise _FieldError("Must be text.")
    limit = param.max_length if param.max_length is not None else MAX_TEXT_LENGTH
    if len(raw) > limit:
        raise _FieldError(f"At most {limit} characters.")
    if param.min_length is not None and len(raw) < param.min_length:
        raise _FieldError(f"At least {param.min_length} characters.")
    return raw


def _number(raw: Any) -> int | float:
    if isinstance(raw, bool):
        raise _FieldError("Must be a number.")
    if isinstance(raw, int | float):
        number: int | float = raw
    elif isinstance(raw, str):
        text = raw.strip()
        try:
            number = int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
        except ValueError:
            raise _FieldError("Must be a number.") from None
    else:
        raise _FieldError("Must be a number.")
    if isinstance(number, float) and not math.isfinite(number):
        raise _FieldError("Must be a finite number.")
    return number


def _date(raw: Any) -> dt.date:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, str):
        try:
            return dt.date.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise _FieldError("Must be a date as YYYY-MM-DD.")


def _in_range(param: Parameter, value: Any) -> Any:
    if param.min is not None and value < param.min:
        raise _FieldError(f"Must be at least {_show(param.min)}.")
    if param.max is not None and value > param.max:
        raise _FieldError(f"Must be at most {_show(param.max)}.")
    return value


def _show(value: object) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise _FieldError("Must be true or false.")


def _dataset(raw: Any, limits: DatasetLimits | None) -> Dataset:
    if isinstance(raw, Dataset):
        return raw
    if isinstance(raw, bytes | bytearray):
        try:
            return parse_csv(bytes(raw), limits=limits)
        except AppError as exc:
            raise _FieldError(exc.message) from None
    raise _FieldError("Upload a CSV file.")

"""What the exchange refuses in a document, and the digest that identifies a document (pure).

The rules run in order and the first one that fails names the reason; one bad document never
refuses the others of its batch. ``CONFLICT`` is decided by the ledger, which knows what it holds.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson

from hub.province import VIETNAM

__all__ = ["Rejection", "digest", "problem"]

_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_FUTURE = timedelta(days=1)  # how far ahead of the exchange's clock a dossier may have been received

Problem = tuple[str, str]


class Rejection(StrEnum):
    """The ``reason`` of a ``REJECTED`` acknowledgement."""

    MISSING_FIELD = "MISSING_FIELD"
    BAD_CITIZEN_ID = "BAD_CITIZEN_ID"
    BAD_DATE = "BAD_DATE"
    DATE_ORDER = "DATE_ORDER"
    BAD_CODE = "BAD_CODE"
    CONFLICT = "CONFLICT"


_TEXT_FIELDS = (
    ("", ("record_id", "agency", "department")),
    ("citizen", ("SoDinhDanh", "HoVaTen")),
    ("dossier", ("MaHoSo", "MaTTHC")),
)
_DOSSIER_TIMES = ("NgayTiepNhan", "NgayHenTra", "NgayKetThucXuLy")
_CHANNELS = (1, 2, 3)
_ONLINE_PAYMENTS = (0, 1, 2)
_GENDERS = ("MALE", "FEMALE", "UNKNOWN")


def digest(document: Any) -> str:
    """SHA-256 (hex) of ``document`` as canonical JSON: keys sorted, no spaces, UTF-8.

    orjson writes it (the same bytes as :mod:`json` with sorted keys, compact separators and
    ``ensure_ascii=False``, except for a float's negative exponent: ``5e-7``, not ``5e-07``);
    what orjson cannot write (an integer beyond 64 bits, a lone surrogate, a key that is not a
    string: none of which a parsed submission holds) is written by :mod:`json`.
    """
    try:
        text = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        text = _CANONICAL.encode(document).encode("utf-8", "surrogatepass")
    return hashlib.sha256(text).hexdigest()


def problem(document: Any, now: datetime) -> Problem | None:
    """``(reason, detail)`` for the first rule ``document`` breaks, or None if it may be stored."""
    if not isinstance(document, dict):
        return Rejection.MISSING_FIELD, "a document must be a JSON object"
    citizen, dossier = document.get("citizen"), document.get("dossier")
    if not isinstance(citizen, dict):
        return Rejection.MISSING_FIELD, "citizen is missing or not an object"
    if not isinstance(dossier, dict):
        return Rejection.MISSING_FIELD, "dossier is missing or not an object"
    return (
        _missing({"": document, "citizen": citizen, "dossier": dossier})
        or _citizen_id(citizen["SoDinhDanh"])
        or _dates(document, citizen, dossier, now)
        or _codes(citizen, dossier)
    )


def _missing(parts: dict[str, dict[str, Any]]) -> Problem | None:
    for part, names in _TEXT_FIELDS:
        for name in names:
            value = parts[part].get(name)
            if not isinstance(value, str) or not value:
                return Rejection.MISSING_FIELD, f"{_path(part, name)} is missing, empty or not a string"
    if not _is_int(parts["dossier"].get("KenhThucHien")):
        return Rejection.MISSING_FIELD, "dossier.KenhThucHien is missing or not an integer"
    return None


def _citizen_id(number: str) -> Problem | None:
    if len(number) == 12 and number.isascii() and number.isdigit():
        return None
    return Rejection.BAD_CITIZEN_ID, f"citizen.SoDinhDanh must be 12 digits, not {number!r}"


def _dates(
    document: dict[str, Any], citizen: dict[str, Any], dossier: dict[str, Any], now: datetime
) -> Problem | None:
    if _moment(document.get("occurred_at")) is None:
        return _bad_date("occurred_at", document.get("occurred_at"), "an ISO 8601 date-time")
    born = citizen.get("NgayThangNamSinh")
    if born is not None and not _is_date(born):
        return _bad_date("citizen.NgayThangNamSinh", born, "a date YYYY-MM-DD")
    times: dict[str, datetime] = {}
    for name in _DOSSIER_TIMES:
        value = dossier.get(name)
        if value is None:
            continue
        moment = _moment(value)
        if moment is None:
            return _bad_date(f"dossier.{name}", value, "an ISO 8601 date-time")
        times[name] = moment
    return _order(times, now)


def _order(times: dict[str, datetime], now: datetime) -> Problem | None:
    received = times.get("NgayTiepNhan")
    if received is None:
        return None
    for name in ("NgayHenTra", "NgayKetThucXuLy"):
        if name in times and times[name] < received:
            return Rejection.DATE_ORDER, f"dossier.{name} is before dossier.NgayTiepNhan"
    if received > now + _FUTURE:
        return Rejection.DATE_ORDER, "dossier.NgayTiepNhan is more than a day in the future"
    return None


def _codes(citizen: dict[str, Any], dossier: dict[str, Any]) -> Problem | None:
    checks: tuple[tuple[str, Any, bool], ...] = (
        ("dossier.KenhThucHien", dossier["KenhThucHien"], dossier["KenhThucHien"] in _CHANNELS),
        ("dossier.PhiLePhi", fee := dossier.get("PhiLePhi"), fee is None or (_is_number(fee) and fee >= 0)),
        (
            "dossier.DuocThanhToanTrucTuyen",
            paid := dossier.get("DuocThanhToanTrucTuyen"),
            paid is None or (_is_int(paid) and paid in _ONLINE_PAYMENTS),
        ),
        ("citizen.MaHuyen", district := citizen.get("MaHuyen"), district is None or _digits(district, 3)),
        ("citizen.MaXa", commune := citizen.get("MaXa"), commune is None or _digits(commune, 5)),
        ("citizen.GioiTinh", gender := citizen.get("GioiTinh"), gender is None or gender in _GENDERS),
    )
    for name, value, good in checks:
        if not good:
            return Rejection.BAD_CODE, f"{name} {value!r} is not a valid code"
    return None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=VIETNAM)


def _is_date(value: Any) -> bool:
    try:
        return isinstance(value, str) and len(value) == 10 and bool(date.fromisoformat(value))
    except ValueError:
        return False


def _bad_date(name: str, value: Any, expected: str) -> Problem:
    return Rejection.BAD_DATE, f"{name} must be {expected}, not {value!r}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _digits(value: Any, count: int) -> bool:
    return isinstance(value, str) and len(value) == count and value.isascii() and value.isdigit()


def _path(part: str, name: str) -> str:
    return f"{part}.{name}" if part else name

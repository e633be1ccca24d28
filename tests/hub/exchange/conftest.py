"""Documents as the forwarder builds them (``consumers.forward.stage.to_exchange_document``)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

GOOD: dict[str, Any] = {
    "record_id": "STNMT-2026-000001",
    "department": "land",
    "agency": "STNMT",
    "occurred_at": "2026-11-03T08:30:00+00:00",
    "citizen": {
        "SoDinhDanh": "074085001234",
        "SoCMND": "280123456",
        "HoVaTen": "Nguyễn Văn An",
        "NgayThangNamSinh": "1985-03-14",
        "GioiTinh": "MALE",
        "MaHuyen": "718",
        "MaXa": "25700",
    },
    "dossier": {
        "MaHoSo": "000.00.12.H57-261103-0001",
        "MaTTHC": "1.004227",
        "NgayTiepNhan": "2026-11-01T09:00:00+00:00",
        "NgayHenTra": "2026-11-10T09:00:00+00:00",
        "NgayKetThucXuLy": None,
        "KenhThucHien": 2,
        "PhiLePhi": 50000,
        "DuocThanhToanTrucTuyen": 1,
        "MaKetQua": None,
        "DuongDanTepTinKetQua": None,
        "HoSoCoThanhPhanSoHoa": True,
        "DuocLayTuKhoDMQG": True,
        "TaiKhoanDuocXacThucVoiVNeID": True,
    },
    "original_sha256": "5" * 64,
}

ABSENT = "<absent>"  # as a value in ``changes``: remove the field

Document = Callable[..., dict[str, Any]]


def make_document(record_id: str = "STNMT-2026-000001", **changes: Any) -> dict[str, Any]:
    """A valid land document; ``changes`` by dotted path with ``__`` (``citizen__MaXa="1"``)."""
    document = copy.deepcopy(GOOD)
    changes = {"record_id": record_id, **changes}
    for path, value in changes.items():
        *parents, name = path.split("__")
        target = document
        for parent in parents:
            target = target[parent]
        if value == ABSENT:
            del target[name]
        else:
            target[name] = value
    return document


@pytest.fixture
def document() -> Document:
    """``document(record_id, **changes)``: a valid land document, changed by path with ``__``
    (``citizen__MaXa="1"``); the value ``"<absent>"`` removes a field."""
    return make_document

"""Unit tests for hub.registry.snapshot: lookups, updates, and rows shared at province scale."""

from __future__ import annotations

import gc
import io
import json
from datetime import date

import fastavro
import numpy as np

from hub.avro.catalog import get_catalog
from hub.registry import RegistryCitizen, RegistrySnapshot
from hub.registry.snapshot import ALIVE

AN = RegistryCitizen("074085001234", "280123456", "Nguyễn Văn An", date(1985, 3, 14), "M", "718", "25708")
BINH = RegistryCitizen("074185000001", None, "Trần Thị Bình", date(1985, 2, 3), "F", "718", "25708")


def _text_row(citizen: RegistryCitizen) -> tuple[str | None, ...]:
    """A row as SQLite hands it back: dates as ISO text, every string a fresh object."""
    return tuple(
        None if v is None else "".join(list(v.isoformat() if isinstance(v, date) else v)) for v in citizen
    )


def test_from_rows_reads_text_or_date_rows() -> None:
    rows = [_text_row(AN), _text_row(BINH), _text_row(AN._replace(citizen_id="074085009999", legacy_id=None))]
    snapshot = RegistrySnapshot.from_rows(rows, change_id=7)
    assert len(snapshot) == 3 and snapshot.change_id == 7
    an, binh = snapshot.by_id(AN.citizen_id), snapshot.by_id(BINH.citizen_id)
    assert an == AN and binh == BINH and type(an) is RegistryCitizen
    assert snapshot.by_id("074085009999") == AN._replace(citizen_id="074085009999", legacy_id=None)
    assert snapshot.by_legacy("280123456") == AN and snapshot.by_legacy("") is None
    assert snapshot.by_id("74085001234") is None and snapshot.by_legacy("80123456") is None
    assert gc.isenabled()


def test_from_rows_reads_dates_and_deaths() -> None:
    rows = [tuple(AN), tuple(BINH._replace(date_of_birth=date(1985, 3, 14), deceased_on=date(2026, 1, 2)))]
    snapshot = RegistrySnapshot.from_rows(rows)
    binh = snapshot.by_id(BINH.citizen_id)
    assert binh is not None and binh.date_of_birth == date(1985, 3, 14)
    assert binh.deceased_on == date(2026, 1, 2)
    assert sorted(snapshot) == sorted([AN, binh])


def test_columns_hold_each_citizen_as_its_avro_encoding() -> None:
    catalog = get_catalog()
    parsed = fastavro.parse_schema(json.loads(catalog.text("vn.lgsp.Citizen")))
    odd_name = AN._replace(citizen_id="074085000001", full_name="", district_code=None, commune_code=None)
    long_name = BINH._replace(citizen_id="074185000002", full_name="Lê " * 30 + "Bình")
    citizens = [AN, BINH, odd_name, long_name]
    snapshot = RegistrySnapshot(citizens)
    rows = snapshot.id_index.find(np.array([int(c.citizen_id) for c in citizens], np.int64))
    for citizen, row in zip(citizens, rows.tolist(), strict=True):
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed, citizen.as_citizen_record())
        assert snapshot.blob[snapshot.citizen_at[row] : snapshot.citizen_at[row + 1]] == buffer.getvalue()
        name = citizen.full_name.encode()
        at = int(snapshot.name_at[row])
        assert snapshot.blob[at : at + int(snapshot.name_len[row])] == name
        assert snapshot.name_high[row] == sum(b >= 0x80 for b in name)
        assert snapshot.born[row] == (citizen.date_of_birth - date(1970, 1, 1)).days
    assert snapshot.died.tolist() == [ALIVE] * 4


def test_rows_the_columns_cannot_hold_are_still_found() -> None:
    odd = AN._replace(citizen_id="07408500123X", legacy_id="28012345")
    snapshot = RegistrySnapshot([odd, BINH])
    assert snapshot.by_id("07408500123X") == odd and snapshot.by_legacy("28012345") == odd
    assert len(snapshot) == 2 and len(snapshot.ids) == 1


def test_from_rows_keeps_the_collector_off_if_it_was_off() -> None:
    gc.disable()
    try:
        RegistrySnapshot.from_rows([tuple(AN)])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_update_moves_a_legacy_number_between_citizens_in_either_order() -> None:
    taken = BINH._replace(legacy_id="280123456")
    for order in ([AN._replace(legacy_id=None), taken], [taken, AN._replace(legacy_id=None)]):
        snapshot = RegistrySnapshot([AN, BINH])
        snapshot.update(order)
        assert snapshot.by_legacy("280123456") == taken
        assert snapshot.by_id(AN.citizen_id) == AN._replace(legacy_id=None)


def test_update_replaces_a_deceased_citizen() -> None:
    snapshot = RegistrySnapshot([AN])
    dead = AN._replace(deceased_on=date(2026, 11, 2))
    snapshot.update([dead])
    assert snapshot.by_id(AN.citizen_id) == dead and snapshot.by_legacy("280123456") == dead
    assert len(snapshot) == 1


def test_update_marks_the_rows_it_replaces_for_the_batch_path() -> None:
    snapshot = RegistrySnapshot([AN, BINH])
    an_row, binh_row = snapshot.id_index.find(np.array([int(AN.citizen_id), int(BINH.citizen_id)])).tolist()
    snapshot.update([BINH._replace(legacy_id="280123456")])  # BINH takes AN's legacy number
    assert snapshot.replaced[binh_row] and not snapshot.replaced[an_row]
    assert snapshot.legacy_moved[an_row]
    assert snapshot.by_id(AN.citizen_id) == AN
    assert snapshot.by_legacy("280123456") == BINH._replace(legacy_id="280123456")


def test_a_birth_is_found_by_number_and_legacy_number() -> None:
    snapshot = RegistrySnapshot([AN])
    baby = BINH._replace(citizen_id="074326000123", legacy_id=None, date_of_birth=date(2026, 10, 20))
    snapshot.update([baby])
    assert snapshot.by_id(baby.citizen_id) == baby and len(snapshot) == 2
    assert not snapshot.replaced.any()

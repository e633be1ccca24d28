"""Unit tests for hub.registry.snapshot: lookups, updates, and rows shared at province scale."""

from __future__ import annotations

import gc
from datetime import date

from hub.registry import RegistryCitizen, RegistrySnapshot

AN = RegistryCitizen("074085001234", "280123456", "Nguyễn Văn An", date(1985, 3, 14), "M", "718", "25708")
BINH = RegistryCitizen("074185000001", None, "Trần Thị Bình", date(1985, 2, 3), "F", "718", "25708")


def _text_row(citizen: RegistryCitizen) -> tuple[str | None, ...]:
    """A row as SQLite hands it back: dates as ISO text, every string a fresh object."""
    return tuple(
        None if v is None else "".join(list(v.isoformat() if isinstance(v, date) else v)) for v in citizen
    )


def test_from_rows_reads_text_or_date_rows_and_shares_equal_values() -> None:
    rows = [_text_row(AN), _text_row(BINH), _text_row(AN._replace(citizen_id="074085009999", legacy_id=None))]
    snapshot = RegistrySnapshot.from_rows(rows, change_id=7)
    assert len(snapshot) == 3 and snapshot.change_id == 7
    an, binh = snapshot.by_id(AN.citizen_id), snapshot.by_id(BINH.citizen_id)
    twin = snapshot.by_id("074085009999")
    assert an == AN and binh == BINH and type(an) is RegistryCitizen
    assert an is not None and binh is not None and twin is not None
    assert an.full_name is twin.full_name and an.date_of_birth is twin.date_of_birth
    assert an.district_code is binh.district_code and an.commune_code is binh.commune_code
    assert snapshot.by_legacy("280123456") is an and snapshot.by_legacy("") is None
    assert gc.isenabled()


def test_from_rows_shares_equal_dates_given_as_dates() -> None:
    rows = [tuple(AN), tuple(BINH._replace(date_of_birth=date(1985, 3, 14), deceased_on=date(2026, 1, 2)))]
    snapshot = RegistrySnapshot.from_rows(rows)
    an, binh = snapshot.by_id(AN.citizen_id), snapshot.by_id(BINH.citizen_id)
    assert an is not None and binh is not None and an.date_of_birth is binh.date_of_birth
    assert binh.deceased_on == date(2026, 1, 2)


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

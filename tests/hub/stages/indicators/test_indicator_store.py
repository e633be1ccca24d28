"""hub.stages.indicators.store on SQLite and PostgreSQL: once per record id, synced in any order."""

from __future__ import annotations

from collections import Counter
from datetime import date

import sqlalchemy as sa

from hub.stages.indicators.formulas import Facts
from hub.stages.indicators.records import Dossier
from hub.stages.indicators.store import DossierStore

NOV_2, NOV_3 = date(2026, 11, 2), date(2026, 11, 3)
BASE = Facts(*([True] + [False] * (len(Facts._fields) - 1)))  # received, nothing else


def dossier(record_id: str, day: date | None = NOV_2, district: str = "718", **facts: bool) -> Dossier:
    return Dossier(record_id, "land", "1.000001", district, "25708", day, BASE._replace(**facts))


def test_a_record_id_is_counted_once(engine: sa.Engine) -> None:
    store = DossierStore(engine)
    first = store.add([dossier("a", digitized=True), dossier("b")])
    assert [d.record_id for d in first] == ["a", "b"]
    again = store.add([dossier("a", digitized=False), dossier("c"), dossier("c")])
    assert [d.record_id for d in again] == ["c"]  # "a" is held as first seen; "c" twice in one batch
    tallies = store.tallies("province")
    assert tallies == {(NOV_2, "all"): Counter({BASE._replace(digitized=True): 1, BASE: 2})}
    assert store.count() == 3


def test_an_acknowledgement_before_or_after_its_dossier_marks_it_synced(engine: sa.Engine) -> None:
    store = DossierStore(engine)
    store.add([dossier("a")])
    changed = store.sync(["a", "b", "a"])  # "b" is acknowledged before it is counted
    assert [(d.record_id, d.facts.synced) for d in changed] == [("a", True)]
    assert store.sync(["a"]) == []  # synced already: nothing changes
    (b,) = store.add([dossier("b")])
    assert b.facts.synced
    assert store.tallies("province")[(NOV_2, "all")] == Counter({BASE._replace(synced=True): 2})


def test_tallies_by_dimension_and_days(engine: sa.Engine) -> None:
    store = DossierStore(engine)
    store.add([dossier("a"), dossier("b", NOV_3, "719"), dossier("c", None), dossier("d", NOV_3)])
    by_district = store.tallies("district")
    assert by_district == {
        (NOV_2, "718"): Counter({BASE: 1}),
        (NOV_3, "719"): Counter({BASE: 1}),
        (NOV_3, "718"): Counter({BASE: 1}),
        (None, "718"): Counter({BASE: 1}),
    }
    assert store.tallies("district", NOV_3, NOV_3) == {
        (NOV_3, "719"): Counter({BASE: 1}),
        (NOV_3, "718"): Counter({BASE: 1}),
    }


def test_counts_events_are_numbered_upwards_across_stores_of_one_database(engine: sa.Engine) -> None:
    first = DossierStore(engine)
    numbers = [first.next_seq(), first.next_seq()]
    numbers.append(DossierStore(engine).next_seq())  # a restarted stage continues the sequence
    assert numbers == [1, 2, 3]

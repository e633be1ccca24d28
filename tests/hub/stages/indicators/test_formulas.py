"""Unit tests for hub.stages.indicators.formulas: facts, the 766 indicators, their exclusions and scores.

Every expected value is computed by hand in a comment beside the tally it comes from.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.stages.indicators.formulas import (
    ALL,
    GROUPS,
    INDICATOR_NAMES,
    INDICATORS,
    NOT_COMPUTABLE,
    REUSE_RATE,
    REUSE_TARGET,
    Facts,
    Indicator,
    Ratio,
    Tally,
    evaluate,
    evaluate_bits,
    facts_bits,
    facts_from_bits,
    facts_of,
    on_time,
    received_on,
)

# A received dossier of which nothing else is true; each test switches on what it needs.
PLAIN = Facts(
    received=True,
    online=False,
    has_fee=False,
    paid_online=False,
    finished=False,
    e_result=False,
    has_deadline=False,
    on_time=False,
    digitized=False,
    from_data_store=False,
    vneid=False,
    registry_matched=False,
    synced=False,
)
EVERYTHING = Facts(*[True] * len(Facts._fields))
UNRECEIVED = EVERYTHING._replace(received=False)  # true of everything, yet in no denominator

RECEIVED = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 09:00 in Vietnam
DUE = datetime(2026, 11, 9, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def fact(**changes: bool) -> Facts:
    return PLAIN._replace(**changes)


def indicator(name: str) -> Indicator:
    return next(i for i in INDICATORS if i.name == name)


def ratio(name: str, tally: Tally) -> Ratio:
    return indicator(name).ratio(tally)


# --- the catalogue --------------------------------------------------------------------------------


def test_indicator_names_in_their_stable_order() -> None:
    assert INDICATOR_NAMES == (
        "sync_rate",
        "on_time_rate",
        "online_rate",
        "online_payment_rate",
        "e_result_rate",
        "digitization_rate",
        "reuse_rate",
        "data_store_rate",
        "vneid_rate",
        "population_data_rate",
    )
    assert tuple(i.name for i in INDICATORS) == INDICATOR_NAMES
    assert REUSE_RATE in INDICATOR_NAMES
    assert ALL == "all"


@pytest.mark.parametrize(
    ("name", "group", "points", "full_at"),
    [
        ("sync_rate", "Transparency", 6, 1.0),
        ("on_time_rate", "Processing progress", 20, 1.0),
        ("online_rate", "Online public services", 12, 0.50),
        ("online_payment_rate", "Online payment", 10, 1.0),
        ("e_result_rate", "Digitization", 6, 1.0),
        ("digitization_rate", "Digitization", 4, 0.80),
        ("reuse_rate", "Digitization", 2, REUSE_TARGET),
        ("data_store_rate", "Digitization", 4, 1.0),
        ("vneid_rate", "Digitization", 2, 1.0),
        ("population_data_rate", "Digitization", 2, 1.0),
    ],
)
def test_group_points_and_full_rate_of_each_indicator(
    name: str, group: str, points: float, full_at: float
) -> None:
    found = indicator(name)
    assert (found.group, found.points, found.full_at) == (group, points, full_at)
    assert found.title and found.numerator and found.denominator and found.exclusions


def test_groups_are_the_six_of_decision_766_and_sum_to_100() -> None:
    assert dict(GROUPS) == {
        "Transparency": 18,
        "Processing progress": 20,
        "Online public services": 12,
        "Online payment": 10,
        "Digitization": 22,
        "Satisfaction": 18,
    }
    assert sum(points for _, points in GROUPS) == 100


def test_each_group_is_covered_exactly_by_computable_and_not_computable_points() -> None:
    covered = dict.fromkeys(dict(GROUPS), 0.0)
    parts = [(i.group, i.points) for i in INDICATORS] + [(n.group, n.points) for n in NOT_COMPUTABLE]
    for group, points in parts:
        covered[group] += points  # a group outside GROUPS raises KeyError
    assert covered == dict(GROUPS)


def test_not_computable_says_why() -> None:
    assert {(n.name, n.group, n.points) for n in NOT_COMPUTABLE} == {
        ("publication", "Transparency", 12),
        ("e_copies", "Digitization", 2),
        ("satisfaction", "Satisfaction", 18),
    }
    assert all(n.why and n.title for n in NOT_COMPUTABLE)
    names = [*INDICATOR_NAMES, *(n.name for n in NOT_COMPUTABLE)]
    assert len(names) == len(set(names))


# --- each indicator over a hand-counted tally ------------------------------------------------------


def test_sync_rate() -> None:
    tally = {fact(synced=True): 3, fact(): 1, UNRECEIVED: 5}
    assert ratio("sync_rate", tally) == Ratio(3, 4)  # 3 synced of 3 + 1 received


def test_on_time_rate() -> None:
    tally = {
        fact(has_deadline=True, on_time=True): 2,
        fact(has_deadline=True, on_time=False): 1,
        fact(has_deadline=False): 4,  # no deadline: out of the denominator
        UNRECEIVED: 3,
    }
    assert ratio("on_time_rate", tally) == Ratio(2, 3)  # 2 on time of 2 + 1 with a deadline


def test_online_rate() -> None:
    tally = {fact(online=True): 5, fact(): 5, UNRECEIVED: 7}
    assert ratio("online_rate", tally) == Ratio(5, 10)  # 5 online of 5 + 5 received
    assert indicator("online_rate").score(Ratio(5, 10)) == 12  # 50 % earns the full 12 points


def test_online_payment_rate() -> None:
    tally = {
        fact(has_fee=True, paid_online=True): 1,
        fact(has_fee=True): 3,
        fact(has_fee=False): 6,  # no fee: out of the denominator
        UNRECEIVED: 2,
    }
    assert ratio("online_payment_rate", tally) == Ratio(1, 4)  # 1 paid online of 1 + 3 with a fee


def test_e_result_rate_is_over_finished_dossiers_only() -> None:
    tally = {
        fact(finished=True, e_result=True): 3,
        fact(finished=True): 1,
        fact(finished=False): 5,  # unfinished: out of the denominator
        fact(finished=False, e_result=True): 1,  # a result link before the end does not count yet
        UNRECEIVED: 2,
    }
    assert ratio("e_result_rate", tally) == Ratio(3, 4)  # 3 with a result of 3 + 1 finished


def test_digitization_rate_asks_finished_dossiers_for_an_e_result() -> None:
    tally = {
        fact(digitized=True): 2,  # unfinished, digitized: counts
        fact(digitized=True, finished=True, e_result=True): 3,  # counts
        fact(digitized=True, finished=True): 1,  # finished without an e-result: does not count
        fact(finished=True, e_result=True): 4,  # not digitized: does not count
        UNRECEIVED: 5,
    }
    assert ratio("digitization_rate", tally) == Ratio(5, 10)  # 2 + 3 of 2 + 3 + 1 + 4


def test_reuse_rate() -> None:
    tally = {fact(digitized=True): 1, fact(): 3, UNRECEIVED: 2}
    assert ratio(REUSE_RATE, tally) == Ratio(1, 4)  # 1 reusing of 1 + 3 received


def test_data_store_rate() -> None:
    tally = {fact(from_data_store=True): 2, fact(digitized=True): 3, UNRECEIVED: 1}
    assert ratio("data_store_rate", tally) == Ratio(2, 5)  # 2 of 2 + 3


def test_vneid_rate() -> None:
    tally = {fact(vneid=True): 1, fact(registry_matched=True): 1, UNRECEIVED: 4}
    assert ratio("vneid_rate", tally) == Ratio(1, 2)  # 1 of 1 + 1


def test_population_data_rate() -> None:
    tally = {fact(registry_matched=True): 3, fact(vneid=True): 1, UNRECEIVED: 6}
    assert ratio("population_data_rate", tally) == Ratio(3, 4)  # 3 of 3 + 1


def test_evaluate_every_indicator_over_one_tally() -> None:
    online_on_time = fact(online=True, has_deadline=True, on_time=True, synced=True, vneid=True)
    paid_finished = fact(
        has_fee=True, paid_online=True, finished=True, e_result=True, has_deadline=True, on_time=True,
        digitized=True, registry_matched=True, synced=True,
    )  # fmt: skip
    late_in_person = fact(
        has_fee=True, finished=True, has_deadline=True, from_data_store=True, digitized=True
    )
    tally = {online_on_time: 2, paid_finished: 1, late_in_person: 1, UNRECEIVED: 9}
    # 4 received: 2 online_on_time, 1 paid_finished, 1 late_in_person.
    assert evaluate(tally) == {
        "sync_rate": Ratio(3, 4),  # 2 + 1 synced
        "on_time_rate": Ratio(3, 4),  # all 4 have a deadline; the late one is not on time
        "online_rate": Ratio(2, 4),
        "online_payment_rate": Ratio(1, 2),  # fee: paid_finished, late_in_person
        "e_result_rate": Ratio(1, 2),  # finished: paid_finished (result), late_in_person (none)
        "digitization_rate": Ratio(1, 4),  # late_in_person is digitized but finished without a result
        "reuse_rate": Ratio(2, 4),
        "data_store_rate": Ratio(1, 4),
        "vneid_rate": Ratio(2, 4),
        "population_data_rate": Ratio(1, 4),
    }
    assert tuple(evaluate(tally)) == INDICATOR_NAMES


def test_a_dossier_without_receipt_date_is_in_no_denominator() -> None:
    ratios = evaluate({UNRECEIVED: 10})
    assert ratios == dict.fromkeys(INDICATOR_NAMES, Ratio(0, 0))
    assert all(indicator(name).score(r) is None for name, r in ratios.items())


def test_an_empty_tally_gives_empty_ratios() -> None:
    assert evaluate({}) == dict.fromkeys(INDICATOR_NAMES, Ratio(0, 0))


def test_counts_of_zero_change_nothing() -> None:
    assert evaluate({fact(synced=True): 0, fact(): 2}) == evaluate({fact(): 2})


@pytest.mark.parametrize("seed", range(5))
def test_evaluate_over_two_tallies_is_the_sum_of_their_ratios(seed: int) -> None:
    draw = random.Random(seed)

    def random_tally() -> Counter[Facts]:
        return Counter(
            Facts(*(draw.random() < 0.5 for _ in Facts._fields)) for _ in range(draw.randint(0, 40))
        )

    first, second = random_tally(), random_tally()
    apart = evaluate(first), evaluate(second)
    assert evaluate(first + second) == {name: apart[0][name] + apart[1][name] for name in INDICATOR_NAMES}


# --- on time ---------------------------------------------------------------------------------------

AS_OF = DUE - 24 * HOUR  # a day before the deadline


@pytest.mark.parametrize(
    ("finished_at", "due_at", "as_of", "expected"),
    [
        (DUE - HOUR, DUE, AS_OF, True),  # finished before the deadline
        (DUE, DUE, AS_OF, True),  # finished at the deadline
        (DUE + HOUR, DUE, AS_OF, False),  # finished late, even if computed before the deadline
        (DUE + HOUR, DUE, DUE + 48 * HOUR, False),  # finished late
        (None, DUE, AS_OF, True),  # unfinished, still within the deadline
        (None, DUE, DUE, True),  # unfinished, at the deadline
        (None, DUE, DUE + HOUR, False),  # unfinished and past due
        (DUE - HOUR, None, AS_OF, False),  # no deadline (outside the denominator anyway)
        (None, None, AS_OF, False),
    ],
)
def test_on_time(
    finished_at: datetime | None, due_at: datetime | None, as_of: datetime, expected: bool
) -> None:
    assert on_time(finished_at, due_at, as_of) is expected


def test_on_time_compares_instants_across_time_zones() -> None:
    vietnam = timezone(timedelta(hours=7))
    due = datetime(2026, 11, 9, 17, 0, tzinfo=vietnam)  # 10:00 UTC
    assert on_time(datetime(2026, 11, 9, 9, 59, tzinfo=UTC), due, AS_OF) is True
    assert on_time(datetime(2026, 11, 9, 10, 1, tzinfo=UTC), due, AS_OF) is False


# --- facts_of --------------------------------------------------------------------------------------


def dossier(**fields: Any) -> dict[str, Any]:
    """A realistic land-registration dossier, received online, digitized, fee paid, finished on time."""
    return {
        "MaHoSo": "000.00.74.H01-261102-0001",
        "MaTTHC": "1.004227",
        "NgayTiepNhan": RECEIVED,
        "NgayHenTra": DUE,
        "NgayKetThucXuLy": DUE - 24 * HOUR,
        "KenhThucHien": 2,
        "PhiLePhi": 50_000,
        "DuocThanhToanTrucTuyen": 1,
        "MaKetQua": "KQ-0001",
        "DuongDanTepTinKetQua": "https://dichvucong.binhduong.gov.vn/kq/KQ-0001.pdf",
        "HoSoCoThanhPhanSoHoa": True,
        "DuocLayTuKhoDMQG": True,
        "TaiKhoanDuocXacThucVoiVNeID": True,
    } | fields


def facts(
    record: dict[str, Any], *, matched: bool = True, synced: bool = True, as_of: datetime = DUE
) -> Facts:
    return facts_of(record, registry_matched=matched, synced=synced, as_of=as_of)


def test_facts_of_a_full_dossier() -> None:
    assert facts(dossier()) == EVERYTHING


def test_facts_of_a_dossier_missing_every_defaulted_field() -> None:
    minimal = {"MaHoSo": "HS-2", "MaTTHC": "1.001", "KenhThucHien": 1}
    assert facts(minimal, matched=False, synced=False) == PLAIN._replace(received=False)


def test_facts_of_passes_registry_match_and_sync_through() -> None:
    assert facts(dossier(), matched=False, synced=True)[-2:] == (False, True)
    assert facts(dossier(), matched=True, synced=False)[-2:] == (True, False)


@pytest.mark.parametrize(("channel", "online"), [(1, False), (2, True), (3, False)])
def test_facts_of_channel(channel: int, online: bool) -> None:
    assert facts(dossier(KenhThucHien=channel)).online is online


@pytest.mark.parametrize(("paid", "paid_online"), [(0, False), (1, True), (2, True)])
def test_facts_of_online_payment(paid: int, paid_online: bool) -> None:
    assert facts(dossier(DuocThanhToanTrucTuyen=paid)).paid_online is paid_online


@pytest.mark.parametrize(("fee", "has_fee"), [(0, False), (1, True), (50_000, True)])
def test_facts_of_fee(fee: int, has_fee: bool) -> None:
    assert facts(dossier(PhiLePhi=fee)).has_fee is has_fee


@pytest.mark.parametrize(
    ("link", "e_result"), [(None, False), ("", False), ("  ", False), ("https://x.gov.vn/kq.pdf", True)]
)
def test_facts_of_result_link(link: str | None, e_result: bool) -> None:
    assert facts(dossier(DuongDanTepTinKetQua=link)).e_result is e_result


def test_facts_of_an_unfinished_dossier_is_on_time_until_its_deadline() -> None:
    unfinished = dossier(NgayKetThucXuLy=None, DuongDanTepTinKetQua=None)
    assert facts(unfinished, as_of=DUE - HOUR)[4:8] == (False, False, True, True)  # finished…on_time
    assert facts(unfinished, as_of=DUE + HOUR).on_time is False


def test_facts_of_a_dossier_finished_late() -> None:
    assert facts(dossier(NgayKetThucXuLy=DUE + HOUR), as_of=AS_OF).on_time is False


def test_facts_of_a_dossier_without_deadline_or_receipt() -> None:
    found = facts(dossier(NgayHenTra=None, NgayTiepNhan=None))
    assert (found.received, found.has_deadline, found.on_time) == (False, False, False)


# --- received_on -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        (datetime(2026, 11, 1, 16, 59, 59, tzinfo=UTC), date(2026, 11, 1)),  # 23:59:59 in Vietnam
        (datetime(2026, 11, 1, 17, 0, tzinfo=UTC), date(2026, 11, 2)),  # midnight in Vietnam
        (datetime(2026, 11, 1, 17, 30, tzinfo=UTC), date(2026, 11, 2)),
        (datetime(2026, 11, 2, 0, 30, tzinfo=timezone(timedelta(hours=7))), date(2026, 11, 2)),
        (datetime(2026, 11, 1, 12, 30, tzinfo=timezone(timedelta(hours=-5))), date(2026, 11, 2)),  # 17:30Z
        (datetime(2026, 11, 1, 17, 30), date(2026, 11, 2)),  # naive: taken as UTC
        (None, None),
    ],
)
def test_received_on_is_the_day_in_vietnam(moment: datetime | None, day: date | None) -> None:
    assert received_on(moment) == day


# --- scores and ratios -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "points"),
    [
        ("online_rate", Ratio(1, 4), 6.0),  # 12 × 0.25 / 0.50
        ("online_rate", Ratio(3, 4), 12.0),  # 0.75 ≥ 0.50: capped at 12
        (REUSE_RATE, Ratio(2, 5), 1.0),  # 2 × 0.40 / 0.80
        (REUSE_RATE, Ratio(4, 5), 2.0),  # exactly the target
        ("on_time_rate", Ratio(49, 50), 19.6),  # 20 × 0.98
        ("sync_rate", Ratio(0, 7), 0.0),
        ("digitization_rate", Ratio(9, 10), 4.0),  # 0.90 ≥ 0.80: capped at 4
    ],
)
def test_score(name: str, value: Ratio, points: float) -> None:
    assert indicator(name).score(value) == pytest.approx(points)


def test_score_without_denominator_is_none() -> None:
    assert all(i.score(Ratio(0, 0)) is None for i in INDICATORS)


def test_ratio_rate_and_sum() -> None:
    assert Ratio(3, 4).rate == pytest.approx(0.75)
    assert Ratio(0, 5).rate == 0.0
    assert Ratio(0, 0).rate is None
    assert Ratio(1, 2) + Ratio(2, 3) == Ratio(3, 5)
    assert Ratio(1, 2) + Ratio(0, 0) == Ratio(1, 2)


@given(st.dictionaries(st.integers(0, (1 << len(Facts._fields)) - 1), st.integers(-3, 50), max_size=40))
def test_evaluating_facts_as_bits_gives_what_evaluating_facts_gives(tally: dict[int, int]) -> None:
    as_facts = {facts_from_bits(bits): n for bits, n in tally.items()}
    assert evaluate_bits(tally) == evaluate(as_facts)
    assert all(facts_bits(facts_from_bits(bits)) == bits for bits in tally)

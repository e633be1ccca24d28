"""Unit tests for hub.service: the one list of stages and how a choice of them is read."""

from __future__ import annotations

import pytest

from hub.errors import HubError
from hub.service import STAGE_NAMES, STAGES, stage_names
from hub.settings import Settings


def test_the_stages_in_pipeline_order() -> None:
    assert STAGE_NAMES == ("reconcile", "indicators", "forward", "archive")
    assert [spec.needs_exchange for spec in STAGES] == [False, False, True, False]


def test_no_choice_is_every_stage_and_a_choice_keeps_pipeline_order() -> None:
    assert stage_names(None) == stage_names([]) == STAGE_NAMES
    assert stage_names(["forward", "reconcile"]) == ("reconcile", "forward")


def test_an_unknown_stage_is_refused_with_the_list() -> None:
    with pytest.raises(
        HubError, match="unknown stage archve, recon; stages are reconcile, indicators, forward, archive"
    ):
        stage_names(["recon", "archve", "reconcile"])


def test_each_stage_takes_its_batch_size_from_the_settings() -> None:
    settings = Settings(reconcile_batch_size=7, consumer_batch_size=3, exchange_request_size=5)
    assert {spec.name: spec.batch_size(settings) for spec in STAGES} == {
        "reconcile": 7,
        "indicators": 3,
        "forward": 5 * 4 * 4,  # four chunks of a full request for each of the four agencies
        "archive": 3,
    }

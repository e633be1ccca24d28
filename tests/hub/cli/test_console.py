"""Unit tests for hub.cli.console: tables never cut an identifier, piped or on a narrow terminal."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from hub.cli.console import print_table

PATH = "/srv/hub-data/simulation/exports/lgsp.social-insurance.records.2026-11-01.jsonl"


def _table() -> Table:
    table = Table("what", "where", title="hub simulate")
    table.add_row("social insurance export", PATH)
    table.add_row("ground truth", "/srv/hub-data/simulation/ground_truth.csv")
    return table


def test_piped_output_is_plain_lines_with_every_identifier_whole() -> None:
    stream = io.StringIO()
    print_table(_table(), Console(file=stream, width=40), whole=(1,))
    lines = stream.getvalue().splitlines()
    assert lines == [
        "hub simulate",
        "what\twhere",
        f"social insurance export\t{PATH}",
        "ground truth\t/srv/hub-data/simulation/ground_truth.csv",
    ]


def test_a_narrow_terminal_wraps_other_columns_but_never_an_identifier() -> None:
    stream = io.StringIO()
    console = Console(file=stream, width=100, force_terminal=True, color_system=None)
    print_table(_table(), console, whole=(1,))
    assert PATH in stream.getvalue()

"""Reading agencies' exports: columns to fields, cells to Avro values, rows to records or rejections."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from hub.errors import InputError, SchemaError
from hub.topics import Department
from producers.files import (
    ExportFile,
    FieldTable,
    RejectFile,
    Row,
    department_table,
    parse_mapping,
    plan_columns,
    scan_encoding,
)

ICT = timezone(timedelta(hours=7))
LAND = department_table(Department.LAND)

GOOD: dict[str, str] = {
    "record_id": "STNMT-1",
    "occurred_at": "2026-11-02T09:30:00",
    "SoDinhDanh": "074201000001",
    "HoVaTen": "Nguyễn Văn An",
    "NgayThangNamSinh": "17/05/1990",
    "GioiTinh": "Nam",
    "MaHoSo": "HS-1",
    "MaTTHC": "1.0001",
    "KenhThucHien": "2",
    "transaction_type": "transfer",
    "map_sheet_number": "12",
    "parcel_number": "345",
    "area_m2": "1234.5",
}


def _csv(path: Path, rows: list[dict[str, str]], header: list[str] | None = None, **kw: Any) -> Path:
    header = header or list(rows[0])
    with open(path, "w", encoding=kw.pop("encoding", "utf-8"), newline="") as f:
        writer = csv.writer(f, **kw)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(column, "") for column in header])
    return path


_TONES = "\u0300\u0301\u0303\u0309\u0323"


def _cp1258(text: str) -> str:
    """``text`` as cp1258 can hold it: a letter with a tone mark is the letter, then the mark."""
    out = []
    for char in unicodedata.normalize("NFC", text):
        try:
            char.encode("cp1258")
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", char)
            tone = "".join(c for c in parts if c in _TONES)
            char = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONES)) + tone
        out.append(char)
    return "".join(out)


def _read(path: Path, department: Department = Department.LAND, **kw: Any) -> tuple[ExportFile, list[Row]]:
    export = ExportFile(path, department, **kw)
    export.check()
    return export, list(export.rows())


def _convert(field: str, cell: Any) -> Any:
    """The value ``cell`` becomes in the land record's field ``field`` (leaf name), as a row would."""
    plan = plan_columns([field], LAND)
    value: Any = plan.convert([cell])
    for part in plan.bindings[0][4].path.split("."):
        value = value[part]
    return value


# --- the schema's fields ---------------------------------------------------------------------


@pytest.mark.parametrize("department", list(Department))
def test_every_department_record_has_unique_leaf_names(department: Department) -> None:
    table = department_table(department)
    assert table.ambiguous == {}
    required = {leaf.name for leaf in table.fields if leaf.required}
    assert {"record_id", "occurred_at", "HoVaTen", "GioiTinh", "MaHoSo", "MaTTHC", "KenhThucHien"} <= required
    assert "agency" not in required and "SoDinhDanh" not in required


def test_a_leaf_name_used_twice_must_be_given_as_a_dotted_path() -> None:
    inner = {"type": "record", "name": "x.Inner", "fields": [{"name": "code", "type": "string"}]}
    document = {
        "type": "record",
        "name": "x.Outer",
        "fields": [{"name": "code", "type": "string"}, {"name": "inner", "type": inner}],
    }
    table = FieldTable(document)
    assert table.ambiguous["code"] == ["code", "inner.code"]
    with pytest.raises(InputError, match=r"'code' could be any of code, inner.code"):
        table.lookup("code")
    leaf = table.lookup("inner.code")
    assert leaf is not None and leaf.path == "inner.code"


def test_a_type_files_cannot_hold_is_a_schema_error() -> None:
    document = {
        "type": "record",
        "name": "x.R",
        "fields": [{"name": "tags", "type": {"type": "array", "items": "string"}}],
    }
    with pytest.raises(SchemaError, match="tags"):
        FieldTable(document)


# --- cells to values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "cell", "value"),
    [
        ("map_sheet_number", "42", 42),
        ("map_sheet_number", " 7 ", 7),
        ("map_sheet_number", "12.0", 12),
        ("map_sheet_number", 9, 9),
        ("PhiLePhi", "5000000000", 5_000_000_000),
        ("area_m2", "1234.5", 1234.5),
        ("area_m2", "40", 40.0),
        ("area_m2", 12, 12.0),
        ("HoSoCoThanhPhanSoHoa", "true", True),
        ("HoSoCoThanhPhanSoHoa", "FALSE", False),
        ("HoSoCoThanhPhanSoHoa", "1", True),
        ("HoSoCoThanhPhanSoHoa", "0", False),
        ("HoSoCoThanhPhanSoHoa", "yes", True),
        ("HoSoCoThanhPhanSoHoa", "No", False),
        ("HoSoCoThanhPhanSoHoa", "Có", True),
        ("HoSoCoThanhPhanSoHoa", "không", False),
        ("HoSoCoThanhPhanSoHoa", unicodedata.normalize("NFD", "KHÔNG"), False),
        ("HoSoCoThanhPhanSoHoa", True, True),
        ("NgayThangNamSinh", "1990-05-17", date(1990, 5, 17)),
        ("NgayThangNamSinh", "17/05/1990", date(1990, 5, 17)),
        ("NgayThangNamSinh", "7/5/1990", date(1990, 5, 7)),
        ("occurred_at", "2026-11-02T09:30:00", datetime(2026, 11, 2, 9, 30, tzinfo=ICT)),
        ("occurred_at", "2026-11-02 09:30", datetime(2026, 11, 2, 9, 30, tzinfo=ICT)),
        ("occurred_at", "2026-11-02T02:30:00Z", datetime(2026, 11, 2, 2, 30, tzinfo=UTC)),
        ("occurred_at", "2026-11-02T09:30:00+07:00", datetime(2026, 11, 2, 9, 30, tzinfo=ICT)),
        ("occurred_at", "02/11/2026 09:30", datetime(2026, 11, 2, 9, 30, tzinfo=ICT)),
        ("occurred_at", "02/11/2026", datetime(2026, 11, 2, tzinfo=ICT)),
        ("occurred_at", 1_793_586_600_000, datetime(2026, 11, 2, 2, 30, tzinfo=UTC)),
        ("transaction_type", "transfer", "TRANSFER"),
        ("transaction_type", " Mortgage ", "MORTGAGE"),
        ("GioiTinh", "female", "FEMALE"),
        ("GioiTinh", "Nam", "MALE"),
        ("GioiTinh", "Nữ", "FEMALE"),
        ("SoDinhDanh", "074201000001", "074201000001"),
        ("SoDinhDanh", 74201000001, "74201000001"),
        ("SoDinhDanh", "", None),
        ("NgayThangNamSinh", "  ", None),
        ("PhiLePhi", "", 0),
        ("DuocLayTuKhoDMQG", "", False),
        ("agency", "", "STNMT"),
    ],
)
def test_cells_become_avro_values(field: str, cell: Any, value: Any) -> None:
    converted = _convert(field, cell)
    assert converted == value and type(converted) is type(value)
    if isinstance(value, datetime):
        assert converted.utcoffset() == value.utcoffset()


@pytest.mark.parametrize(
    ("field", "cell", "message"),
    [
        ("map_sheet_number", "12.5", "'12.5' is not a whole number"),
        ("map_sheet_number", "abc", "'abc' is not a whole number"),
        ("map_sheet_number", str(2**31), "out of range for a 32-bit number"),
        ("map_sheet_number", True, "not a whole number"),
        ("area_m2", "1.234,5", "'1.234,5' is not a number (write 1234.5"),
        ("area_m2", "1,5", "is not a number"),
        ("area_m2", "nan", "not a finite number"),
        ("HoSoCoThanhPhanSoHoa", "maybe", "not a boolean (true/false, 1/0, yes/no, có/không)"),
        ("HoSoCoThanhPhanSoHoa", 2, "not a boolean"),
        ("NgayThangNamSinh", "31/02/1990", "'31/02/1990' is not a date (YYYY-MM-DD or dd/mm/yyyy)"),
        ("NgayThangNamSinh", "1990-13-01", "is not a date"),
        ("NgayThangNamSinh", "17/05/90", "is not a date"),
        ("NgayThangNamSinh", "05/17/1990", "is not a date"),
        ("occurred_at", "yesterday", "'yesterday' is not a date and time (ISO 8601"),
        ("occurred_at", "31/02/2026 08:00", "is not a date and time"),
        ("transaction_type", "SALE", "'SALE' is not one of REGISTRATION, TRANSFER, MORTGAGE"),
        ("HoVaTen", "", "is empty, but the field is required"),
        ("HoVaTen", ["a"], "is not text"),
    ],
)
def test_cells_that_are_not_their_field_s_type_are_refused(field: str, cell: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        _convert(field, cell)
    assert message in str(caught.value)


# --- columns to fields -----------------------------------------------------------------------


def test_columns_match_by_leaf_name_dotted_path_case_and_unicode_form() -> None:
    columns = ["RECORD_ID", "citizen.HoVaTen", unicodedata.normalize("NFD", "Số CCCD"), "ghi chú", ""]
    renames = parse_mapping(["Số CCCD=SoDinhDanh"], LAND)
    plan = plan_columns(columns, LAND, renames)
    bound = {leaf.path: index for index, _, _, _, leaf, _ in plan.bindings}
    assert bound == {"record_id": 0, "citizen.HoVaTen": 1, "citizen.SoDinhDanh": 2}
    assert plan.unknown == ("ghi chú", "(unnamed column 5)")
    assert {leaf.name for leaf in plan.missing} >= {"occurred_at", "GioiTinh", "MaHoSo", "area_m2"}
    assert "agency" not in {leaf.name for leaf in plan.missing}


def test_two_columns_for_one_field_are_an_error() -> None:
    with pytest.raises(InputError, match=r"columns 'SoDinhDanh' and 'citizen.SoDinhDanh' both give"):
        plan_columns(["SoDinhDanh", "citizen.SoDinhDanh"], LAND)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("Số CCCD", "write it as --map 'Column in the file=FieldName'"),
        ("=SoDinhDanh", "write it as"),
        ("Số CCCD=SoCCCD", "'SoCCCD' is not a field of vn.lgsp.LandRecord (record_id, agency"),
    ],
)
def test_bad_map_options_are_one_line_errors(entry: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_mapping([entry], LAND)


def test_a_mapped_column_becomes_its_field_and_is_named_in_reasons(tmp_path: Path) -> None:
    rows = [{**GOOD, "Ngày sinh": "17/05/1990"}, {**GOOD, "Ngày sinh": "30/02/1990"}]
    header = [c for c in rows[0] if c != "NgayThangNamSinh"]
    path = _csv(tmp_path / "land.csv", rows, header)
    _, got = _read(path, mapping=["Ngày sinh=NgayThangNamSinh"])
    assert got[0].record is not None and got[0].record["citizen"]["NgayThangNamSinh"] == date(1990, 5, 17)
    assert got[1].reason == (
        "citizen.NgayThangNamSinh (column 'Ngày sinh'): '30/02/1990' is not a date (YYYY-MM-DD or dd/mm/yyyy)"
    )


def test_a_map_for_a_column_the_file_lacks_is_an_error(tmp_path: Path) -> None:
    path = _csv(tmp_path / "land.csv", [GOOD])
    with pytest.raises(InputError, match=r"--map names columns 'Số CCCD' that .* does not have"):
        _read(path, mapping=["Số CCCD=SoDinhDanh"])


def test_missing_required_columns_fail_before_any_row_naming_missing_and_found(tmp_path: Path) -> None:
    path = _csv(tmp_path / "land.csv", [GOOD], [c for c in GOOD if c not in ("HoVaTen", "area_m2")])
    export = ExportFile(path, Department.LAND)
    with pytest.raises(InputError) as caught:
        export.check()
    message = str(caught.value)
    assert "missing required columns HoVaTen, area_m2" in message
    assert "(columns found: record_id, occurred_at, SoDinhDanh," in message
    assert "\n" not in message


def test_unknown_columns_are_ignored_and_listed(tmp_path: Path) -> None:
    path = _csv(tmp_path / "land.csv", [{**GOOD, "ghi_chu": "x", "Người nhập": "y"}])
    export, rows = _read(path)
    assert rows[0].record is not None
    assert export.unknown_columns == ["ghi_chu", "Người nhập"]


# --- rows ------------------------------------------------------------------------------------


def test_a_good_row_becomes_the_nested_record_with_defaults(tmp_path: Path) -> None:
    _, rows = _read(_csv(tmp_path / "land.csv", [GOOD]))
    assert rows == [Row(2, ",".join(GOOD.values()), rows[0].record)]
    record = rows[0].record
    assert record is not None
    assert record["agency"] == "STNMT" and record["bundle_id"] is None
    assert record["occurred_at"] == datetime(2026, 11, 2, 9, 30, tzinfo=ICT)
    assert record["citizen"] == {
        "SoDinhDanh": "074201000001",
        "SoCMND": None,
        "HoVaTen": "Nguyễn Văn An",
        "NgayThangNamSinh": date(1990, 5, 17),
        "GioiTinh": "MALE",
        "MaHuyen": None,
        "MaXa": None,
    }
    assert record["dossier"]["KenhThucHien"] == 2 and record["dossier"]["PhiLePhi"] == 0
    assert record["dossier"]["HoSoCoThanhPhanSoHoa"] is False and record["dossier"]["NgayTiepNhan"] is None
    assert (record["transaction_type"], record["parcel_number"], record["area_m2"]) == (
        "TRANSFER",
        345,
        1234.5,
    )


def test_rejections_carry_the_first_line_of_their_row_even_after_multi_line_cells(tmp_path: Path) -> None:
    header = [*GOOD, "ghi_chu"]
    text = (
        ",".join(header)
        + "\n"
        + ",".join(GOOD.values())
        + ',"một dòng\nhai dòng\nba dòng"\n'  # lines 2-4
        + "\n"  # line 5: blank, skipped
        + ",".join({**GOOD, "NgayThangNamSinh": "31/02/1990"}.values())
        + ",\n"  # line 6
        + ",".join({**GOOD, "area_m2": '"1.234,5"'}.values())
        + ',"x\ny"\n'  # lines 7-8
        + "#### hết dữ liệu ####\n"  # line 9
        + ",".join({**GOOD, "HoVaTen": ""}.values())
        + ",\n"  # line 10
        + ",".join(GOOD.values())
        + "\n"  # line 11: one cell short
        + "," * (len(header) - 1)
        + "\n"  # line 12: empty cells, skipped
        + ",".join(GOOD.values())
        + ",ok"  # line 13, no newline at the end
    )
    path = tmp_path / "land.csv"
    path.write_text(text, encoding="utf-8")
    export, rows = _read(path)
    assert export.lines == 13
    outcome = [(r.line, r.reason) for r in rows]
    assert outcome == [
        (2, None),
        (6, "citizen.NgayThangNamSinh: '31/02/1990' is not a date (YYYY-MM-DD or dd/mm/yyyy)"),
        (7, "area_m2: '1.234,5' is not a number (write 1234.5: '.' for decimals, no thousands separator)"),
        (9, "1 cells, but the header has 14 columns"),
        (10, "citizen.HoVaTen: is empty, but the field is required"),
        (11, "13 cells, but the header has 14 columns"),
        (13, None),
    ]
    assert rows[0].text.endswith('"một dòng\nhai dòng\nba dòng"')
    assert rows[3].text == "#### hết dữ liệu ####"


def test_semicolons_and_a_byte_order_mark_are_understood(tmp_path: Path) -> None:
    path = _csv(tmp_path / "land.csv", [GOOD], delimiter=";", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    _, rows = _read(path)
    assert rows[0].record is not None and rows[0].record["record_id"] == "STNMT-1"


def test_json_lines_nested_flat_typed_and_broken(tmp_path: Path) -> None:
    nested = {
        "record_id": "J-1",
        "occurred_at": "2026-11-02T09:30:00+07:00",
        "citizen": {"SoDinhDanh": None, "HoVaTen": "Trần Thị Bình", "GioiTinh": "FEMALE"},
        "dossier": {"MaHoSo": "HS-2", "MaTTHC": "1.2", "KenhThucHien": 1, "HoSoCoThanhPhanSoHoa": True},
        "transaction_type": "REGISTRATION",
        "map_sheet_number": 3,
        "parcel_number": 4,
        "area_m2": 55,
        "extra": {"note": "x"},
    }
    lines = [
        json.dumps(nested, ensure_ascii=False),
        json.dumps({**GOOD, "record_id": "J-2"}, ensure_ascii=False),
        "",
        '{"record_id": "J-3", "HoVaTen": ',
        "[1, 2]",
        json.dumps({**GOOD, "record_id": "J-5", "area_m2": "abc"}),
        json.dumps({k: v for k, v in GOOD.items() if k != "MaHoSo"}),
    ]
    path = tmp_path / "land.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    export, rows = _read(path)
    assert [(r.line, r.reason is None) for r in rows] == [
        (1, True),
        (2, True),
        (4, False),
        (5, False),
        (6, False),
        (7, False),
    ]
    first = rows[0].record
    assert first is not None
    assert first["citizen"]["SoDinhDanh"] is None and first["area_m2"] == 55.0
    assert first["dossier"]["HoSoCoThanhPhanSoHoa"] is True and first["dossier"]["PhiLePhi"] == 0
    assert rows[1].record is not None and rows[1].record["citizen"]["GioiTinh"] == "MALE"
    assert rows[2].reason is not None and rows[2].reason.startswith("not valid JSON: Expecting value")
    assert rows[2].text == lines[3]
    assert rows[3].reason == "not a JSON object but list"
    assert (
        rows[4].reason
        == "area_m2: 'abc' is not a number (write 1234.5: '.' for decimals, no thousands separator)"
    )
    assert rows[5].reason == "missing required fields dossier.MaHoSo"
    assert export.unknown_columns == ["extra.note"]


def test_json_lines_without_a_required_field_in_any_object_fail_up_front(tmp_path: Path) -> None:
    path = tmp_path / "land.ndjson"
    path.write_text(
        "\n".join(json.dumps({k: v for k, v in GOOD.items() if k != "HoVaTen"}) for _ in range(3))
    )
    with pytest.raises(InputError, match="missing required columns HoVaTen"):
        ExportFile(path, Department.LAND).check()


# --- the file --------------------------------------------------------------------------------


def test_text_in_another_encoding_is_found_before_any_row_with_its_line(tmp_path: Path) -> None:
    path = _csv(tmp_path / "land.csv", [GOOD, {**GOOD, "HoVaTen": "Lê Thị Hồng"}])
    path.write_text(_cp1258(path.read_text(encoding="utf-8")), encoding="cp1258", newline="")
    export = ExportFile(path, Department.LAND)
    with pytest.raises(InputError) as caught:
        export.check()
    assert str(caught.value) == (
        f"{path} line 2 is not utf-8 (byte 0xea); try --encoding cp1258 or --encoding utf-16 "
        "(cp1258: Excel on Windows)"
    )
    _, rows = _read(path, encoding="cp1258")  # cp1258 spells ễ as ê + a combining tilde
    assert [r.record["citizen"]["HoVaTen"] for r in rows if r.record] == ["Nguyễn Văn An", "Lê Thị Hồng"]
    assert rows[0].record is not None and unicodedata.is_normalized(
        "NFC", rows[0].record["citizen"]["HoVaTen"]
    )


@pytest.mark.parametrize(("encoding", "hint"), [("utf-16", "utf-16"), ("utf-16-le", "utf-16-le")])
def test_utf_16_read_as_utf_8_is_named(tmp_path: Path, encoding: str, hint: str) -> None:
    path = _csv(tmp_path / "land.csv", [GOOD], encoding=encoding)
    with pytest.raises(InputError, match=f"it looks like UTF-16: try --encoding {hint}$"):
        ExportFile(path, Department.LAND).check()
    _, rows = _read(path, encoding=encoding)
    assert rows[0].record is not None


def test_scan_counts_lines_and_names_the_bad_one_across_chunks() -> None:
    data = b"a\n" * 10 + "é\n".encode("cp1258") + b"b"
    assert scan_encoding(io.BytesIO(b"a\nb\n"), "utf-8", "f") == 2
    assert scan_encoding(io.BytesIO(b"a\nb"), "utf-8", "f") == 2
    assert scan_encoding(io.BytesIO(data), "cp1258", "f", chunk_size=3) == 12
    with pytest.raises(InputError, match="f line 11 is not utf-8 "):
        scan_encoding(io.BytesIO(data), "utf-8", "f", chunk_size=3)
    with pytest.raises(InputError, match="unknown encoding 'klingon'"):
        scan_encoding(io.BytesIO(data), "klingon", "f")


@pytest.mark.parametrize(
    ("name", "given", "message"),
    [
        ("land.txt", None, "cannot tell the format of land.txt from its name: give --format csv or jsonl"),
        ("land.csv", "xml", "unknown format 'xml'; formats are csv and jsonl"),
    ],
)
def test_formats_come_from_the_name_or_the_option(
    tmp_path: Path, name: str, given: str | None, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        ExportFile(tmp_path / name, Department.LAND, file_format=given)


def test_format_option_overrides_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "land.txt"
    path.write_text(json.dumps(GOOD) + "\n")
    _, rows = _read(path, file_format="jsonl")
    assert rows[0].record is not None


def test_missing_and_empty_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read .*nope.csv: No such file or directory"):
        ExportFile(tmp_path / "nope.csv", Department.LAND).check()
    (tmp_path / "empty.csv").write_text("\n\n")
    with pytest.raises(InputError, match="is empty: no header row and no records"):
        ExportFile(tmp_path / "empty.csv", Department.LAND).check()


def test_the_reject_file_is_only_written_when_there_are_rejects(tmp_path: Path) -> None:
    path = tmp_path / "land.csv.rejects.csv"
    with RejectFile(path) as rejects:
        pass
    assert not path.exists() and rejects.count == 0
    with RejectFile(path) as rejects:
        rejects.write(7, "area_m2: 'x' is not a number", 'a,"b\nc",x')
    with open(path, encoding="utf-8", newline="") as f:
        assert list(csv.reader(f)) == [
            ["line", "reason", "row"],
            ["7", "area_m2: 'x' is not a number", 'a,"b\nc",x'],
        ]

"""hub.archive.container: a record's encoding is byte for byte fastavro's, whatever its values;
the header and blocks make a container fastavro reads."""

from __future__ import annotations

import io

import fastavro
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.archive.container import (
    ARCHIVED_RECORD,
    Fields,
    blocks,
    encode_digest,
    encode_fields,
    header,
    read_header,
)

PARSED = fastavro.parse_schema(ARCHIVED_RECORD)
SYNC = bytes(range(16))

maybe_bytes = (
    st.none() | st.binary(max_size=40) | st.sampled_from([b"x" * 65_535, b"y" * 65_536, b"z" * 70_000])
)
longs = st.integers(-(1 << 63), (1 << 63) - 1)
ints = st.integers(-(1 << 31), (1 << 31) - 1)
fields = st.tuples(
    st.text(max_size=30),
    ints,
    longs,
    st.none() | longs,
    maybe_bytes,
    st.lists(st.tuples(st.text(max_size=10), maybe_bytes), max_size=3).map(tuple)
    | st.sampled_from([(("h", None),) * 255, (("h", b""),) * 256]),
    st.none() | ints,
    maybe_bytes,
)


def fastavro_bytes(row: Fields, digest: bytes) -> bytes:
    topic, partition, offset, timestamp, key, headers, schema_id, value = row
    record = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": timestamp,
        "key": key,
        "headers": [{"key": k, "value": v} for k, v in headers],
        "schema_id": schema_id,
        "value": value,
        "digest": digest,
    }
    out = io.BytesIO()
    fastavro.schemaless_writer(out, PARSED, record)
    return out.getvalue()


@given(row=fields, digest=st.binary(max_size=40))
def test_a_record_encodes_as_fastavro_writes_it(row: Fields, digest: bytes) -> None:
    assert encode_fields(row) + encode_digest(digest) == fastavro_bytes(row, digest)


def test_offsets_and_times_close_together_encode_as_fastavro_writes_them() -> None:
    base = 1_796_322_898_622
    for n in [*range(base, base + 300), *range(8_000, 9_000), *range(-300, 300), 1 << 62, -(1 << 63)]:
        row: Fields = ("t", 0, n, n, None, (), None, None)
        assert encode_fields(row) + encode_digest(b"") == fastavro_bytes(row, b"")


def test_what_the_tables_do_not_hold_encodes_as_fastavro_writes_it() -> None:
    big = b"v" * 70_000  # a length of 64 KiB or more, 256 headers or more, a partition past the tables
    for row in [
        ("t", 0, 0, None, big, (("h", big),), None, big),
        ("t", 0, 0, None, None, (("h", None),) * 300, None, None),
        ("t", 9_000, 0, None, None, (), 1 << 20, None),
        ("t", -5, 0, None, None, (), -1, None),
    ]:
        assert encode_fields(row) + encode_digest(b"d") == fastavro_bytes(row, b"d")


def test_values_that_are_not_a_record_s_are_refused() -> None:
    with pytest.raises(ValueError):
        encode_fields(("t", 0, 1 << 63, None, None, (), None, None))
    with pytest.raises(ValueError):
        encode_fields(("t", 1 << 31, 0, None, None, (), None, None))
    with pytest.raises(TypeError):
        encode_fields(("t", 0, "1", None, None, (), None, None))  # type: ignore[arg-type]


def test_a_header_given_as_text_is_kept_as_its_bytes() -> None:
    as_text = encode_fields(("t", 0, 1, None, None, (("agency", "STNMT"),), None, None))  # type: ignore[arg-type]
    assert as_text == encode_fields(("t", 0, 1, None, None, (("agency", b"STNMT"),), None, None))


def test_blocks_after_a_header_are_a_container_fastavro_reads() -> None:
    rows: list[Fields] = [
        ("lgsp.land.records", i % 3, i, 1_763_000_000_000 + i, b"k", (("a", b"x" * i),), 7, b"v" * 50)
        for i in range(300)
    ]
    encoded = [encode_fields(row) + encode_digest(bytes(32)) for row in rows]
    data = header({"lgsp.incarnation": "2"}, SYNC) + blocks(encoded, SYNC, limit=4000)
    assert data.count(SYNC) > 10  # many blocks, each ended by the sync marker
    reader = fastavro.reader(io.BytesIO(data))
    assert reader.metadata["lgsp.incarnation"] == "2"
    read = [(r["partition"], r["offset"], r["headers"][0]["value"]) for r in reader]  # type: ignore[call-overload, index]
    assert read == [(row[1], row[2], row[5][0][1]) for row in rows]
    meta, sync = read_header(io.BytesIO(data))
    assert sync == SYNC and meta["lgsp.incarnation"] == b"2"
    assert blocks([], SYNC) == b""

"""The Avro schemas under ``schemas/``, loaded and parsed once."""

from __future__ import annotations

import json
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, cast

import fastavro
from fastavro.repository import SchemaRepositoryError
from fastavro.schema import SchemaParseException, load_schema

from hub.errors import SchemaError

__all__ = ["SchemaCatalog", "get_catalog", "schemas_dir"]


def schemas_dir() -> Path:
    """Where the ``.avsc`` files are: packaged with the wheel, or the repository's folder."""
    package = Path(__file__).resolve().parent.parent  # hub/
    packaged = package / "_schemas"
    return packaged if packaged.is_dir() else package.parent / "schemas"


class SchemaCatalog:
    """The hub's own schemas by full name (``vn.lgsp.LandRecord``), self-contained."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @cached_property
    def _documents(self) -> dict[str, dict[str, Any]]:
        documents: dict[str, dict[str, Any]] = {}
        for path in sorted(self.directory.glob("*.avsc")):
            try:
                documents[path.stem] = cast(dict[str, Any], load_schema(str(path), _write_hint=False))
            except (SchemaParseException, SchemaRepositoryError, ValueError, OSError) as exc:
                raise SchemaError(f"{path}: not a valid Avro schema: {exc}") from exc
        if not documents:
            raise SchemaError(f"no .avsc schemas found in {self.directory}")
        return documents

    def names(self) -> list[str]:
        """Full names of every schema in the catalog."""
        return sorted(self._documents)

    def document(self, name: str) -> dict[str, Any]:
        """The schema as a JSON document with every named type inlined."""
        try:
            return self._documents[name]
        except KeyError:
            raise SchemaError(f"no schema named {name!r} in {self.directory}") from None

    def text(self, name: str) -> str:
        """The schema as the JSON text that is registered for it."""
        return json.dumps(self.document(name), ensure_ascii=False, separators=(",", ":"))

    def parsed(self, name: str) -> Any:
        """The schema parsed by fastavro, ready for the reader and writer."""
        return fastavro.parse_schema(self.document(name))


@lru_cache(maxsize=1)
def get_catalog() -> SchemaCatalog:
    """The catalog of the installed schemas, loaded once."""
    return SchemaCatalog(schemas_dir())

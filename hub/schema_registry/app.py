"""The schema registry's HTTP API: the part of Confluent Schema Registry's REST API clients use.

Schema ids are the schema store's global ids, so the ids Confluent serializers write into the
wire format are the ids the hub's own codec resolves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.errors import DatabaseError
from hub.metrics import collected, exposition
from hub.schema_registry.protocol import (
    MEDIA_TYPE,
    SCHEMA_NOT_FOUND,
    SUBJECT_LEVEL_NOT_CONFIGURED,
    SUBJECT_NOT_FOUND,
    SUBJECT_NOT_SOFT_DELETED,
    SUBJECT_SOFT_DELETED,
    VERSION_NOT_FOUND,
    VERSION_NOT_SOFT_DELETED,
    VERSION_SOFT_DELETED,
    ApiError,
    RegistryResponse,
    exception_handlers,
    flag,
    json_body,
    level_from,
    schema_from,
    version_from,
)
from hub.schema_store import RegisteredSchema, SchemaStore

__all__ = ["create_app"]

T = TypeVar("T")


def create_app(store: SchemaStore) -> Starlette:
    """The registry's Starlette application over ``store``."""
    api = _Registry(store)
    subject, version = "/subjects/{subject}", "/subjects/{subject}/versions/{version}"
    schema_id = "/schemas/ids/{schema_id:int}"
    routes = [
        Route("/", api.root),
        Route("/health", api.health),
        Route("/metrics", api.metrics),
        Route("/subjects", api.list_subjects),
        Route(subject, api.lookup, methods=["POST"]),
        Route(subject, api.delete_subject, methods=["DELETE"]),
        Route(subject + "/versions", api.list_versions, methods=["GET"]),
        Route(subject + "/versions", api.register, methods=["POST"]),
        Route(version, api.get_version, methods=["GET"]),
        Route(version, api.delete_version, methods=["DELETE"]),
        Route(version + "/schema", api.get_version_schema),
        Route("/schemas/types", api.schema_types),
        Route(schema_id, api.get_schema),
        Route(schema_id + "/schema", api.get_raw_schema),
        Route(schema_id + "/subjects", api.schema_subjects),
        Route(schema_id + "/versions", api.schema_versions),
        Route("/config", api.get_global_config, methods=["GET"]),
        Route("/config", api.put_global_config, methods=["PUT"]),
        Route("/config", api.delete_global_config, methods=["DELETE"]),
        Route("/config/{subject}", api.get_subject_config, methods=["GET"]),
        Route("/config/{subject}", api.put_subject_config, methods=["PUT"]),
        Route("/config/{subject}", api.delete_subject_config, methods=["DELETE"]),
        Route("/compatibility" + subject + "/versions", api.check, methods=["POST"]),
        Route("/compatibility" + version, api.check, methods=["POST"]),
        Route("/associations/resources/{namespace}/{name}", api.associations),
    ]
    return Starlette(routes=routes, exception_handlers=exception_handlers)


class _Registry:
    """The endpoints. Plain ``def`` ones run in Starlette's thread pool, as the store blocks."""

    def __init__(self, store: SchemaStore) -> None:
        self.store = store
        self.registry = CollectorRegistry()
        collected(self.registry, self._families)

    # Subjects and versions

    def list_subjects(self, request: Request) -> Response:
        prefix = request.query_params.get("subjectPrefix", "")
        if flag(request, "deleted_only"):
            found = sorted(set(self.store.subjects(deleted=True)) - set(self.store.subjects()))
        else:
            found = self.store.subjects(deleted=flag(request, "deleted"))
        return RegistryResponse(_page(request, [s for s in found if s.startswith(prefix)]))

    def list_versions(self, request: Request) -> Response:
        subject = request.path_params["subject"]
        every, live = self.store.versions(subject, deleted=True), self.store.versions(subject)
        if flag(request, "deleted_only"):
            chosen = [v for v in every if v not in live]
        else:
            chosen = every if flag(request, "deleted") else live
        if not every or not (chosen or flag(request, "deleted_only")):
            raise _subject_not_found(subject)
        return RegistryResponse(_page(request, chosen))

    def get_version(self, request: Request) -> Response:
        return RegistryResponse(_described(self._version(request)))

    def get_version_schema(self, request: Request) -> Response:
        return Response(self._version(request).schema_text, media_type=MEDIA_TYPE)

    async def register(self, request: Request) -> Response:
        text = schema_from(await json_body(request))
        registered = await _run(self.store.register, request.path_params["subject"], text)
        return RegistryResponse({"id": registered.schema_id})

    async def lookup(self, request: Request) -> Response:
        subject = request.path_params["subject"]
        text = schema_from(await json_body(request))
        deleted = flag(request, "deleted")
        found = await _run(self.store.lookup, subject, text, deleted=deleted)
        if found is None:
            if not await _run(self.store.versions, subject, deleted=deleted):
                raise _subject_not_found(subject)
            raise ApiError.not_found(SCHEMA_NOT_FOUND, "Schema not found")
        return RegistryResponse(_described(found))

    def delete_subject(self, request: Request) -> Response:
        subject, permanent = request.path_params["subject"], flag(request, "permanent")
        every, live = self.store.versions(subject, deleted=True), self.store.versions(subject)
        if not every:
            raise _subject_not_found(subject)
        if not permanent and not live:
            raise ApiError.not_found(
                SUBJECT_SOFT_DELETED,
                f"Subject '{subject}' was soft deleted. Set permanent=true to delete permanently",
            )
        if permanent and live:
            raise ApiError.not_found(
                SUBJECT_NOT_SOFT_DELETED,
                f"Subject '{subject}' was not deleted first before being permanently deleted",
            )
        return RegistryResponse(self.store.delete_subject(subject, permanent=permanent))

    def delete_version(self, request: Request) -> Response:
        subject, permanent = request.path_params["subject"], flag(request, "permanent")
        asked = version_from(request.path_params["version"])
        every, live = self.store.versions(subject, deleted=True), self.store.versions(subject)
        if not every:
            raise _subject_not_found(subject)
        version = asked if asked is not None else (live or every)[-1]
        if version not in every:
            raise _version_not_found(subject, version)
        which = f"Subject '{subject}' Version {version}"
        if not permanent and version not in live:
            raise ApiError.not_found(
                VERSION_SOFT_DELETED, f"{which} was soft deleted. Set permanent=true to delete permanently"
            )
        if permanent and version in live:
            raise ApiError.not_found(
                VERSION_NOT_SOFT_DELETED, f"{which} was not deleted first before being permanently deleted"
            )
        self.store.delete_version(subject, version, permanent=permanent)
        return RegistryResponse(version)

    def _version(self, request: Request) -> RegisteredSchema:
        subject = request.path_params["subject"]
        return self._existing(subject, version_from(request.path_params["version"]), flag(request, "deleted"))

    def _existing(self, subject: str, version: int | None, deleted: bool = False) -> RegisteredSchema:
        found = self.store.version(subject, version, deleted=deleted)
        if found is None:
            if not self.store.versions(subject, deleted=deleted):  # soft-deleted subjects are not found
                raise _subject_not_found(subject)
            raise _version_not_found(subject, version)
        return found

    # Schemas by id

    def get_schema(self, request: Request) -> Response:
        return RegistryResponse({"schema": self._schema_text(request)})

    def get_raw_schema(self, request: Request) -> Response:
        return Response(self._schema_text(request), media_type=MEDIA_TYPE)

    def schema_subjects(self, request: Request) -> Response:
        subjects = sorted({subject for subject, _ in self._usages(request)})
        return RegistryResponse(_page(request, subjects))

    def schema_versions(self, request: Request) -> Response:
        pairs = [{"subject": subject, "version": version} for subject, version in self._usages(request)]
        return RegistryResponse(_page(request, pairs))

    def schema_types(self, request: Request) -> Response:
        return RegistryResponse(["AVRO"])

    def _schema_text(self, request: Request) -> str:
        schema_id = request.path_params["schema_id"]
        text = self.store.schema_text(schema_id)
        if text is None:
            raise ApiError.not_found(SCHEMA_NOT_FOUND, f"Schema {schema_id} not found")
        return text

    def _usages(self, request: Request) -> list[tuple[str, int]]:
        self._schema_text(request)  # 40403 for an unknown id
        usages = self.store.usages(request.path_params["schema_id"], deleted=flag(request, "deleted"))
        wanted = request.query_params.get("subject")
        return [(subject, version) for subject, version in usages if wanted in (None, subject)]

    # Compatibility levels and checks

    def get_global_config(self, request: Request) -> Response:
        return RegistryResponse({"compatibilityLevel": self.store.compatibility()})

    async def put_global_config(self, request: Request) -> Response:
        level = level_from(await json_body(request))
        return RegistryResponse({"compatibility": await _run(self.store.set_compatibility, level)})

    def delete_global_config(self, request: Request) -> Response:
        old = self.store.delete_compatibility() or self.store.default_compatibility
        return RegistryResponse({"compatibilityLevel": old})

    def get_subject_config(self, request: Request) -> Response:
        subject = request.path_params["subject"]
        level = self.store.subject_compatibility(subject)
        if level is None and flag(request, "defaultToGlobal"):
            level = self.store.compatibility()
        if level is None:
            raise _level_not_configured(subject)
        return RegistryResponse({"compatibilityLevel": level})

    async def put_subject_config(self, request: Request) -> Response:
        level = level_from(await json_body(request))
        level = await _run(self.store.set_compatibility, level, request.path_params["subject"])
        return RegistryResponse({"compatibility": level})

    def delete_subject_config(self, request: Request) -> Response:
        subject = request.path_params["subject"]
        old = self.store.delete_compatibility(subject)
        if old is None:
            raise _level_not_configured(subject)
        return RegistryResponse({"compatibilityLevel": old})

    async def check(self, request: Request) -> Response:
        """Against one version (``/versions/{v}``), or as registering would (``/versions``)."""
        subject = request.path_params["subject"]
        text = schema_from(await json_body(request))
        against: int | None = None
        if "version" in request.path_params:
            version = version_from(request.path_params["version"])
            against = (await _run(self._existing, subject, version)).version
        outcome = await _run(self.store.check, subject, text, against)
        answer: dict[str, Any] = {"is_compatible": outcome.is_compatible}
        if flag(request, "verbose"):
            answer["messages"] = list(outcome.messages)
        return RegistryResponse(answer)

    # The rest

    def root(self, request: Request) -> Response:
        return RegistryResponse({})

    def metrics(self, request: Request) -> Response:
        """``GET /metrics``: Prometheus' text format (subjects held, read at each scrape)."""
        body, content_type = exposition(self.registry)
        return Response(body, media_type=content_type)

    def _families(self) -> Iterator[GaugeMetricFamily]:
        subjects = GaugeMetricFamily("hub_schema_registry_subjects", "Subjects the schema registry holds.")
        try:
            subjects.add_metric([], len(self.store.subjects()))
        except DatabaseError:
            return  # /health says why; no figure is better than a wrong one
        yield subjects

    def health(self, request: Request) -> Response:
        try:
            self.store.ping()
        except DatabaseError as exc:
            return RegistryResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
        return RegistryResponse({"status": "ok"})

    def associations(self, request: Request) -> Response:
        """No subject is associated with a topic: confluent-kafka (since 2.13) asks before it
        falls back to TopicNameStrategy (``<topic>-value``), which is what the hub uses."""
        return RegistryResponse([])


async def _run(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A blocking store call from an ``async`` endpoint, in the thread pool."""
    return await run_in_threadpool(call, *args, **kwargs)


def _described(registered: RegisteredSchema) -> dict[str, Any]:
    return {
        "subject": registered.subject,
        "version": registered.version,
        "id": registered.schema_id,
        "schema": registered.schema_text,
    }


def _subject_not_found(subject: str) -> ApiError:
    return ApiError.not_found(SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")


def _version_not_found(subject: str, version: int | None) -> ApiError:
    return ApiError.not_found(
        VERSION_NOT_FOUND, f"Version {version or 'latest'} not found for subject '{subject}'."
    )


def _level_not_configured(subject: str) -> ApiError:
    return ApiError.not_found(
        SUBJECT_LEVEL_NOT_CONFIGURED,
        f"Subject '{subject}' does not have subject-level compatibility configured",
    )


def _page(request: Request, items: list[Any]) -> list[Any]:
    """Confluent's ``offset`` and ``limit`` (negative: no limit) query parameters."""
    try:
        offset = max(0, int(request.query_params.get("offset", 0)))
        limit = int(request.query_params.get("limit", -1))
    except ValueError:
        raise ApiError(422, 422, "offset and limit must be integers") from None
    return items[offset:] if limit < 0 else items[offset : offset + limit]

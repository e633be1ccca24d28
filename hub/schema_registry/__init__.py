"""A schema registry served by the hub, compatible with Confluent Schema Registry's REST API."""

from hub.schema_registry.app import create_app
from hub.schema_registry.server import SchemaRegistryServer

__all__ = ["SchemaRegistryServer", "create_app"]

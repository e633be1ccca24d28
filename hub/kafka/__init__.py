"""Kafka adapters: the embedded broker, admin, producer and consumer, and the stage loop."""

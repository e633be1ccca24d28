"""The hub's own stream-processing stages, one folder each.

A stage folder holds its pure rules, its batch path where it has one, the thin stage around
them (:class:`hub.kafka.loop.Stage`) and its adapters, and exposes ``build(runtime, metrics)``.
:mod:`hub.service` builds the configured stages from one list.
"""

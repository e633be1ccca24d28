"""Downstream of the hub: forwarding to the national exchange, and auditors' replay."""

"""The hub: a local stand-in for a province's LGSP and its link to the national exchange."""

__version__ = "0.1.0"

"""Benchmarks that print figures (``hub bench``); speed targets are checked here, not in tests."""

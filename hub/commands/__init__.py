"""CLI commands that live in their own modules; ``hub.cli`` registers them."""

"""The ``hub`` command line: :mod:`hub.cli.app` assembles the commands, one module each."""

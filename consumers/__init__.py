"""What delivers outside the hub, on the same stage contract as the hub's own stages.

``forward`` sends reconciled records to the national exchange; ``replay`` prints a topic for
auditors. These import only the hub's foundation; :mod:`hub.service` wires them in.
"""

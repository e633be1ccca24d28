"""Stream processors: each a :class:`~hub.kafka.loop.Stage` around pure functions."""

"""The live operations page: the pipeline, rejections, the exchange and the indicators, from the
hub's own metrics (:mod:`.state`), served with its static assets (:mod:`.server`)."""

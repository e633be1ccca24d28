"""Department side: simulated province data and the publisher agencies use."""

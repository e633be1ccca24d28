"""The mock national exchange (NDXP) the hub starts when ``HUB_EXCHANGE_URL`` is unset."""

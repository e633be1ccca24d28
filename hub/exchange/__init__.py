"""The national exchange (NDXP): a mock server, and the client the forwarder uses."""

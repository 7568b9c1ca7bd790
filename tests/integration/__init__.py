"""Integration tests: real twistd, real Kea, real clients, in network namespaces."""

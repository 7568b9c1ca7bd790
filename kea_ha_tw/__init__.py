"""kea-ha-tw: a DHCPv4 server on Twisted that speaks ISC Kea's HA protocol."""

__version__ = "0.1.0"

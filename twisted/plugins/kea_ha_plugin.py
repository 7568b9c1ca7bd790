"""twistd plugin: C{twistd kea-ha --config FILE} runs the kea-ha-tw server."""

from twisted.application.service import ServiceMaker

keaHA = ServiceMaker(
    "Kea-compatible DHCPv4 HA server",
    "kea_ha_tw.tap",
    "DHCPv4 server with ISC Kea compatible High Availability.",
    "kea-ha",
)

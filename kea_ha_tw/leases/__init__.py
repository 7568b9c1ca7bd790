"""kea_ha_tw.leases package."""

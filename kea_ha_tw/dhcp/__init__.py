"""kea_ha_tw.dhcp package."""

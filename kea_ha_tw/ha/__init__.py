"""kea_ha_tw.ha package."""

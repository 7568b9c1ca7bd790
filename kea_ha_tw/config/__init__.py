"""kea_ha_tw.config package."""

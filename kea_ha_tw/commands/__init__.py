"""kea_ha_tw.commands package."""

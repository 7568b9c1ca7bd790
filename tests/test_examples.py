"""
Every configuration in C{examples/} loads with our loader, and the HA
examples load as every one of their peers (the same file with
C{this-server-name} changed, as their comments and the operator guide say).
Real Kea 2.2 is checked against the same files by
C{tests/integration/test_ha_examples.py}.
"""

from __future__ import annotations

import json
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.config import jsonc
from kea_ha_tw.config.loader import load_config, parse_config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def example_files() -> list[Path]:
    """Every C{examples/*.json}, sorted."""
    return sorted(EXAMPLES.glob("*.json"))


def ha_map(document: dict) -> dict | None:
    """The single HA relationship map of a configuration document, or None."""
    for library in document["Dhcp4"].get("hooks-libraries", []):
        if library["library"].endswith("libdhcp_ha.so"):
            return library["parameters"]["high-availability"][0]
    return None


class ExampleTests(SynchronousTestCase):
    """The examples are valid configurations, for every peer they describe."""

    def test_there_are_examples_for_every_mode(self):
        """demo.json plus one HA example per mode."""
        modes = set()
        for path in example_files():
            config = load_config(str(path))
            if config.ha is not None:
                modes.add(config.ha.mode)
        self.assertIn("demo.json", [p.name for p in example_files()])
        self.assertEqual(modes, {"load-balancing", "hot-standby", "passive-backup"})

    def test_every_file_loads_without_warnings(self):
        """Each file parses (comments allowed) with no trailing-comma warnings and validates."""
        for path in example_files():
            _document, warnings = jsonc.loads(path.read_text(encoding="utf-8"))
            self.assertEqual(list(warnings), [], path.name)
            load_config(str(path))

    def test_every_peer_of_every_ha_example(self):
        """Each HA example is valid as each of its peers, which sees the same peer list."""
        for path in example_files():
            document, _ = jsonc.loads(path.read_text(encoding="utf-8"))
            ha = ha_map(document)
            if ha is None:
                continue
            names = [peer["name"] for peer in ha["peers"]]
            for name in names:
                ha["this-server-name"] = name
                config = parse_config(json.dumps(document), source=path.name)
                self.assertEqual(config.ha.this_server_name, name, path.name)
                self.assertEqual([p.name for p in config.ha.peers], names, path.name)

    def test_subnet_ids_explicit(self):
        """Every subnet of an HA example has an explicit id (lease updates carry it)."""
        for path in example_files():
            document, _ = jsonc.loads(path.read_text(encoding="utf-8"))
            if ha_map(document) is None:
                continue
            for subnet in document["Dhcp4"]["subnet4"]:
                self.assertIn("id", subnet, f"{path.name}: {subnet['subnet']}")

    def test_load_balancing_pools_split_by_ha_class(self):
        """Load-balancing: one pool per active server, guarded by HA_<its name>."""
        for path in example_files():
            config = load_config(str(path))
            if config.ha is None or config.ha.mode != "load-balancing":
                continue
            active = {f"HA_{p.name}" for p in config.ha.peers if p.role in ("primary", "secondary")}
            classes = {pool.client_class for subnet in config.subnets for pool in subnet.pools}
            self.assertEqual(classes, active, path.name)

    def test_passive_backup_is_the_seed_configuration(self):
        """Passive-backup: one primary, two backups, wait-backup-ack true."""
        for path in example_files():
            config = load_config(str(path))
            if config.ha is None or config.ha.mode != "passive-backup":
                continue
            roles = sorted(p.role for p in config.ha.peers)
            self.assertEqual(roles, ["backup", "backup", "primary"], path.name)
            self.assertTrue(config.ha.wait_backup_ack, path.name)

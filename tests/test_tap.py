"""
Tests for L{kea_ha_tw.tap.Options}: C{twistd kea-ha --config FILE [--test]}.

C{--test} mirrors C{kea-dhcp4 -t FILE}: exit status 0 for a valid file, 1
with the reason (and the JSON path) on stderr otherwise. Without C{--test}
a bad file is a L{usage.UsageError} naming the path and the reason, as
twisted.names' tap does for a bad zone file.
"""

from __future__ import annotations

import io
import json
import sys

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.config.model import ServerConfig
from kea_ha_tw.tap import Options
from tests.configs import HA_PATH, SEED_TEXT, ha_map, peers, with_ha


class OptionsTests(SynchronousTestCase):
    """Options loads and validates the configuration file."""

    def setUp(self):
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.patch(sys, "stdout", self.stdout)
        self.patch(sys, "stderr", self.stderr)

    def write(self, content: str) -> str:
        """A temporary configuration file holding C{content}."""
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(content)
        return path

    def bad_file(self) -> str:
        """A file whose HA peer URL names a host instead of an address."""
        d4 = with_ha([ha_map(peers=peers((1, {"url": "http://localhost:8001/"})))])
        return self.write(json.dumps({"Dhcp4": d4}))

    def test_valid_loads(self):
        """A valid file is loaded into server_config."""
        options = Options()
        options.parseOptions(["--config", self.write(SEED_TEXT)])
        self.assertIsInstance(options.server_config, ServerConfig)
        self.assertEqual(options.server_config.ha.mode, "passive-backup")

    def test_ha_listener_fd(self):
        """--ha-listener-fd (the HA listener process) is an integer, absent by default."""
        options = Options()
        options.parseOptions(["--config", self.write(SEED_TEXT)])
        self.assertIsNone(options["ha-listener-fd"])
        options = Options()
        options.parseOptions(["--config", self.write(SEED_TEXT), "--ha-listener-fd", "3"])
        self.assertEqual(options["ha-listener-fd"], 3)

    def test_ha_listener_fd_without_ha(self):
        """
        makeService with --ha-listener-fd on a configuration without HA stops
        with the file, the key path and the reason, not a traceback.
        """
        from kea_ha_tw.tap import makeService

        path = self.write(json.dumps({"Dhcp4": {"subnet4": []}}))
        options = Options()
        options.parseOptions(["--config", path, "--ha-listener-fd", "3"])
        e = self.assertRaises(SystemExit, makeService, options)
        self.assertEqual(str(e), f"{path}: Dhcp4.hooks-libraries: the HA listener process "
                                 "needs a high-availability configuration")

    def test_test_valid_exits_0(self):
        """--test on a valid file exits 0 and says so."""
        path = self.write(SEED_TEXT)
        e = self.assertRaises(SystemExit, Options().parseOptions, ["--config", path, "--test"])
        self.assertEqual(e.code, 0)
        self.assertIn("configuration OK", self.stdout.getvalue())

    def test_test_invalid_exits_1(self):
        """--test on an invalid file exits 1 with the JSON path and reason on stderr."""
        e = self.assertRaises(
            SystemExit, Options().parseOptions, ["--config", self.bad_file(), "-t"]
        )
        self.assertEqual(e.code, 1)
        err = self.stderr.getvalue()
        self.assertIn(HA_PATH + ".peers[1].url", err)
        self.assertIn("Failed to convert string to address 'localhost'", err)

    def test_test_syntax_error_exits_1(self):
        """--test on a file with a syntax error exits 1 with the position."""
        path = self.write('{"Dhcp4": {\n "valid-lifetime": }}')
        e = self.assertRaises(SystemExit, Options().parseOptions, ["-c", path, "--test"])
        self.assertEqual(e.code, 1)
        self.assertIn(path + ":2.", self.stderr.getvalue())

    def test_invalid_usage_error(self):
        """Without --test an invalid file raises UsageError naming the path and the reason."""
        path = self.bad_file()
        e = self.assertRaises(usage.UsageError, Options().parseOptions, ["--config", path])
        self.assertIn(path, str(e))
        self.assertIn(HA_PATH + ".peers[1].url", str(e))
        self.assertIn("Failed to convert string to address 'localhost'", str(e))

    def test_dhcp4_rule_usage_error(self):
        """A Dhcp4 rule violation is reported the same way."""
        path = self.write(
            json.dumps(
                {
                    "Dhcp4": {
                        "subnet4": [
                            {"subnet": "192.0.2.0/24", "pools": [{"pool": "10.0.0.1-10.0.0.9"}]}
                        ]
                    }
                }
            )
        )
        e = self.assertRaises(usage.UsageError, Options().parseOptions, ["--config", path])
        self.assertIn("Dhcp4.subnet4[0].pools[0].pool: a pool of type V4", str(e))

    def test_missing_file(self):
        """An unreadable file is a UsageError (or exit 1 with --test)."""
        path = self.mktemp()
        self.assertRaises(usage.UsageError, Options().parseOptions, ["--config", path])
        e = self.assertRaises(SystemExit, Options().parseOptions, ["--config", path, "--test"])
        self.assertEqual(e.code, 1)
        self.assertIn("cannot read", self.stderr.getvalue())

    def test_config_required(self):
        """--config is required."""
        self.assertRaises(usage.UsageError, Options().parseOptions, [])

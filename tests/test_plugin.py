"""
Tests for the twistd plugin C{twisted/plugins/kea_ha_plugin.py}: C{twistd}
finds exactly one C{kea-ha} service maker, it provides C{IServiceMaker}
and C{IPlugin}, and the dropin directory is packaged the way Twisted's
plugin how-to requires (style guide 3.16).

Run from the repository root (C{python -m twisted.trial tests}) or with
the repository on C{sys.path}; a lenient editable install hides the
dropin, and these tests then fail loudly.
"""

from __future__ import annotations

import os

from twisted.application.service import IServiceMaker
from twisted.plugin import IPlugin, getPlugins
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

import kea_ha_tw
import kea_ha_tw.tap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(kea_ha_tw.__file__)))
PLUGIN_FILE = os.path.join(REPO, "twisted", "plugins", "kea_ha_plugin.py")


def kea_ha_makers() -> list:
    """Every IServiceMaker plugin whose tapname is C{kea-ha}."""
    return [m for m in getPlugins(IServiceMaker) if m.tapname == "kea-ha"]


class DiscoveryTests(SynchronousTestCase):
    """twistd's plugin scan finds our service maker."""

    def test_exactly_one_maker(self):
        """getPlugins(IServiceMaker) yields exactly one maker named kea-ha."""
        makers = kea_ha_makers()
        self.assertEqual(len(makers), 1, makers)

    def test_maker_provides_interfaces(self):
        """The maker provides IServiceMaker and IPlugin (attributes included)."""
        (maker,) = kea_ha_makers()
        self.assertTrue(verifyObject(IServiceMaker, maker))
        self.assertTrue(verifyObject(IPlugin, maker))

    def test_maker_points_at_tap(self):
        """The maker's options and makeService are those of kea_ha_tw.tap."""
        (maker,) = kea_ha_makers()
        self.assertEqual(maker.module, "kea_ha_tw.tap")
        self.assertIs(maker.options, kea_ha_tw.tap.Options)
        self.assertEqual(maker.makeService, kea_ha_tw.tap.makeService)
        self.assertTrue(maker.description)
        self.assertTrue(maker.name)

    def test_maker_is_the_dropin_object(self):
        """The kea-ha maker found is the C{keaHA} object of the kea_ha_plugin dropin."""
        import twisted.plugins.kea_ha_plugin as dropin

        (maker,) = kea_ha_makers()
        self.assertIs(maker, dropin.keaHA)


class DropinLayoutTests(SynchronousTestCase):
    """The dropin directory has no package markers and a one-line plugin."""

    def test_no_init_files(self):
        """Neither twisted/ nor twisted/plugins/ has an __init__.py."""
        for directory in ("twisted", os.path.join("twisted", "plugins")):
            path = os.path.join(REPO, directory)
            self.assertTrue(os.path.isdir(path), path)
            self.assertFalse(os.path.exists(os.path.join(path, "__init__.py")), path)

    def test_plugin_file_is_small(self):
        """The plugin file is a single ServiceMaker of at most ten lines."""
        with open(PLUGIN_FILE, encoding="utf-8") as f:
            text = f.read()
        self.assertLessEqual(len(text.splitlines()), 10)
        self.assertEqual(text.count("ServiceMaker("), 1)
        self.assertNotIn("import kea_ha_tw", text)


class OptionsTests(SynchronousTestCase):
    """The maker's Options insist on a configuration file."""

    def test_config_required(self):
        """Parsing no arguments raises UsageError saying --config is required."""
        (maker,) = kea_ha_makers()
        options = maker.options()
        with self.assertRaises(usage.UsageError) as raised:
            options.parseOptions([])
        self.assertIn("--config", str(raised.exception))

    def test_config_option_declared(self):
        """--config (short -c) is a parameter with no default."""
        declared = {p[0]: p for p in kea_ha_tw.tap.Options.optParameters}
        self.assertIn("config", declared)
        self.assertEqual(declared["config"][1], "c")
        self.assertIsNone(declared["config"][2])

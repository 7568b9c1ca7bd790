"""The documents in docs/ stay true to the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.commands.ha import HA_COMMANDS
from kea_ha_tw.commands.registry import build_default_registry

ROOT = Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location("gen_compat_doc",
                                                  ROOT / "scripts" / "gen_compat_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CompatibilityDocTests(SynchronousTestCase):
    """docs/kea-compatibility.md matches the key tables and commands in the code."""

    def test_generated_blocks_are_fresh(self):
        """Regenerating the tables changes nothing (run scripts/gen_compat_doc.py if this fails)."""
        gen = _generator()
        current = gen.DOC.read_text(encoding="utf-8")
        self.assertEqual(gen.render(current), current)


class CommandsDocTests(SynchronousTestCase):
    """docs/commands.md documents every command the server registers."""

    def test_every_command_has_an_entry(self):
        """Each registered command name appears as a heading in docs/commands.md."""
        text = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
        headed = set()
        for line in text.splitlines():
            if line.startswith("#"):
                headed.update(w.strip("`") for w in line.replace("/", " ").split())
        names = set(build_default_registry().names()) | set(HA_COMMANDS)
        missing = sorted(names - headed)
        self.assertEqual(missing, [])


class ArchitectureDocTests(SynchronousTestCase):
    """docs/architecture.md names every subpackage and every interface."""

    def test_interfaces_listed(self):
        """Every interface in kea_ha_tw/interfaces.py is in the seams table."""
        from zope.interface.interface import InterfaceClass

        import kea_ha_tw.interfaces as interfaces

        text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
        names = [n for n, v in vars(interfaces).items()
                 if isinstance(v, InterfaceClass) and v.__module__ == interfaces.__name__]
        self.assertEqual([n for n in names if f"`{n}`" not in text], [])

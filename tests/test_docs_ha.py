"""
The HA documents stay true: every test that docs/ha-runbooks.md and the
"High Availability" part of docs/operator-guide.md name as proof exists,
every file they point to exists, and every command body in their curl
lines is JSON naming a command the server registers.
"""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.commands.ha import HA_COMMANDS
from kea_ha_tw.commands.registry import build_default_registry

ROOT = Path(__file__).resolve().parent.parent

# `tests/x.py`, `tests/x.py::Class`, `tests/x.py::Class::test`, and the
# shorthand `::Class`/`::test` (same module as the reference before it).
_REFERENCE = re.compile(r"`((?:tests|examples|docs|kea_ha_tw)/[\w/.-]+|)((?:::\w+)*)`")
_CURL_BODY = re.compile(r"-d '(\{.*?\})'")


def ha_texts() -> dict[str, str]:
    """The HA documents: the runbooks, and the operator guide from its HA heading on."""
    guide = (ROOT / "docs" / "operator-guide.md").read_text(encoding="utf-8")
    start = guide.index("\n## High Availability")
    return {
        "docs/ha-runbooks.md": (ROOT / "docs" / "ha-runbooks.md").read_text(encoding="utf-8"),
        "docs/operator-guide.md (HA)": guide[start:],
    }


@cache
def defined_names(path: str) -> dict[str, set[str]]:
    """Class name -> method names defined in the Python file at C{path}."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return {node.name: {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            for node in tree.body if isinstance(node, ast.ClassDef)}


def missing_references(text: str) -> list[str]:
    """References in C{text} that name no existing file, class or method."""
    missing = []
    module = cls = None
    for match in _REFERENCE.finditer(text):
        path, parts = match.group(1), [p for p in match.group(2).split("::") if p]
        if path:
            module, cls = path, None
            if not (ROOT / path.split("::")[0]).exists():
                missing.append(match.group(0))
                continue
        elif not parts or module is None:
            continue
        if not module.endswith(".py"):
            continue
        classes = defined_names(module)
        names = list(parts)
        if names and names[0] in classes:
            cls = names.pop(0)
        elif not path and names and cls is None:
            missing.append(match.group(0))
            continue
        for name in names:
            if cls is None or name not in classes.get(cls, set()):
                missing.append(f"{match.group(0)} (in {module})")
    return missing


class HADocsTests(SynchronousTestCase):
    """docs/ha-runbooks.md and the HA part of docs/operator-guide.md."""

    def test_named_tests_exist(self):
        """Every tests/...::Class::method named as proof exists."""
        for name, text in ha_texts().items():
            self.assertEqual(missing_references(text), [], name)

    def test_the_checker_catches_a_wrong_name(self):
        """A reference to a method that does not exist is reported."""
        wrong = "`tests/test_ha_runbooks.py::SplitBrainTests::test_no_such_thing`"
        self.assertEqual(len(missing_references(wrong)), 1)
        right = ("`tests/test_ha_runbooks.py::SplitBrainTests::test_hot_standby_link_loss`"
                 " and `::test_split_brain_with_zero_unacked_clients`")
        self.assertEqual(missing_references(right), [])

    def test_curl_bodies_are_registered_commands(self):
        """Each curl body is JSON whose command the server registers."""
        known = set(build_default_registry().names()) | set(HA_COMMANDS)
        for name, text in ha_texts().items():
            bodies = _CURL_BODY.findall(text.replace("'$from'", "start"))
            self.assertTrue(bodies, name)
            for body in bodies:
                command = json.loads(body)
                self.assertIn(command["command"], known, body)
                self.assertEqual(command.get("service"), ["dhcp4"], body)

    def test_examples_named_exist(self):
        """The example files the guide points to exist."""
        text = ha_texts()["docs/operator-guide.md (HA)"]
        named = set(re.findall(r"examples/[\w.-]+\.json", text))
        self.assertTrue(named)
        self.assertEqual([n for n in sorted(named) if not (ROOT / n).exists()], [])

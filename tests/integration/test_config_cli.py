"""
Issue 2: configuration checking from the command line.

C{twistd kea-ha --config FILE --test} must behave like C{kea-dhcp4 -t
FILE}: exit 0 for a good file, 1 for a bad one; and starting the server
with a bad file must fail fast.  Where Kea names the offending value and
the file position, ours must name the JSON path (e.g.
C{Dhcp4.subnet4[0].pools[0]}).  Each bad file is first shown to be bad
by real kea-dhcp4 (the Kea variant of every test).
"""

from __future__ import annotations

import json

from twisted.trial.unittest import TestCase

from tests.configs import SEED_TEXT
from tests.integration.base import SKIP, IntegrationMixin
from tests.integration.configs import derive, direct_config
from tests.integration.procs import KeaServer, TwistdServer

# The passive-backup example of the seed, exactly as printed there
# (with its extraneous comma), wrapped in { } as a file.
SEED_EXAMPLE = SEED_TEXT


def _kea_hooks_dir() -> str:
    import glob

    found = glob.glob("/usr/lib/*/kea/hooks/libdhcp_ha.so") + glob.glob(
        "/usr/lib/kea/hooks/libdhcp_ha.so"
    )
    return found[0].rsplit("/", 1)[0] + "/" if found else "/usr/lib/kea/hooks/"


def _set(path, value):
    """A mutation of the Dhcp4 map: set the item at C{path} (keys/indexes)."""

    def mutate(d):
        for key in path[:-1]:
            d = d[key]
        d[path[-1]] = value

    return mutate


def _dup_subnet(d):
    d["subnet4"].append(json.loads(json.dumps(d["subnet4"][0])))


# name: (mutation, what kea-dhcp4 says, the JSON path ours must name)
BAD = {
    "pool_outside_subnet": (
        _set(["subnet4", 0, "pools", 0, "pool"], "10.77.9.1 - 10.77.9.10"),
        r"10\.77\.9\.1-10\.77\.9\.10 does not match the prefix",
        "Dhcp4.subnet4[0].pools[0]",
    ),
    "bad_prefix_length": (
        _set(["subnet4", 0, "subnet"], "10.77.1.0/33"),
        r"Invalid prefix length",
        "Dhcp4.subnet4[0].subnet",
    ),
    "bad_router_option": (
        _set(["subnet4", 0, "option-data", 0, "data"], "not-an-ip"),
        r"not-an-ip",
        "Dhcp4.subnet4[0].option-data[0]",
    ),
    "duplicate_subnet_id": (_dup_subnet, r"'1' is already in use", "Dhcp4.subnet4[1]"),
    "negative_renew_timer": (
        _set(["renew-timer"], -5),
        r"renew-timer \(-5\) must be a positive",
        "Dhcp4.renew-timer",
    ),
    "string_lifetime": (
        _set(["valid-lifetime"], "abc"),
        r"expecting integer",
        "Dhcp4.valid-lifetime",
    ),
    "unknown_lease_backend": (
        _set(["lease-database", "type"], "cassandra"),
        r"expecting memfile",
        "Dhcp4.lease-database.type",
    ),
    "unknown_hook_library": (
        _set(["hooks-libraries"], [{"library": "/usr/lib/nope/libdhcp_nope.so"}]),
        r"/usr/lib/nope/libdhcp_nope\.so",
        "Dhcp4.hooks-libraries[0]",
    ),
}


class _ConfigCliTests(IntegrationMixin):
    """Config validation from the command line, for any C{server_class}."""

    skip = SKIP

    def setUp(self):
        """A namespace to run in (C{lo} only) and a good base config."""
        super().setUp()
        self.ns = self.lab.namespace("t")
        self.good = derive(
            direct_config(self.lease_file_path()),
            _set(["interfaces-config", "interfaces"], ["lo"]),
        )

    def _write(self, name: str, conf) -> str:
        path = self.workdir / f"{name}.json"
        path.write_text(conf if isinstance(conf, str) else json.dumps(conf, indent=2))
        return path

    def _check(self, name: str, conf):
        done = self.server_class.check_config(self.ns, self._write(name, conf), self.workdir)
        out = done.stdout + done.stderr
        self.assertNotIn("Traceback", out, "an operator gets a message, not a traceback")
        return done.returncode, out

    def _names_location(self, output: str, kea_pattern: str, path: str) -> None:
        if self.server_class is KeaServer:
            self.assertRegex(output, kea_pattern)
        else:
            self.assertIn(path, output)

    def test_good_config_exits_0(self):
        """A good configuration validates: exit status 0."""
        rc, out = self._check("good", self.good)
        self.assertEqual(rc, 0, out)

    def test_seed_example_exits_0(self):
        """The issue's seed example (trailing comma and all) validates: exit 0."""
        text = SEED_EXAMPLE
        if self.server_class is KeaServer:  # Kea loads the libraries: use the real path
            text = text.replace("/usr/lib/kea/hooks/", _kea_hooks_dir())
        rc, out = self._check("seed", text)
        self.assertEqual(rc, 0, out)

    def test_comments_exit_0(self):
        """Kea's comment styles (#, //, /* */) are accepted: exit 0."""
        text = json.dumps(self.good, indent=2)
        text = "# hash comment\n// slash comment\n/* block\n comment */\n" + text.replace(
            '"valid-lifetime"', '/* inline */ "valid-lifetime"'
        )
        rc, out = self._check("comments", text)
        self.assertEqual(rc, 0, out)

    def test_syntax_error_exits_1(self):
        """Broken JSON fails validation with exit 1 and says where (line)."""
        text = json.dumps(self.good, indent=2).replace(
            '"renew-timer": 1000', '"renew-timer": 1000 1000'
        )
        rc, out = self._check("syntax", text)
        self.assertEqual(rc, 1, out)
        # Kea's "FILE:LINE.COLUMN" (or "line N" after the file name).
        self.assertRegex(out, r"syntax\.json:(\d+\.\d+|.*\bline \d+)")

    def test_bad_config_fails_start_fast(self):
        """
        Starting the server (not just checking) with a bad file exits
        non-zero within 15 s and names the problem.
        """
        mutate, kea_pattern, path = BAD["pool_outside_subnet"]
        server = self.server_class(self, self.ns, self.workdir, derive(self.good, mutate))
        out = server.refused_start("bad-start")
        self._names_location(out, kea_pattern, path)


def _bad_case(name: str):
    mutate, kea_pattern, path = BAD[name]

    def test(self):
        rc, out = self._check(name, derive(self.good, mutate))
        self.assertEqual(rc, 1, out)
        self._names_location(out, kea_pattern, path)

    test.__name__ = f"test_{name}_exits_1"
    test.__doc__ = f"A config with a {name.replace('_', ' ')} exits 1 naming {path}."
    return test


for _name in BAD:
    setattr(_ConfigCliTests, f"test_{_name}_exits_1", _bad_case(_name))


class KeaConfigCliTests(_ConfigCliTests, TestCase):
    """C{kea-dhcp4 -t} (the oracle)."""

    server_class = KeaServer


class TwistdConfigCliTests(_ConfigCliTests, TestCase):
    """C{twistd kea-ha --config FILE --test}."""

    server_class = TwistdServer

"""
The worked HA examples (C{examples/ha-*.json}, one per mode) are real Kea
2.2 configurations and ours accepts them, for every peer of each example
(the same file with C{this-server-name} changed).

Ours: C{twistd kea-ha --config FILE --test}.  Kea: C{kea-dhcp4 -t} does not
check the HA hook's parameters (reference section 1.6), so Kea is really
started, in a namespace of the test's own, with only what cannot work there
changed (no interfaces, a temporary lease file, peer urls moved to
127.0.0.N inside the namespace), until it logs C{HA_SERVICE_STARTED}.
"""

from __future__ import annotations

import json
import subprocess

from twisted.trial.unittest import TestCase

from kea_ha_tw.config import jsonc
from tests.integration.base import SKIP, IntegrationMixin
from tests.integration.ha_lab import HALab
from tests.integration.procs import REPO_ROOT, KeaServer, TwistdServer, spawn

EXAMPLES = {
    "hot-standby": ("ha-hot-standby.json", ("server1", "server2")),
    "load-balancing": ("ha-load-balancing.json", ("server1", "server2")),
    "passive-backup": ("ha-passive-backup.json", ("server1", "server2", "server3")),
}


def load_example(filename: str) -> dict:
    """An example file, comments stripped."""
    value, _warnings = jsonc.loads((REPO_ROOT / "examples" / filename).read_text())
    return value


def ha_of(conf: dict) -> dict:
    """The example's single HA relationship map."""
    for lib in conf["Dhcp4"]["hooks-libraries"]:
        if lib["library"].endswith("libdhcp_ha.so"):
            return lib["parameters"]["high-availability"][0]
    raise AssertionError("no libdhcp_ha.so in the example")


class HAExamplesTests(IntegrationMixin, TestCase):
    """Every example, as every one of its peers, for ours and for real Kea."""

    skip = SKIP
    timeout = 120

    def as_peer(self, mode: str, name: str) -> dict:
        """The example of C{mode} with C{this-server-name} = C{name}."""
        conf = load_example(EXAMPLES[mode][0])
        self.assertEqual(ha_of(conf)["mode"], mode)
        ha_of(conf)["this-server-name"] = name
        return conf

    def test_examples_exist_per_mode(self):
        """One example per mode; passive-backup has two backups with wait-backup-ack."""
        for mode, (filename, names) in EXAMPLES.items():
            ha = ha_of(load_example(filename))
            self.assertEqual(ha["mode"], mode)
            self.assertEqual([p["name"] for p in ha["peers"]], list(names))
        pb = ha_of(load_example(EXAMPLES["passive-backup"][0]))
        self.assertEqual([p["role"] for p in pb["peers"]], ["primary", "backup", "backup"])
        self.assertIs(pb["wait-backup-ack"], True)

    def test_ours_accepts_every_peer(self):
        """C{twistd kea-ha --test} accepts each example as each of its peers."""
        for mode, (_filename, names) in EXAMPLES.items():
            for name in names:
                path = self.workdir / f"{mode}-{name}.json"
                path.write_text(json.dumps(self.as_peer(mode, name)))
                done = subprocess.run(
                    TwistdServer.check_argv(path),
                    capture_output=True,
                    text=True,
                    timeout=60,
                    env=TwistdServer.check_env(self.workdir),
                )
                self.assertEqual(
                    done.returncode, 0, f"{mode} as {name}: {done.stdout}{done.stderr}"
                )

    def test_kea_starts_every_peer(self):
        """Real kea-dhcp4 2.2 starts its HA service from each example as each peer."""
        lab = HALab(self)
        for mode, (_filename, names) in EXAMPLES.items():
            for i, name in enumerate(names):
                conf = self.as_peer(mode, name)
                d4 = conf["Dhcp4"]
                d4["interfaces-config"]["interfaces"] = []
                d4["lease-database"]["name"] = str(self.workdir / f"{mode}-{name}.csv")
                for n, peer in enumerate(ha_of(conf)["peers"], start=1):
                    # Loopback of the test's namespace only.
                    port = peer["url"].rsplit(":", 1)[1]
                    peer["url"] = f"http://127.0.0.{n + 10}:{port}"
                ns = lab.namespace(f"x{mode[:4]}{i}")
                kea = KeaServer(self, ns, self.workdir, conf, name=f"{mode}-{name}")
                kea.write_config()
                proc = spawn(
                    self,
                    kea.name,
                    ns.exec_argv(kea.argv()),
                    self.workdir,
                    env=kea.env(),
                    cwd=self.workdir,
                )
                proc.wait_for_output(
                    r"HA_SERVICE_STARTED|HA_CONFIGURATION_FAILED|DHCP4_INIT_FAIL", 20
                )
                out = proc.output()
                self.assertIn("HA_SERVICE_STARTED", out, f"{mode} as {name}:\n{out[-3000:]}")
                proc.stop(10)

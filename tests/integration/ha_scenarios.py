"""
The HA integration scenarios (issue 4, "Integration"), written once and
run for every pairing of real Kea 2.2 and ours: Kea with Kea first (it
proves the scenario), then ours with Kea in each role, then ours with ours.

L{ActivePairScenario} (hot-standby, load-balancing): both peers reach the
normal state; every client is answered by exactly the server the mode
names (the primary in hot-standby, the hash owner in load-balancing);
every ACKed lease reaches the other peer within 2 s; then for each peer in
turn: stop it, the survivor goes to partner-down and answers everyone,
restart the stopped one with an empty lease file, it resyncs, both return
to the normal state with identical lease sets, and service is normal again.

L{PassiveBackupScenario}: the primary serves everything, the backups never
answer and hold every lease within 2 s; with one backup stopped the
primary ACKs (C{wait-backup-ack} false) or drops every ACK (true).
"""

from __future__ import annotations

import calendar
import json
import os
import time

from tests.integration.base import SKIP, IntegrationMixin
from tests.integration.ha_configs import FAST_TIMERS, agent_config, ha_config, peers_for
from tests.integration.ha_dhcp import (
    Exchange,
    RelayClient,
    balanced_clients,
    decline,
    describe,
    make_clients,
    release,
)
from tests.integration.ha_lab import (
    HA_PORT,
    HALab,
    HAPeer,
    build_bridge,
    server_addr,
    wait_for,
)

NORMAL = {"hot-standby": "hot-standby", "load-balancing": "load-balancing"}
REPLICATION_S = 2.0
# The keys of status-get's "remote" part and of ha-heartbeat's arguments in
# Kea 2.2 (reference sections 3.13 and 3.1).
REMOTE_KEYS = {
    "age",
    "analyzed-packets",
    "communication-interrupted",
    "connecting-clients",
    "in-touch",
    "last-scopes",
    "last-state",
    "role",
    "unacked-clients",
    "unacked-clients-left",
}
HEARTBEAT_KEYS = {"date-time", "scopes", "state", "unsent-update-count"}


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def lease_view(lease: dict) -> str:
    """One lease as lease4-get-all lists it, every field (two peers' copies must be equal)."""
    return json.dumps(lease, sort_keys=True)


class HAScenarioMixin(IntegrationMixin):
    """
    Lab, peers and checks shared by the scenarios.

    @cvar mode: the HA mode.
    @cvar kinds: C{"kea"}/C{"ours"} for server1, server2, ... in order.
    @cvar via_agent: names of the Kea peers reached through
        C{kea-ctrl-agent} (single-threaded Kea, unix control socket)
        instead of their HA dedicated listener.
    """

    skip = SKIP
    timeout = 120
    mode = ""
    kinds: tuple[str, ...] = ()
    backups = 0
    wait_backup_ack: bool | None = None
    via_agent: frozenset[str] = frozenset()
    timers: dict | None = None
    #: HA keys added to the configuration of our peers only (extensions).
    ours_ha_extra: dict | None = None

    def setUp(self):
        """Bridge, one namespace per peer, the peers started together."""
        super().setUp()
        self.lab = HALab(self)
        specs = peers_for(self.mode, self.backups)
        self.cli, server_ns = build_bridge(self.lab, len(specs))
        self.peers: list[HAPeer] = []
        for spec, ns, kind in zip(specs, server_ns, self.kinds, strict=True):
            lease_file = str(self.workdir / spec.name / "leases4.csv")
            socket_path = agent = None
            if spec.name in self.via_agent:
                # Short: unix socket paths are limited to 107 bytes.
                socket_path = f"/tmp/{self.lab.namespace_prefix}{spec.name}.sock"
                self.addCleanup(_unlink, socket_path)
                agent = agent_config(server_addr(spec.index), HA_PORT, socket_path)
            conf = ha_config(
                spec.name,
                self.mode,
                specs,
                lease_file,
                wait_backup_ack=self.wait_backup_ack,
                timers=self.timers,
                control_socket=socket_path,
                extra=self.ours_ha_extra if kind == "ours" else None,
            )
            self.peers.append(
                HAPeer(
                    self,
                    kind,
                    spec.name,
                    spec.role,
                    spec.index,
                    ns,
                    self.cli,
                    self.workdir,
                    conf,
                    agent_config=agent,
                )
            )
        self.client = RelayClient(self.cli.name)
        self.addCleanup(self.client.close)
        self.seed = 0
        self._t0 = time.monotonic()
        self._steps: list[str] = []
        self.addCleanup(self._write_steps)
        for peer in self.peers:
            peer.launch()
        for peer in self.peers:
            peer.wait_ready()
        self.step("peers ready")

    def step(self, what: str) -> None:
        """Record that C{what} happened now (written to steps.log; shown on failure)."""
        self._steps.append(f"{time.monotonic() - self._t0:7.2f} s  {what}")

    def _write_steps(self) -> None:
        (self.workdir / "steps.log").write_text("\n".join(self._steps) + "\n")

    # -- context ------------------------------------------------------------

    def logs(self) -> str:
        """Every peer's log tail, for failure messages."""
        return "\n".join(p.log_tail(60) for p in self.peers)

    def states(self) -> str:
        """Every peer's current state."""
        return ", ".join(f"{p.label}={p.state()}" for p in self.peers)

    def context(self, exchanges: list[Exchange] | None = None) -> str:
        """States, exchanges and logs."""
        parts = ["steps:\n" + "\n".join(self._steps), "states: " + self.states()]
        if exchanges is not None:
            parts.append("exchanges:\n" + describe(exchanges))
        parts.append(self.logs())
        return "\n".join(parts)

    # -- steps ----------------------------------------------------------------

    def wait_states(self, wanted: dict[HAPeer, str], timeout: float) -> None:
        """Wait (bounded) until each peer reports its wanted state."""
        what = "states " + ", ".join(f"{p.label}={s}" for p, s in wanted.items())
        wait_for(
            lambda: all(p.state() == s for p, s in wanted.items()), timeout, what, self.context
        )
        self.step(what)

    def new_clients(self, count: int) -> list:
        """Fresh clients (never seen before in this test)."""
        self.seed += 1
        if self.mode == "load-balancing":
            return balanced_clients(count // 2, self.seed)
        return make_clients(count, self.seed)

    def serve(self, expected, count: int = 6) -> list[Exchange]:
        """
        DORA for C{count} new clients; each must get exactly one OFFER and
        one ACK, both from C{expected(client)} (a peer).
        """
        exchanges = self.client.dora(self.new_clients(count))
        self.step(f"{count} clients served")
        ctx = self.context(exchanges)
        for ex in exchanges:
            want = server_addr(expected(ex.client).index)
            self.assertEqual(
                [r.server_id for r in ex.offers],
                [want],
                f"OFFERs for {ex.client.mac}, expected one from {want}\n{ctx}",
            )
            self.assertEqual(
                [r.server_id for r in ex.acks],
                [want],
                f"ACKs for {ex.client.mac}, expected one from {want}\n{ctx}",
            )
            self.assertEqual(ex.naks, [], ctx)
        return exchanges

    def assert_replicated(
        self, exchanges: list[Exchange], holders: list[HAPeer], within: float = REPLICATION_S
    ) -> None:
        """Every ACKed lease is in each holder's lease4-get-all within C{within} s of its ACK."""
        acked = {ex.acks[0].yiaddr: ex for ex in exchanges if ex.acks}
        last_ack = max((ex.acks[0].at for ex in exchanges if ex.acks), default=time.monotonic())
        deadline = last_ack + within
        for peer in holders:
            while True:
                leases = peer.leases()
                missing = [a for a in acked if a not in leases]
                wrong = [
                    a
                    for a in acked
                    if a in leases and leases[a]["hw-address"] != acked[a].client.mac
                ]
                if not missing and not wrong:
                    break
                if time.monotonic() > deadline:
                    self.fail(
                        f"{peer.label} lacks {missing}, wrong client for {wrong}, "
                        f"{within} s after the ACKs\n{self.context(exchanges)}"
                    )
                time.sleep(0.05)
            for addr, ex in acked.items():
                if ex.client.client_id:
                    self.assertEqual(
                        leases[addr].get("client-id"),
                        ex.client.client_id.hex(":"),
                        f"client-id of {addr} on {peer.label}",
                    )

    def release_and_decline(
        self, exchanges: list[Exchange], holders: list[HAPeer], within: float = REPLICATION_S
    ) -> None:
        """
        The first two clients release their lease, the third declines it:
        within C{within} s every holder has dropped the released addresses
        and holds the declined one in state 1 (declined).
        """
        released = [ex.acks[0].yiaddr for ex in exchanges[:2]]
        declined = exchanges[2].acks[0].yiaddr
        for ex in exchanges[:2]:
            release(self.client, ex)
        decline(self.client, exchanges[2])
        deadline = time.monotonic() + within
        for peer in holders:
            while True:
                leases = peer.leases()
                still = [a for a in released if a in leases]
                d = leases.get(declined)
                if not still and d is not None and d["state"] == 1:
                    break
                if time.monotonic() > deadline:
                    self.fail(
                        f"{peer.label}: released {released} still there: {still}; "
                        f"declined {declined}: {d}\n{self.context(exchanges)}"
                    )
                time.sleep(0.05)

    def assert_identical_leases(self, a: HAPeer, b: HAPeer, timeout: float = 2.0) -> dict:
        """Both peers list the same leases (same fields); the lease map."""
        last = {}

        def same():
            la, lb = a.leases(), b.leases()
            last["a"], last["b"] = la, lb
            return {k: lease_view(v) for k, v in la.items()} == {
                k: lease_view(v) for k, v in lb.items()
            }

        try:
            wait_for(same, timeout, "identical lease sets", lambda: "", interval=0.2)
        except AssertionError:
            la, lb = last["a"], last["b"]
            only_a = sorted(set(la) - set(lb))
            only_b = sorted(set(lb) - set(la))
            diff = [
                (k, lease_view(la[k]), lease_view(lb[k]))
                for k in set(la) & set(lb)
                if lease_view(la[k]) != lease_view(lb[k])
            ]
            self.fail(
                f"lease sets differ: only on {a.label}: {only_a}; only on {b.label}: "
                f"{only_b}; different: {diff[:5]}\n{self.context()}"
            )
        return last["a"]


class ActivePairScenario(HAScenarioMixin):
    """
    Hot-standby and load-balancing: server1 primary, server2
    secondary/standby.

    @cvar victims: the peers (by name) stopped and restarted in turn.
    """

    victims: tuple[str, ...] = ("server1", "server2")
    maintenance = False

    def expected_server(self, client, down: HAPeer | None = None) -> HAPeer:
        """The peer that must answer C{client} (the survivor while one is down)."""
        primary, other = self.peers
        if down is not None:
            return other if down is primary else primary
        if self.mode == "load-balancing":
            return primary if client.lb_owner() == "primary" else other
        return primary

    def assert_status(self) -> None:
        """
        status-get shows the normal state locally and for the partner on
        both (polled: the partner's view follows at the next heartbeat).
        """
        normal = NORMAL[self.mode]

        def settled():
            sections = [p.status() for p in self.peers]
            if all(s["ha-servers"].get("remote", {}).get("last-state") == normal for s in sections):
                return sections
            return None

        sections = wait_for(
            settled, 5, "status-get to show the partner's normal state", self.context
        )
        for peer, section in zip(self.peers, sections, strict=True):
            self.assertEqual(section["ha-mode"], self.mode)
            local, remote = section["ha-servers"]["local"], section["ha-servers"]["remote"]
            self.assertEqual(local["state"], normal, f"{peer.label}: {section}")
            self.assertEqual(local["role"], peer.role, f"{peer.label}: {section}")
            self.assertTrue(remote["in-touch"], f"{peer.label}: {section}")
            self.assertFalse(remote["communication-interrupted"], f"{peer.label}: {section}")
            self.assertEqual(set(remote), REMOTE_KEYS, f"{peer.label}: {section}")
            self.assert_heartbeat_shape(peer, normal)

    def assert_heartbeat_shape(self, peer: HAPeer, state: str) -> None:
        """ha-heartbeat as Kea answers it: keys, RFC 1123 GMT date-time near now, sorted scopes."""
        answer = peer.command("ha-heartbeat")
        self.assertEqual((answer["result"], answer.get("text")), (0, "HA peer status returned."))
        args = answer["arguments"]
        self.assertEqual(set(args), HEARTBEAT_KEYS, f"{peer.label}: {answer}")
        self.assertEqual(args["state"], state)
        when = calendar.timegm(time.strptime(args["date-time"], "%a, %d %b %Y %H:%M:%S GMT"))
        self.assertLess(abs(when - time.time()), 5, f"{peer.label}: {answer}")
        self.assertEqual(args["scopes"], sorted(args["scopes"]))
        self.assertIsInstance(args["unsent-update-count"], int)

    def test_pair(self):
        """
        Normal state, the right server answers, leases replicate within
        2 s; each peer in turn is stopped (the other goes to partner-down
        and answers all), restarted empty (it resyncs), both return to
        normal with identical lease sets.
        """
        normal = NORMAL[self.mode]
        primary, other = self.peers
        self.wait_states({primary: normal, other: normal}, 20)
        self.assert_status()
        ex = self.serve(self.expected_server, 8)
        self.assert_replicated(ex, self.peers)
        self.release_and_decline(ex, self.peers)
        if self.maintenance:
            self.maintenance_round_trip()
        for victim in [p for p in self.peers if p.name in self.victims]:
            survivor = other if victim is primary else primary
            victim.stop()
            self.step(f"{victim.label} stopped")
            self.wait_states({survivor: "partner-down"}, 10)
            ex = self.serve(lambda c, v=victim: self.expected_server(c, down=v), 6)
            victim.wipe_leases()
            victim.start()
            self.step(f"{victim.label} started")
            self.wait_states({primary: normal, other: normal}, 25)
            self.assert_identical_leases(primary, other)
            ex = self.serve(self.expected_server, 4)
            self.assert_replicated(ex, self.peers)
        self.assert_identical_leases(primary, other)

    def maintenance_round_trip(self) -> None:
        """
        For each peer: C{ha-maintenance-start} on it puts it in
        partner-in-maintenance and its partner (told by
        C{ha-maintenance-notify}) in in-maintenance; it then answers every
        client, the updates still reach the partner; C{ha-maintenance-cancel}
        brings both back to the normal state.
        """
        normal = NORMAL[self.mode]
        for starter in self.peers:
            partner = self.peers[1] if starter is self.peers[0] else self.peers[0]
            answer = starter.command("ha-maintenance-start")
            self.assertEqual(
                answer,
                {
                    "result": 0,
                    "text": "Server is now in the partner-in-maintenance state and its partner is"
                    " in-maintenance state. The partner can be now safely shut down.",
                },
                self.context(),
            )
            self.wait_states({starter: "partner-in-maintenance", partner: "in-maintenance"}, 5)
            ex = self.serve(lambda c, s=starter: s, 4)
            self.assert_replicated(ex, self.peers)
            answer = starter.command("ha-maintenance-cancel")
            self.assertEqual(
                answer, {"result": 0, "text": "Server maintenance successfully canceled."}
            )
            self.wait_states({starter: normal, partner: normal}, 10)


class PassiveBackupScenario(HAScenarioMixin):
    """Passive-backup: server1 primary, server2.. backups."""

    mode = "passive-backup"

    def test_passive_backup(self):
        """
        The primary answers every client, no backup ever answers, every
        backup holds every lease within 2 s; with the last backup stopped
        the primary ACKs (wait-backup-ack false) or drops the ACKs (true)
        while it still OFFERs; after the backup returns, ACKs flow again.
        """
        primary, backups = self.peers[0], self.peers[1:]
        self.wait_states({primary: "passive-backup", **{b: "backup" for b in backups}}, 20)
        section = primary.status()
        self.assertEqual(section["ha-servers"]["local"]["state"], "passive-backup")
        self.assertNotIn("remote", section["ha-servers"])
        ex = self.serve(lambda c: primary, 8)
        self.assert_replicated(ex, backups)
        self.release_and_decline(ex, self.peers)
        down = backups[-1]
        down.stop()
        self.step(f"{down.label} stopped")
        if self.wait_backup_ack:
            self.assert_acks_dropped(primary, "a stopped backup (connection refused)")
        else:
            ex = self.serve(lambda c: primary, 4)
            self.assert_replicated(ex, backups[:-1])
        down.start()
        self.step(f"{down.label} started")
        self.wait_states({down: "backup"}, 20)
        ex = self.serve(lambda c: primary, 4)
        self.assert_replicated(ex, backups)

    def assert_acks_dropped(self, primary: HAPeer, why: str) -> None:
        """New clients get the primary's OFFER but no ACK (nor NAK) within 2 s."""
        exchanges = self.client.dora(self.new_clients(4), timeout=2, expect_ack=False)
        ctx = self.context(exchanges)
        for e in exchanges:
            self.assertEqual([r.server_id for r in e.offers], [primary.address], ctx)
            self.assertEqual(e.acks, [], f"ACK sent with {why}\n" + ctx)
            self.assertEqual(e.naks, [], ctx)
        self.assertEqual(primary.state(), "passive-backup", ctx)


class CommunicationRecoveryScenario(ActivePairScenario):
    """
    Load-balancing with C{max-unacked-clients} 10 (so an interrupted
    partner alone is not enough for partner-down): the primary parks its
    lease updates in the backlog (communication-recovery) while the
    secondary is stopped, and sends them when the secondary is back.
    """

    mode = "load-balancing"
    timers = {**FAST_TIMERS, "max-unacked-clients": 10, "delayed-updates-limit": 100}

    def test_pair(self):
        """
        Secondary stopped: the primary goes to communication-recovery (not
        partner-down), answers only its own clients and holds their
        updates; the secondary restarts (its lease file kept), both
        return to load-balancing with identical lease sets that include
        the leases given out meanwhile.
        """
        primary, secondary = self.peers
        self.wait_states({primary: "load-balancing", secondary: "load-balancing"}, 20)
        ex = self.serve(self.expected_server, 4)
        self.assert_replicated(ex, self.peers)
        secondary.stop()
        self.step(f"{secondary.label} stopped")
        self.wait_states({primary: "communication-recovery"}, 10)
        clients = self.new_clients(8)
        exchanges = self.client.dora(clients, timeout=2)
        ctx = self.context(exchanges)
        queued = []
        for e in exchanges:
            if e.client.lb_owner() == "primary":
                self.assertEqual([r.server_id for r in e.acks], [primary.address], ctx)
                queued.append(e.acks[0].yiaddr)
            else:
                self.assertEqual(e.offers, [], "the partner's client was answered\n" + ctx)
        # Interrupted for longer than max-response-delay, still no partner-down.
        time.sleep(1.6)
        self.assertEqual(primary.state(), "communication-recovery", self.context())
        secondary.start()
        self.step(f"{secondary.label} started")
        self.wait_states({primary: "load-balancing", secondary: "load-balancing"}, 20)
        leases = self.assert_identical_leases(primary, secondary)
        for addr in queued:
            self.assertIn(addr, leases, self.context())
        ex = self.serve(self.expected_server, 4)
        self.assert_replicated(ex, self.peers)

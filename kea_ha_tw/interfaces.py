# -*- test-case-name: tests.test_interfaces -*-
"""
Every zope interface of kea-ha-tw: the seams of the architecture, in one
file. Each implementation carries C{@implementer} and is checked with
C{verifyObject} in C{tests/test_interfaces.py}.
"""

from __future__ import annotations

from zope.interface import Attribute, Interface


class ILeaseStore(Interface):
    """
    Where leases live. Every mutating call is durable when it returns
    (appended to the lease file for memfile with persist=true), so a
    caller that sends a DHCPACK after C{update} never loses the lease.
    Lookups never return leases in state C{EXPIRED_RECLAIMED} unless said:
    C{get} and C{get_by_*} return them only with C{include_reclaimed=True}
    (what the C{lease4-get*} commands and the HA lease sync use);
    C{get_all} and C{get_page} return every lease.
    """

    def get(address, include_reclaimed=False):
        """
        The L{Lease4} for C{address} (IPv4Address), or C{None}; a lease in
        state C{EXPIRED_RECLAIMED} only with C{include_reclaimed}.
        """

    def get_by_hwaddr(hwaddr, subnet_id=None, include_reclaimed=False):
        """
        Leases whose hardware address is C{hwaddr} (bytes), as a list
        (expired-reclaimed ones only with C{include_reclaimed}).
        """

    def get_by_client_id(client_id, subnet_id=None, include_reclaimed=False):
        """
        Leases whose client id is C{client_id} (bytes), as a list
        (expired-reclaimed ones only with C{include_reclaimed}).
        """

    def get_by_hostname(hostname, subnet_id=None, include_reclaimed=False):
        """
        Leases whose hostname is C{hostname} (lowercased), as a list
        (expired-reclaimed ones only with C{include_reclaimed}).
        """

    def get_all(subnet_ids=None):
        """All leases (optionally only in C{subnet_ids}), ascending address."""

    def get_page(after, limit):
        """
        Up to C{limit} leases with address strictly greater than C{after}
        (IPv4Address), ascending: what C{lease4-get-page} returns.
        """

    def add(lease):
        """Store a new lease; raise L{LeaseStoreError} if the address is taken."""

    def update(lease):
        """Store C{lease}, replacing any lease for its address."""

    def delete(address):
        """Remove the lease for C{address}; return True if there was one."""

    def wipe(subnet_id=None):
        """Remove all leases (of C{subnet_id}); return how many."""

    def subnet_counts(subnet_id):
        """(assigned, declined) lease counts of C{subnet_id}, kept up to date in O(1)."""

    def count(subnet_id=None):
        """How many leases are stored (in C{subnet_id})."""

    def expired(now, limit=0, include_declined=False):
        """
        Leases in state DEFAULT whose expiry is at or before C{now}, oldest
        first, at most C{limit} (0 = all): candidates for reclamation.
        With C{include_declined}, expired DECLINED leases too (Kea's
        C{getExpiredLeases4}: a declined lease's lifetime is its probation
        period).
        """

    def delete_expired_reclaimed(now, secs):
        """
        Remove leases in state C{EXPIRED_RECLAIMED} that expired C{secs} or
        more seconds before C{now} (Kea's C{deleteExpiredReclaimedLeases4});
        return how many.
        """

    def flush():
        """Make every write durable (fsync) and release file handles."""


class IDHCPHooks(Interface):
    """
    What HA (or any extension) may decide about a DHCP query. It mirrors
    Kea's hook points: C{buffer4_receive} (classify, in scope) and
    C{leases4_committed} (lease updates parked before the reply leaves).
    """

    def classify(query):
        """Extra client class names (a frozenset of str) for C{query}."""

    def query_in_scope(query):
        """True when this server must answer C{query} now."""

    def answers_none():
        """
        True when C{query_in_scope} is false for every HA-scoped query now
        and no query needs prompt analysis; the DHCP sockets may then be
        read in paced turns (L{kea_ha_tw.dhcp.read_pacing}).
        """

    def updates_queued():
        """
        True while replies wait for lease updates that wait in turn for a
        free connection to a peer; the DHCP sockets are then read one
        datagram per reactor turn, so the peers' answers are read between
        queries (L{kea_ha_tw.dhcp.read_pacing.ShortReadTurns}).
        """

    def leases_committed(query, leases, deleted):
        """
        Called after C{leases} were stored and C{deleted} removed for
        C{query}. Returns a Deferred firing True to send the reply, False
        to drop it.
        """


class INetworkState(Interface):
    """Kea's NetworkState: is the DHCP service enabled, per disable origin."""

    def is_enabled():
        """True when no origin disables the DHCP service."""

    def disable(origin, max_period=None):
        """Disable on behalf of C{origin} ('user', 'ha-local', 'ha-partner')."""

    def enable(origin):
        """Clear C{origin}'s disable."""


class IStatistics(Interface):
    """Kea's statistics manager: named counters with sample timestamps."""

    def add(name, value=1):
        """Add C{value} to the integer statistic C{name}."""

    def set(name, value):
        """Set statistic C{name} to C{value}."""

    def get(name):
        """The current value of C{name}, or None."""

    def get_samples(name):
        """Kea's sample list for C{name}: [[value, 'YYYY-MM-DD HH:MM:SS.ffffff'], ...]."""

    def names():
        """All statistic names, sorted."""

    def reset(name):
        """Set C{name} back to zero; return True if it exists."""

    def remove(name):
        """Forget C{name}; return True if it existed."""


class ICommandHandler(Interface):
    """One Kea control command."""

    name = Attribute("The command name, e.g. 'lease4-get'.")

    def handle(arguments, context):
        """
        Run the command. C{arguments} is the request's C{arguments} value
        (or None). Return (or fire a Deferred with) an answer map
        C{{"result": int, "text": str?, "arguments": ...?}}, or raise
        L{CommandError}.
        """


class IHAModePolicy(Interface):
    """What differs between load-balancing, hot-standby and passive-backup."""

    mode = Attribute("Kea mode label, e.g. 'hot-standby'.")

    def normal_state():
        """The HAState this server settles in when both peers are healthy."""

    def served_scopes(state):
        """Scope names this server answers for while in C{state}."""

    def scope_of(query):
        """The scope (peer name) that owns C{query}."""

    def peers_to_update(state):
        """Peers that receive lease updates while in C{state}."""

    def must_wait_for(peer, state):
        """True when the DHCP reply waits for C{peer}'s acknowledgement."""

    def waits_for(peer):
        """
        True when DHCP replies wait for C{peer}'s acknowledgement whenever
        it is sent updates (L{must_wait_for} in any state that sends them).
        """

    # Added by the HA state-machine work (additive; see /work/notes/ha-api.md).

    this_peer = Attribute("This server's PeerConfig.")
    partner = Attribute("The failover partner's PeerConfig (first other non-backup peer), or None.")
    backups = Attribute("The other peers with role backup, sorted by name.")
    other_peers = Attribute("Every peer except this one, sorted by name (Kea's order).")
    is_backup = Attribute("True when this server's role is backup.")
    is_primary = Attribute("True when this server's role is primary.")
    peer_names = Attribute("frozenset of every configured peer name.")

    def role_of(peer_name):
        """The configured role of C{peer_name}."""

    def has_failover_partner():
        """True when this server exchanges heartbeats with an active partner."""

    def heartbeats_enabled():
        """True when this server sends heartbeats at all (state permitting)."""

    def invalid_partner_states():
        """frozenset of partner HAStates that reveal a configuration mismatch."""

    def allows_communication_recovery():
        """True when the mode knows the communication-recovery state."""

    def detects_failure_by_unacked_clients():
        """True when partner-down waits for unacked clients (Kea's shouldPartnerDown)."""

    def default_scopes():
        """frozenset of this server's own scope names."""

    def failover_scopes():
        """frozenset of every primary and secondary scope name."""

    def scope_class_of(query):
        """C{HA_<scope>} for C{query}, or None when it has no key."""

    def update_action(peer_name, state):
        """The UpdateAction (send, queue, unsent, skip) for C{peer_name} in C{state}."""


class IPeerClient(Interface):
    """Sends Kea commands to one HA peer."""

    name = Attribute("The peer's name.")

    def send_command(command, arguments=None, timeout_s=10.0):
        """
        POST the command; fire with the answer's C{arguments} (result 0 or
        3), or fail with PeerCommunicationError / PeerCommandError.
        """

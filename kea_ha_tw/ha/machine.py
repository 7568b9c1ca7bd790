# -*- test-case-name: tests.test_machine -*-
"""
The HA state machine: the current state, its entry actions and Kea's
pause settings, around the pure transition rules of L{kea_ha_tw.ha.states}.

Entering a state sets the served scopes (L{IHAModePolicy.served_scopes})
and switches the local DHCP service (NetworkState origin C{ha-local}) as
Kea's C{adjustNetworkState} does; a state configured with C{pause} stops
the machine there until L{HAStateMachine.continue_}. L{HAStateMachine.run}
applies transitions until the state settles, like Kea's C{runModel}, and
returns the asynchronous work the settled state waits for.

Every transition is logged with C{msg_id="HA_STATE_TRANSITION"} and the
fields C{old_state}, C{new_state}, C{partner_state} (Kea logs
C{HA_STATE_TRANSITION_PASSIVE_BACKUP}, without a partner, in
passive-backup mode).
"""

from __future__ import annotations

from dataclasses import replace
from collections.abc import Callable, Iterable


from kea_ha_tw.config.model import HAConfig
from kea_ha_tw.errors import CONTROL_RESULT_ERROR, CONTROL_RESULT_SUCCESS
from kea_ha_tw.errors import HA_CONTROL_RESULT_MAINTENANCE_NOT_ALLOWED as NOT_ALLOWED
from kea_ha_tw.ha.states import (
    Action, Facts, HAState, decide, dhcp_enabled_in,
)
from kea_ha_tw.interfaces import IHAModePolicy, INetworkState
from kea_ha_tw.loggers import Logger
from kea_ha_tw.network_state import ORIGIN_HA_LOCAL

S = HAState

PAUSE_NEVER = "never"
PAUSE_ALWAYS = "always"
PAUSE_ONCE = "once"

# Guards run() against a rule set that would never settle.
_MAX_TRANSITIONS_PER_RUN = 32

Inputs = Callable[[], "tuple[HAState | None, Facts]"]


def _label(state: HAState | None) -> str:
    return "unknown" if state is None else state.value


class HAStateMachine:
    """
    The local HA state and what entering each state does.

    @ivar state: the current L{HAState}.
    @ivar previous_state: the state before the last transition (Kea's
        getPrevState, used to leave in-maintenance).
    @ivar served_scopes: the scope names served now.
    @ivar paused: the machine is paused (C{state-machine} config).
    """

    _log = Logger()

    def __init__(self, ha: HAConfig, policy: IHAModePolicy, network_state: INetworkState,
                 inputs: Inputs) -> None:
        """
        @param inputs: returns the partner's state and the current L{Facts}
            whenever a transition is evaluated.
        """
        self._ha = ha
        self._policy = policy
        self._network_state = network_state
        self._inputs = inputs
        self._pause = {S(entry.state): entry.pause for entry in ha.state_machine}
        self._paused_once: set[HAState] = set()
        self.state = S.WAITING
        self.previous_state = S.WAITING
        self.served_scopes: frozenset[str] = frozenset()
        self.paused = False
        self._cancel_pending = False
        self._listeners: list[Callable[[HAState, HAState], None]] = []
        self._started = False

    def add_transition_listener(self, listener: Callable[[HAState, HAState], None]) -> None:
        """Call C{listener(old, new)} after every change of state."""
        self._listeners.append(listener)

    # -- running -------------------------------------------------------

    def start(self) -> None:
        """Enter C{waiting} (Kea's startModel), running its entry actions."""
        self._started = True
        self.state = self.previous_state = S.WAITING
        self._enter(S.WAITING, by_maintenance=False)

    def run(self) -> Action | None:
        """
        Apply transitions until the state settles; return the asynchronous
        work the settled state waits for, if any.
        """
        for _ in range(_MAX_TRANSITIONS_PER_RUN):
            partner, facts = self._inputs()
            facts = replace(facts, paused=self.paused,
                            maintenance_cancel_pending=self._cancel_pending)
            new, action = decide(self.state, partner, facts, self._policy)
            self._cancel_pending = False
            if new is self.state:
                return action
            self.transition(new, partner)
        self._log.error("HA state machine did not settle in {state}",
                        msg_id="HA_STATE_MACHINE_LOOP", state=self.state.value)
        return None

    def transition(self, new: HAState, partner: HAState | None = None, *,
                   by_maintenance: bool = False) -> None:
        """
        Go to C{new} (Kea's verboseTransition). Entry actions run only when
        the state changes, but the previous state is recorded either way.
        """
        if new is S.UNAVAILABLE:
            raise ValueError("unavailable is not a local state")
        old = self.state
        if self._policy.partner is None:
            self._log.info(
                "server transitions from {old_state} to {new_state} state",
                msg_id="HA_STATE_TRANSITION_PASSIVE_BACKUP",
                old_state=old.value, new_state=new.value)
        else:
            self._log.info(
                "server transitions from {old_state} to {new_state} state,"
                " partner state is {partner_state}",
                msg_id="HA_STATE_TRANSITION", old_state=old.value, new_state=new.value,
                partner_state=_label(partner))
        if old is S.WAITING and new is S.READY:
            self._log.info("lease database synchronization is disabled",
                           msg_id="HA_CONFIG_LEASE_SYNCING_DISABLED_REMINDER")
        self.previous_state = old
        self.state = new
        if new is not old:
            self._enter(new, by_maintenance)
            for listener in list(self._listeners):
                listener(old, new)

    def _enter(self, state: HAState, by_maintenance: bool) -> None:
        self.served_scopes = self._policy.served_scopes(state, by_maintenance=by_maintenance)
        self.adjust_network_state()
        if not self.paused:
            setting = self._pause.get(state, PAUSE_NEVER)
            if setting == PAUSE_ALWAYS or (
                    setting == PAUSE_ONCE and state not in self._paused_once):
                self._paused_once.add(state)
                self.paused = True
        if self.paused:
            self._log.info("HA state machine paused in {state} state",
                           msg_id="HA_STATE_MACHINE_PAUSED", state=state.value)
        if state is S.TERMINATED:
            self._log.error("HA service terminated; restart both servers after fixing"
                            " the problem", msg_id="HA_TERMINATED")
        elif state is S.IN_MAINTENANCE:
            self._log.info("the server can now be shut down for maintenance",
                           msg_id="HA_MAINTENANCE_SHUTDOWN_SAFE")
        elif state is S.PARTNER_IN_MAINTENANCE:
            self._log.info("the partner is in maintenance", msg_id="HA_MAINTENANCE_STARTED")
        elif state is S.PARTNER_DOWN and by_maintenance:
            self._log.info("partner-down entered by ha-maintenance-start",
                           msg_id="HA_MAINTENANCE_STARTED_IN_PARTNER_DOWN")

    def adjust_network_state(self) -> None:
        """Enable or disable DHCP (origin ha-local) as the state requires."""
        enable = dhcp_enabled_in(self.state)
        enabled = self._network_state.is_enabled()
        if not enable and enabled:
            self._log.info("local DHCP service disabled in {state} state",
                           msg_id="HA_LOCAL_DHCP_DISABLE", state=self.state.value,
                           server=self._ha.this_server_name)
            self._network_state.disable(ORIGIN_HA_LOCAL)
        elif enable and not enabled:
            self._log.info("local DHCP service enabled in {state} state",
                           msg_id="HA_LOCAL_DHCP_ENABLE", state=self.state.value,
                           server=self._ha.this_server_name)
            self._network_state.enable(ORIGIN_HA_LOCAL)

    # -- operator controls ---------------------------------------------

    def continue_(self) -> bool:
        """Unpause; True if the machine was paused (ha-continue)."""
        if not self.paused:
            return False
        self.paused = False
        self._log.info("HA state machine continues", msg_id="HA_STATE_MACHINE_CONTINUED")
        return True

    def set_scopes(self, scopes: Iterable[str]) -> None:
        """
        Serve exactly C{scopes} (peer names) until the next state entry.

        @raise ValueError: naming the first unknown name, in Kea's words;
            the scopes are then left unchanged.
        """
        names = list(scopes)
        for name in names:
            if name not in self._policy.peer_names:
                raise ValueError(f"invalid server name specified '{name}'"
                                 " while enabling/disabling HA scopes")
        self.served_scopes = frozenset(names)
        self.adjust_network_state()

    def reset(self) -> tuple[int, str]:
        """ha-reset: go to waiting (the caller then runs the machine)."""
        if self.state is S.WAITING:
            return CONTROL_RESULT_SUCCESS, "HA state machine already in WAITING state."
        self.transition(S.WAITING, None)
        return CONTROL_RESULT_SUCCESS, "HA state machine reset."

    def maintenance_notify(self, cancel: bool, partner: HAState | None = None) -> tuple[int, str]:
        """The receiver of ha-maintenance-notify (reference 3.11)."""
        if cancel:
            if self.state is not S.IN_MAINTENANCE:
                return (CONTROL_RESULT_ERROR, "Unable to cancel the maintenance for the"
                        " server not in the in-maintenance state.")
            self.revert_after_maintenance(partner)
            return CONTROL_RESULT_SUCCESS, "Server maintenance canceled."
        if self.state in (S.BACKUP, S.PARTNER_IN_MAINTENANCE, S.TERMINATED):
            return (NOT_ALLOWED, f"Unable to transition the server from the {self.state.value}"
                    " to in-maintenance state.")
        self.transition(S.IN_MAINTENANCE, partner)
        return CONTROL_RESULT_SUCCESS, "Server is in-maintenance state."

    def maintenance_start_refusal(self) -> str | None:
        """Why ha-maintenance-start is refused in this state, or C{None}."""
        if self.state in (S.BACKUP, S.IN_MAINTENANCE, S.PARTNER_IN_MAINTENANCE, S.TERMINATED):
            return (f"Unable to transition the server from the {self.state.value}"
                    " to partner-in-maintenance state.")
        return None

    def revert_after_maintenance(self, partner: HAState | None = None) -> None:
        """
        Return to the state before the maintenance; the next run is a no-op
        (Kea's HA_MAINTENANCE_CANCEL_EVT).
        """
        self._cancel_pending = True
        self.transition(self.previous_state, partner)

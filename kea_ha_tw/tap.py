# -*- test-case-name: tests.test_tap -*-
"""
C{twistd kea-ha}: command-line options and the composition root.

Everything about the server is in the Kea-style JSON file, as with
C{kea-dhcp4 -c FILE}; C{--test} validates it and exits, like
C{kea-dhcp4 -t FILE}.
"""

from __future__ import annotations

import sys

from twisted.python import usage
from typing_extensions import override

from kea_ha_tw.errors import ConfigError


class Options(usage.Options):
    """C{twistd kea-ha} options."""

    synopsis = "--config FILE [--test]"
    optParameters = [
        ["config", "c", None, "Path to the Kea-style JSON configuration (Dhcp4)."],
        ["ha-listener-fd", None, None,
         "Internal: run as the HA listener process of a server (HA key listener-process), "
         "its socket pair to the server on this descriptor.", int],
    ]
    optFlags = [["test", "t", "Validate the configuration, print the verdict and exit (0 or 1)."]]

    @override
    def postOptions(self) -> None:
        """
        Load and validate C{--config}: a L{ConfigError} becomes a
        C{UsageError} naming the JSON path; with C{--test}, print the
        verdict and exit like C{kea-dhcp4 -t}.
        """
        from kea_ha_tw.config.loader import load_config

        if self["config"] is None:
            raise usage.UsageError("--config is required")
        try:
            self.server_config = load_config(self["config"])
        except ConfigError as e:
            if self["test"]:
                sys.stderr.write(
                    f"{self['config']}: configuration invalid: {e.path}: {e.message}\n")
                raise SystemExit(1) from None
            raise usage.UsageError(f"{self['config']}: {e.path}: {e.message}") from None
        except OSError as e:
            if self["test"]:
                sys.stderr.write(f"{self['config']}: cannot read: {e.strerror}\n")
                raise SystemExit(1) from None
            raise usage.UsageError(f"{self['config']}: cannot read: {e.strerror}") from None
        if self["test"]:
            sys.stdout.write(f"{self['config']}: configuration OK\n")
            raise SystemExit(0)


def makeService(options: Options):
    """
    Compose the server, or with C{--ha-listener-fd} its HA listener
    process: the only place the global reactor is imported.
    """
    import signal

    from twisted.internet import reactor

    from kea_ha_tw.loggers import LOG_FILTER
    from kea_ha_tw.service import build_service

    try:
        if options["ha-listener-fd"] is not None:
            from kea_ha_tw.ha.listener_child import build_child_service

            return build_child_service(options.server_config, reactor,
                                       options["ha-listener-fd"])
        return build_service(options.server_config, reactor=reactor,
                             config_path=options["config"], install_signal=signal.signal,
                             log_filter=LOG_FILTER)
    except ConfigError as e:
        # A log output that cannot be opened, or a child without an HA
        # relationship: a message naming the key path, not a traceback.
        raise SystemExit(f"{options['config']}: {e.path}: {e.message}") from None

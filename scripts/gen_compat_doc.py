"""
Regenerate the generated parts of docs/kea-compatibility.md from the code:
the configuration key tables (kea_ha_tw.config.keys) and the command list
(the default registry plus the HA commands). Run from the repository root:

    python scripts/gen_compat_doc.py          # rewrite the file
    python scripts/gen_compat_doc.py --check  # exit 1 if it is stale

tests/test_docs.py runs the check, so the table cannot drift from the code.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "kea-compatibility.md"
BEGIN, END = "<!-- BEGIN GENERATED: {} -->", "<!-- END GENERATED: {} -->"

# (title, implemented table, ignored table or None), in the order of Kea's grammar.
SECTIONS = [
    ("`Dhcp4`", "DHCP4_IMPLEMENTED", "DHCP4_IGNORED"),
    ("`Dhcp4.interfaces-config`", "INTERFACES_IMPLEMENTED", "INTERFACES_IGNORED"),
    ("`Dhcp4.lease-database`", "LEASE_DB_IMPLEMENTED", "LEASE_DB_IGNORED"),
    ("`Dhcp4.expired-leases-processing`", "EXPIRED_IMPLEMENTED", None),
    ("`Dhcp4.multi-threading`", "MULTI_THREADING_IMPLEMENTED", None),
    ("`Dhcp4.subnet4[]`", "SUBNET4_IMPLEMENTED", "SUBNET4_IGNORED"),
    ("`subnet4[].pools[]`", "POOL_IMPLEMENTED", "POOL_IGNORED"),
    ("`subnet4[].relay`", "RELAY_IMPLEMENTED", None),
    ("`subnet4[].reservations[]`", "RESERVATION_IMPLEMENTED", "RESERVATION_IGNORED"),
    ("`option-data[]`", "OPTION_DATA_IMPLEMENTED", None),
    ("`option-def[]`", "OPTION_DEF_IMPLEMENTED", None),
    ("`Dhcp4.control-socket` (Kea 2.2, unix)", "CONTROL_SOCKET_IMPLEMENTED", None),
    ("`Dhcp4.control-sockets[]` (Kea 3.0, http/https/unix)", "CONTROL_SOCKETS_IMPLEMENTED",
     "CONTROL_SOCKETS_IGNORED"),
    ("`control-sockets[].authentication`", "AUTHENTICATION_IMPLEMENTED", None),
    ("`authentication.clients[]`", "AUTH_CLIENT_IMPLEMENTED", None),
    ("`hooks-libraries[]`", "HOOK_IMPLEMENTED", None),
    ("`Dhcp4.loggers[]`", "LOGGER_IMPLEMENTED", None),
    ("`loggers[].output_options[]`", "OUTPUT_OPTION_IMPLEMENTED", None),
]


def _keys_section() -> str:
    from kea_ha_tw.config import keys

    lines = ["| map | implemented | accepted, warned about and ignored |", "|---|---|---|"]
    for title, implemented, ignored in SECTIONS:
        imp = ", ".join(f"`{k}`" for k in sorted(getattr(keys, implemented)))
        ign = ", ".join(f"`{k}`" for k in sorted(getattr(keys, ignored))) if ignored else "—"
        lines.append(f"| {title} | {imp} | {ign} |")
    hooks = ", ".join(f"`{k}`" for k in sorted(keys.SUPPORTED_HOOKS))
    lines.append("")
    lines.append(f"Hook libraries recognised by basename: {hooks}; any other library stops start-up "
                 "with an error naming its `hooks-libraries[N].library` path.")
    return "\n".join(lines)


def _commands_section() -> str:
    from kea_ha_tw.commands.ha import HA_COMMANDS
    from kea_ha_tw.commands.registry import build_default_registry

    names = sorted(set(build_default_registry().names()) | set(HA_COMMANDS))
    return ", ".join(f"`{n}`" for n in names) + f"  ({len(names)} commands)"


GENERATORS = {"config-keys": _keys_section, "commands": _commands_section}


def render(text: str) -> str:
    """C{text} with every generated block replaced by fresh output."""
    for name, generate in GENERATORS.items():
        pattern = re.compile(re.escape(BEGIN.format(name)) + r".*?" + re.escape(END.format(name)),
                             re.S)
        block = f"{BEGIN.format(name)}\n{generate()}\n{END.format(name)}"
        if not pattern.search(text):
            raise SystemExit(f"{DOC}: no generated block '{name}'")
        text = pattern.sub(lambda _m: block, text)
    return text


def main(argv: list[str]) -> int:
    """Rewrite the document, or with --check report whether it is stale."""
    sys.path.insert(0, str(DOC.parent.parent))
    current = DOC.read_text(encoding="utf-8")
    fresh = render(current)
    if "--check" in argv:
        if fresh != current:
            print(f"{DOC} is stale: run python scripts/gen_compat_doc.py")
            return 1
        return 0
    DOC.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

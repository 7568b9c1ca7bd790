# Sourced by scripts/install-deps, scripts/test and scripts/demo (from the
# repository root): sets PY to the Python that kea-ha-tw is installed into.
#
# Debian 12's own python3 is "externally managed" (PEP 668: pip refuses to
# install into it), so there we use a virtualenv in .venv, made by
# scripts/install-deps.  Any other python3 (a venv, pyenv) is used as is.
# KEA_HA_PYTHON=/path/to/python overrides the choice.
if [ -n "${KEA_HA_PYTHON:-}" ]; then
  PY=$KEA_HA_PYTHON
elif [ -x "$PWD/.venv/bin/python" ]; then
  PY=$PWD/.venv/bin/python
elif command -v python3 >/dev/null && python3 - <<'PYEOF' 2>/dev/null
import os, sys, sysconfig
managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
sys.exit(0 if managed and sys.prefix == sys.base_prefix else 1)
PYEOF
then
  PY=$PWD/.venv/bin/python
else
  PY=$(command -v python3 || echo python3)
fi
# twistd run by $PY, whatever bin directory it came with.
twistd_cmd() { "$PY" -c 'import sys; sys.argv[0] = "twistd"; from twisted.scripts.twistd import run; run()' "$@"; }

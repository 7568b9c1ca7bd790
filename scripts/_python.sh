# Sourced by scripts/install-deps, scripts/test and scripts/demo (from the
# repository root): sets PY to the Python that kea-ha-tw is installed into.
#
# On Debian we run on Debian's own python3 (/usr/bin/python3), in a
# virtualenv in .venv made by scripts/install-deps: Debian builds CPython
# with profile-guided and link-time optimisation, and our DHCP and HA paths
# run 10-30 % faster on it than on a CPython built from source without
# --enable-optimizations (pyenv's default build, for one), whatever python3
# comes first on PATH (docs/performance.md, "The interpreter").  Debian's
# python3 is also "externally managed" (PEP 668): pip refuses to install into
# it, hence the venv.  Without /usr/bin/python3, python3 on PATH is used as is.
# KEA_HA_PYTHON=/path/to/python overrides the choice.
if [ -n "${KEA_HA_PYTHON:-}" ]; then
  PY=$KEA_HA_PYTHON
  PY_BASE=""
elif [ -x "$PWD/.venv/bin/python" ] || [ -x /usr/bin/python3 ]; then
  PY=$PWD/.venv/bin/python
  PY_BASE=/usr/bin/python3
else
  PY=$(command -v python3 || echo python3)
  PY_BASE=""
fi
# twistd run by $PY, whatever bin directory it came with.
twistd_cmd() { "$PY" -c 'import sys; sys.argv[0] = "twistd"; from twisted.scripts.twistd import run; run()' "$@"; }

"""
The kea-ha-tw benchmark: perfdhcp against real Kea 2.2 and against ours,
side by side, in network namespaces (see docs/performance.md).

    sudo python3 bench/run.py --quick          # smoke run
    sudo python3 bench/run.py --rounds 3       # the full run

Pure parts (perfdhcp output parsing, the rate search, the ratio table)
live in L{bench.perfdhcp}, L{bench.search} and L{bench.report}; the
namespaces, processes and measurements in the other modules.
"""

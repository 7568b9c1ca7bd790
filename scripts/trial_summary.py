"""
Turn trial's closing line into 'N passed, M failed' (what CI reads).
Usage: trial_summary.py LOG [--unfinished]

If the run never reached its closing line (stopped by the time budget or
killed), count the per-test verdicts printed so far and add one failure
for the unfinished run.
"""

import re
import sys

text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
# --unfinished: the runner stopped trial (time budget); count that as a failure.
unfinished = "--unfinished" in sys.argv[2:]
m = re.findall(r"^(PASSED|FAILED) \(([^)]*)\)\s*$", text, re.M)
counts = {}
if m:
    for part in m[-1][1].split(","):
        key, _, value = part.strip().partition("=")
        if value.isdigit():
            counts[key] = int(value)
    passed = counts.get("successes", 0) + counts.get("expectedFailures", 0)
    failed = (
        counts.get("failures", 0) + counts.get("errors", 0) + counts.get("unexpectedSuccesses", 0)
    )
    skipped = counts.get("skips", 0)
    if unfinished:
        failed += 1
        print("trial was stopped by the time budget: 1 failure added")
else:
    verdicts = re.findall(r"\.\.\.\s+\[(OK|FAIL|ERROR|SKIPPED|TODO|SUCCESS!?!?)\]\s*$", text, re.M)
    passed = sum(v in ("OK", "TODO") for v in verdicts)
    failed = sum(v in ("FAIL", "ERROR") or v.startswith("SUCCESS") for v in verdicts) + 1
    skipped = verdicts.count("SKIPPED")
    print("trial did not finish: counting the verdicts printed so far, plus 1 failure")
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))

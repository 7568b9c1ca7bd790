"""Turn trial's closing line into 'N passed, M failed' (what CI reads)."""

import re
import sys

text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
m = re.findall(r"^(PASSED|FAILED) \(([^)]*)\)\s*$", text, re.M)
counts = {}
if m:
    for part in m[-1][1].split(","):
        key, _, value = part.strip().partition("=")
        if value.isdigit():
            counts[key] = int(value)
passed = counts.get("successes", 0) + counts.get("expectedFailures", 0)
failed = counts.get("failures", 0) + counts.get("errors", 0) + counts.get("unexpectedSuccesses", 0)
if not m:
    failed = max(failed, 1)
skipped = counts.get("skips", 0)
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))

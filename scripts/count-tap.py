#!/usr/bin/env python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""Counts test cases over meson test logs: the top-level TAP lines of each
test's output ("ok N ..." / "not ok N ..."), or the test itself when it
printed no TAP. Prints "N passed, N failed" and exits 1 when any failed."""
import json
import re
import sys

passed = failed = 0
for path in sys.argv[1:]:
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        print(f"missing test log {path}", file=sys.stderr)
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        out = t.get("stdout") or ""
        ok = len(re.findall(r"^ok \d+", out, re.M))
        bad = len(re.findall(r"^not ok \d+", out, re.M))
        skipped = len(re.findall(r"^ok \d+.*# ?SKIP", out, re.M | re.I))
        ok -= skipped
        if ok == 0 and bad == 0:
            if t.get("result") in ("OK", "EXPECTEDFAIL"):
                ok = 1
            elif t.get("result") != "SKIP":
                bad = 1
        elif t.get("result") not in ("OK", "EXPECTEDFAIL", "SKIP") and bad == 0:
            # The executable failed after its cases passed (a crash, a leak report).
            bad = 1
        passed += ok
        failed += bad
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)

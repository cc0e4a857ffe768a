"""Prints `portcullis audit tail` JSON lines as a short table (quickstart)."""
import json
import sys

for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    print("  seq %-4s %-9s %-15s rules=%s decision_id=%s hash=%s..." % (
        r.get("seq"), r.get("decision", r.get("kind")), r.get("tool", ""), r.get("rules", []),
        r.get("decision_id", "")[:12], r.get("hash", "")[7:19]))

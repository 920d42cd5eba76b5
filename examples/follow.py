"""Follow the claims feed into a local SQLite table of positions; run again, it resumes where it stopped.

    python examples/follow.py http://127.0.0.1:8000 positions.db   [CLAIMS_TOKEN=… for a server with keys]
"""

import json, os, sqlite3, sys, time  # noqa: E401

import httpx

url, path = sys.argv[1], sys.argv[2]
db = sqlite3.connect(path)
db.executescript("""
CREATE TABLE IF NOT EXISTS seen (position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS claim (id TEXT PRIMARY KEY, speaker TEXT, topic TEXT, stance TEXT, stated_at TEXT, active INT);
CREATE VIEW IF NOT EXISTS position AS SELECT speaker, topic, stance, max(stated_at) AS stated_at
  FROM claim WHERE active GROUP BY speaker, topic;  -- SQLite takes stance from the row holding the max
""")
FIELDS = ("speaker", "topic", "stance", "stated_at")
headers = {"Authorization": f"Bearer {os.environ['CLAIMS_TOKEN']}"} if "CLAIMS_TOKEN" in os.environ else {}
while True:
    after = db.execute("SELECT coalesce(max(position), 0) FROM seen").fetchone()[0]
    try:
        with httpx.stream("GET", f"{url}/v1/events", params={"after": after, "follow": "true", "stream": "claim"},
                          headers=headers, timeout=httpx.Timeout(10, read=60)) as answer:
            answer.raise_for_status()
            for line in answer.iter_lines():
                if not line.strip():
                    continue  # a heartbeat
                event = json.loads(line)
                id_, data, kind = event["subject"], event["data"], event["type"]
                with db:  # the change and the position it came from: one transaction
                    if kind == "ClaimAsserted":
                        db.execute("INSERT INTO claim VALUES (?, ?, ?, ?, ?, 1)", (id_, *(data[f] for f in FIELDS)))
                    elif kind == "ClaimCorrected":
                        for field in set(FIELDS) & set(data["changes"]):
                            db.execute(f"UPDATE claim SET {field} = ? WHERE id = ?", (data["changes"][field], id_))  # noqa: S608
                    elif kind in ("ClaimRetracted", "ClaimSuperseded"):
                        db.execute("UPDATE claim SET active = 0 WHERE id = ?", (id_,))
                    db.execute("INSERT INTO seen VALUES (?)", (int(event["id"]),))
    except httpx.HTTPError as e:  # the server restarts, the network drops: wait, then resume from the last position
        print(f"feed interrupted ({e.__class__.__name__}); resuming after {after}", file=sys.stderr, flush=True)
        time.sleep(1)

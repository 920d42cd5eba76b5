import json, time, random, string
import pytest
from tests.integration.conftest import *  # noqa
from tests.integration.conftest import claim_body, caught_up

def log(*a):
    open("/tmp/wt9a/out2.txt","a").write(" ".join(map(str,a))[:900]+"\n")

def states(api):
    return [(s["name"], s["state"], (s["error"] or {}).get("error","")[:200]) for s in api.get("/v1/projections").json()["items"] if s["state"] != "live"] if isinstance(api.get("/v1/projections").json(), dict) else [(s["name"], s["state"], (s["error"] or {}).get("error","")[:200]) for s in api.get("/v1/projections").json() if s["state"] != "live"]

class R:
    status_code=500; text="EXC"
    def json(self): return {"ids":[None]}
def post(api, path, raw, ct="application/json"):
    try:
        return api.post(path, content=raw, headers={"content-type": ct})
    except Exception as e:
        r = R(); r.text = repr(e)[:200]; return r

def test_a(api, live):
    r = post(api, "/v1/claims", json.dumps(claim_body(facts={"s": "a\ud800"})))
    log("facts surrogate", r.status_code, r.text[:300])
    r = post(api, "/v1/claims", json.dumps(claim_body(facts={"a\ud800": 1})))
    log("facts key surrogate", r.status_code, r.text[:300])
    r = post(api, "/v1/claims", '{"facts": ' + "["*100000 + "]"*100000 + "}")
    log("deep", r.status_code, r.text[:300])
    r = post(api, "/v1/claims", json.dumps(claim_body()).replace('"stated_at"', '"facts": {"n": ' + "9"*5000 + '}, "stated_at"'))
    log("5000 digits", r.status_code, r.text[:300])
    r = post(api, "/v1/claims/batch", json.dumps([claim_body(facts={"n": 10**30})]))
    log("batch bigint", r.status_code, r.text[:300])
    cid = r.json()["ids"][0]
    if cid: log("  read", api.get(f"/v1/claims/{cid}").json()["facts"])
    r = post(api, "/v1/claims/batch", json.dumps(claim_body(facts={"n": 10**30})), "application/x-ndjson")
    cid = r.json()["ids"][0]
    if cid: log("ndjson bigint", r.status_code, api.get(f"/v1/claims/{cid}").json()["facts"])
    r = post(api, "/v1/claims/batch", json.dumps(claim_body(facts={"n": float("nan")})), "application/x-ndjson")
    log("ndjson nan", r.status_code, r.text[:200])
    r = post(api, "/v1/claims/batch", '[' + json.dumps(claim_body()).replace('"stated_at"', '"facts": {"n": 1e400}, "stated_at"') + ']')
    log("batch 1e400", r.status_code, r.text[:200])
    r = post(api, "/v1/claims", json.dumps(claim_body()).replace('"stated_at"', '"facts": {"n": 1e400}, "stated_at"'))
    log("post 1e400", r.status_code, r.text[:200])
    r = post(api, "/v1/claims", json.dumps(claim_body(stated_at="0001-01-01T00:00:00+05:00")))
    log("year0 utc", r.status_code, r.text[:200])
    r = post(api, "/v1/claims", json.dumps(claim_body(stated_at="9999-12-31T23:00:00-05:00")))
    log("year10000 utc", r.status_code, r.text[:200])
    r = post(api, "/v1/claims", json.dumps(claim_body(text="x"*20000)))
    log("long word", r.status_code)
    r = post(api, "/v1/claims", json.dumps(claim_body(text="".join(random.choice("漢字仮名交じり文한국어") for _ in range(20000)))))
    log("cjk", r.status_code)
    for q in ["/v1/positions?as_of=2025-12-21T10:00:00%2B23:59", "/v1/positions?at=2025-12-21T10:00:00%2B23:59",
              "/v1/claims?stated_from=2025-12-21T10:00:00%2B23:59", "/v1/claims?stated_to=0001-01-01T00:00:00%2B05:00",
              "/v1/positions?as_of=0001-01-01T00:00:00%2B05:00", "/v1/claims/00000000-0000-4000-8000-000000000001?as_of=2025-12-21T10:00:00%2B23:59",
              "/v1/positions/history?party=russia&topic=miami-talks&as_of=2025-12-21T10:00:00%2B23:59"]:
        try:
            r = api.get(q); log("GET", q, r.status_code, r.text[:200])
        except Exception as e:
            log("GET", q, "EXC", repr(e)[:200])
    time.sleep(2)
    log("states", states(api))

def test_b(api, live):
    ids = []
    for n in range(51):
        slug = ("p" + "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(63)))
        name = "".join(random.choice("漢字仮名交じり文한국어ﷺ﷽") for _ in range(300))
        r = api.post("/v1/parties", json={"id": slug, "name": name, "kind": "person"})
        if r.status_code != 201:
            log("party", r.status_code, r.text[:300]); continue
        ids.append(slug)
    r = post(api, "/v1/claims", json.dumps(claim_body(speaker=ids[0], co_speakers=ids[1:])))
    log("51 speakers", r.status_code, r.text[:200])
    time.sleep(2)
    log("states b", states(api))
    log(live.views["positions"].position(), live.app.recorder.max_notification_id())
    import threading; log([t.name for t in threading.enumerate()])

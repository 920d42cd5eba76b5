import json, time, random, string
from tests.integration.conftest import *  # noqa
from tests.integration.conftest import claim_body, caught_up
from domain.names import normalize_name

def log(*a):
    open("/tmp/wt9a/out3.txt","a").write(" ".join(map(str,a))[:900]+"\n")

def test_c(api, live):
    chars = sorted((c for c in map(chr, range(0x1f000, 0x1fb00)) if len(normalize_name(c)) >= 15), key=lambda c: -len(normalize_name(c)))[:300]
    random.seed(1)
    name = "".join(random.choice(chars) for _ in range(300))
    log("normal len", len(normalize_name(name)))
    r = api.post("/v1/parties", json={"id": "emoji", "name": name, "kind": "person"})
    log("party", r.status_code, r.text[:200])
    ids = []
    for n in range(51):
        slug = ("p" + "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(63)))
        r = api.post("/v1/parties", json={"id": slug, "name": slug, "kind": "person"})
        ids.append(slug)
    r = api.post("/v1/claims", json=claim_body(speaker=ids[0], co_speakers=ids[1:]))
    log("51 speakers", r.status_code)
    try:
        caught_up(live, 10)
    except AssertionError as e:
        log("not caught up", e)
    log([(s["name"], s["state"], (s["error"] or {}).get("error","")[:300]) for s in api.get("/v1/projections").json()["items"]])

"""Property (issue 9): every claim, correction and batch the API accepts is applied by every projection,
live and in a rebuild, and reads back as standard JSON (no NaN, no Infinity) from every read.

Requests are drawn from ClaimIn's fields with the values that once stopped projections in
reach: any Unicode text (NUL and lone surrogates too), dates and date-times over the whole
calendar with offsets to ±23:59, facts of any size (integers of hundreds of digits, NaN,
infinities). Whatever is accepted must be served; whatever is not gets 422 problem+json, never
a 500. CLAIMS_POISON_EXAMPLES (30 unless set) examples, derandomized unless CLAIMS_FUZZ_RANDOM is set.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from projections.runner import PROJECTIONS
from tests.integration.conftest import ORF, PARTIES, claim_body, view_rows
from tests.integration.test_poison import all_live, rebuild_all, reads_back

EXAMPLES = int(os.environ.get("CLAIMS_POISON_EXAMPLES", "30"))
DERANDOMIZE = not os.environ.get("CLAIMS_FUZZ_RANDOM")

any_text = st.text(st.characters(codec=None, categories=None), min_size=1, max_size=30)  # NUL, surrogates too
offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59))
moments = st.builds(lambda d, o: d.replace(tzinfo=timezone(o)).isoformat(),
                    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59)),
                    offsets.map(lambda o: timedelta(minutes=o // timedelta(minutes=1))))
stated = st.one_of(st.dates(min_value=date(1, 1, 1)).map(date.isoformat), moments, any_text)
numbers = st.one_of(st.integers(min_value=-(10**420), max_value=10**420), st.integers(),
                    st.floats(allow_nan=True, allow_infinity=True))
facts = st.dictionaries(any_text, st.one_of(numbers, st.booleans(), st.none(), any_text), max_size=4)
party = st.sampled_from([p["id"] for p in PARTIES] + ["Peskow", "Dmitrijew"])
source = st.fixed_dictionaries({"url": st.just(ORF["url"])}, optional={
    "outlet": any_text, "title": any_text, "published_at": moments, "language": st.sampled_from(["de", "en-GB"])})
claims = st.fixed_dictionaries({}, optional={
    "speaker": party, "co_speakers": st.lists(party, max_size=3), "about": party, "text": any_text,
    "position": any_text, "stated_at": stated, "facts": facts, "source": source,
    "kind": st.sampled_from(["statement", "report"]), "stance": st.sampled_from(["positive", "mixed"]),
}).map(lambda fields: claim_body(**fields))
CORRECTABLE = ("speaker", "co_speakers", "about", "text", "position", "stated_at", "facts", "source")
corrections = claims.flatmap(lambda body: st.sets(st.sampled_from(CORRECTABLE), min_size=1, max_size=3).map(
    lambda names: {name: body[name] for name in names if name in body} or {"text": body["text"]}))
writes = st.one_of(
    st.tuples(st.just("post"), claims),
    st.tuples(st.just("correct"), corrections),
    st.tuples(st.just("batch"), st.lists(claims, min_size=1, max_size=3)),
    st.tuples(st.just("ndjson"), st.lists(claims, min_size=1, max_size=3)),
)


def raw(value: Any) -> str:
    """JSON as a hostile client may write it: NaN, Infinity and lone surrogates as they are."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True)


def send(api: Any, kind: str, value: Any) -> tuple[Any, list[str]]:
    """Send the write; the ids of the claims it touched (none if refused)."""
    if kind == "post":
        answer = api.post("/v1/claims", content=raw(value), headers={"content-type": "application/json"})
        return answer, [answer.json()["id"]] if answer.status_code == 201 else []
    if kind == "correct":
        base = api.post("/v1/claims", json=claim_body()).json()
        answer = api.post(f"/v1/claims/{base['id']}/corrections", content=raw({"changes": value, "reason": "r"}),
                          headers={"content-type": "application/json", "If-Match": '"1"'})
        return answer, [base["id"]]
    body = raw(value) if kind == "batch" else "\n".join(raw(item) for item in value)
    kind_header = "application/json" if kind == "batch" else "application/x-ndjson"
    answer = api.post("/v1/claims/batch", content=body, headers={"content-type": kind_header})
    return answer, [str(i) for i in answer.json()["ids"]] if answer.status_code == 201 else []


def test_every_accepted_write_is_applied_by_every_projection_and_reads_back_as_json(api: Any, live: Any) -> None:
    accepted = 0

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE, database=None,
              phases=[Phase.explicit, Phase.generate],  # no shrinking: each step is a write and a wait for the views
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(writes)
    def check(write: tuple[str, Any]) -> None:
        nonlocal accepted
        answer, touched = send(api, *write)
        assert answer.status_code in (200, 201, 422), (write, answer.status_code, answer.text)
        if answer.status_code == 422:
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["errors"], answer.text
        else:
            accepted += 1
        all_live(live)
        for claim_id in touched:
            reads_back(api, claim_id)

    check()
    assert accepted >= EXAMPLES // 4  # the strategies reach accepted writes, not only refusals
    before = {name: view_rows(live, name) for name in PROJECTIONS}
    rebuild_all(live)
    rows = all_live(live)
    assert {name: view_rows(live, name) for name in PROJECTIONS} == before
    assert [r["normalised"]["count"] for r in rows] == [0] * len(PROJECTIONS)  # nothing accepted needs it

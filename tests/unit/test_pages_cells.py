"""What the desk's pages show, computed without a database: cells, badges, diffs, dates, the chart."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from api.pages import cells
from api.pages.chart import LEVELS, history_chart, stance_chart
from domain.claim import RATINGS, STATUSES, Claim
from domain.errors import DomainError
from tests.conftest import meta
from tests.unit.conftest import claim_fields

META = meta()


def claim_in(status: str) -> Claim:
    """A claim, in memory, at ``status``."""
    claim = Claim(id=uuid4(), meta=META, **claim_fields())
    if status == "retracted":
        claim.retract("withdrawn", None, META)
    elif status == "superseded":
        claim.supersede(str(uuid4()), None, META)
    assert claim.status == status
    return claim

PARTIES = {
    "russia": {"id": "russia", "name": "Russia", "kind": "state"},
    "kremlin": {"id": "kremlin", "name": "Kremlin", "kind": "government", "affiliation": "russia"},
    "dmitry-peskov": {"id": "dmitry-peskov", "name": "Dmitry Peskov", "kind": "person", "affiliation": "kremlin"},
    "ukraine": {"id": "ukraine", "name": "Ukraine", "kind": "state"},
}
TOPICS = [{"id": "miami-talks", "title": "Miami talks"}, {"id": "kyiv-drone-strike", "title": "Drone strike"}]


def position(party: str, topic: str, stance: str, speaker: str, **extra: object) -> dict[str, object]:
    return {"party": party, "topic": topic, "stance": stance, "position": f"{party} on {topic}", "claim": "c-1",
            "speaker": speaker, "stated_at": "2025-12-21", "claims": 1, **extra}


def test_every_stance_has_a_symbol_and_a_word_besides_its_colour() -> None:
    texts = {s: cells.stance_badge(s).text for s in ("positive", "negative", "neutral", "mixed")}
    assert texts == {"positive": "▲ positive", "negative": "▼ negative", "neutral": "● neutral", "mixed": "◆ mixed"}
    assert len({cells.stance_badge(s).symbol for s in texts}) == 4
    assert cells.stance_badge("hostile").text == "? hostile"  # an unknown one is shown as it is, uncoloured
    assert cells.stance_badge("hostile").css == "stance"


def test_board_has_a_row_per_party_with_a_position_states_first() -> None:
    rows = [position("dmitry-peskov", "miami-talks", "negative", "dmitry-peskov"),
            position("russia", "miami-talks", "negative", "dmitry-peskov"),
            position("ukraine", "kyiv-drone-strike", "negative", "ukraine")]
    grid = cells.board(rows, PARTIES, TOPICS)
    assert [r.party for r in grid.rows] == ["russia", "ukraine", "dmitry-peskov"]
    assert [t["id"] for t in grid.topics] == ["kyiv-drone-strike", "miami-talks"]  # by title
    russia = grid.rows[0]
    assert russia.cells[0] is None  # no position on the drone strike
    assert russia.cells[1].through and russia.cells[1].speaker == "Dmitry Peskov"
    assert not grid.rows[2].cells[1].through  # Peskov speaks for himself
    assert grid.rows[0].cells[1].stance.label == "negative"


def test_board_filters_by_party_kind_and_topic() -> None:
    rows = [position("russia", "miami-talks", "negative", "dmitry-peskov"),
            position("dmitry-peskov", "miami-talks", "negative", "dmitry-peskov"),
            position("russia", "kyiv-drone-strike", "neutral", "kremlin")]
    assert [r.party for r in cells.board(rows, PARTIES, TOPICS, kind="person").rows] == ["dmitry-peskov"]
    grid = cells.board(rows, PARTIES, TOPICS, topic="kyiv-drone-strike")
    assert [t["id"] for t in grid.topics] == ["kyiv-drone-strike"] and [r.party for r in grid.rows] == ["russia"]
    assert cells.board(rows, PARTIES, TOPICS, kind="media").empty


def test_the_board_pages_its_parties_and_keeps_the_same_columns_on_every_page() -> None:
    people = {f"p{n:02}": {"id": f"p{n:02}", "name": f"Person {n:02}", "kind": "person"} for n in range(45)}
    everyone = {**PARTIES, **people}
    rows = [position(pid, "miami-talks", "neutral", pid) for pid in people]
    rows.append(position("russia", "kyiv-drone-strike", "negative", "russia"))
    first = cells.board(rows, everyone, TOPICS)
    second = cells.board(rows, everyone, TOPICS, page=2)
    assert (first.parties, first.pages, len(first.rows), len(second.rows)) == (46, 2, cells.BOARD_ROWS, 6)
    assert first.rows[0].party == "russia" and second.first == cells.BOARD_ROWS + 1
    assert [r.party for r in second.rows] == [f"p{n:02}" for n in range(39, 45)]
    assert first.topics == second.topics == [{"id": "kyiv-drone-strike", "title": "Drone strike"},
                                             {"id": "miami-talks", "title": "Miami talks"}]
    # Laid out from what each party holds, with only the page's positions read: the same page.
    shown = cells.board_parties(cells.held_by_party(rows), everyone, page=2)
    theirs = [p for p in rows if p["party"] in shown]
    assert cells.board(theirs, everyone, TOPICS, page=2, held=cells.held_by_party(rows)) == second


def test_a_date_for_as_of_or_at_counts_its_whole_day() -> None:
    assert cells.parse_instant("2025-12-22", "at") == datetime(2025, 12, 22, 23, 59, 59, 999999, UTC)
    assert cells.parse_instant("2025-12-22T18:00Z", "at") == datetime(2025, 12, 22, 18, 0, tzinfo=UTC)
    assert cells.parse_instant("2025-12-22 18:00", "at") == datetime(2025, 12, 22, 18, 0, tzinfo=UTC)
    assert cells.parse_instant("  ", "at") is None
    with pytest.raises(ValueError, match="as_of"):
        cells.parse_instant("22.12.2025", "as_of")
    with pytest.raises(ValueError, match="no calendar date"):
        cells.parse_instant("2025-02-30", "at")


def test_stated_at_is_shown_readably() -> None:
    assert cells.stated("2025-12-21") == "2025-12-21"
    assert cells.stated("2025-12-23T20:00:00+02:00") == "2025-12-23 20:00 +02:00"
    assert cells.stated("2025-12-23T20:00:00Z") == "2025-12-23 20:00 UTC"


def test_verbatim_text_gets_quote_marks_unless_it_has_its_own() -> None:
    assert cells.quoted("Nur Informationen", True) == "“Nur Informationen”"
    assert cells.quoted("„Nur Informationen“", True) == "„Nur Informationen“"
    assert cells.quoted("Nur Informationen", False) == "Nur Informationen"


def test_a_correction_is_shown_as_old_and_new_per_field() -> None:
    events = [
        {"version": 1, "type": "ClaimAsserted", "recorded_at": "2026-01-01T10:00:00Z", "recorded_by": "desk-1",
         "correlation_id": "r1", "data": {"text": "Dmitriev is only there to listen", "stance": "negative"}},
        {"version": 2, "type": "ClaimCorrected", "recorded_at": "2026-01-01T11:00:00Z", "recorded_by": "desk-2",
         "correlation_id": "r2",
         "data": {"changes": {"stance": "mixed", "text": "Dmitriev is only there to receive information"},
                  "reason": "misquoted"}},
        {"version": 3, "type": "ClaimCorroborated", "recorded_at": "2026-01-01T12:00:00Z", "recorded_by": "desk-1",
         "correlation_id": "r3", "data": {"by": "bbc", "note": "verified"}},
        {"version": 4, "type": "ClaimRetracted", "recorded_at": "2026-01-01T13:00:00Z", "recorded_by": "desk-1",
         "correlation_id": "r4", "data": {"reason": "misattributed"}},
    ]
    rows = cells.history_rows(events, {"bbc": "BBC"})
    assert [r.version for r in rows] == [1, 2, 3, 4]
    stance, text = rows[1].changes
    assert (stance.field, stance.old, stance.new) == ("stance", "negative", "mixed")
    assert ("del", "listen") in text.diff and ("ins", "receive information") in text.diff
    assert ("same", "Dmitriev is only there to ") in text.diff
    assert rows[1].summary == "corrected stance, text: misquoted"
    assert rows[1].recorded_by == "desk-2" and rows[1].recorded_at == "2026-01-01 11:00 UTC"
    assert rows[2].summary == "corroborated by BBC: verified"
    assert cells.status_reason(events) == "misattributed"


def test_a_second_correction_diffs_against_the_first() -> None:
    events = [
        {"version": 1, "type": "ClaimAsserted", "recorded_at": "2026-01-01T10:00:00Z", "data": {"stance": "negative"}},
        {"version": 2, "type": "ClaimCorrected", "recorded_at": "2026-01-01T11:00:00Z",
         "data": {"changes": {"stance": "mixed"}, "reason": "a"}},
        {"version": 3, "type": "ClaimCorrected", "recorded_at": "2026-01-01T12:00:00Z",
         "data": {"changes": {"stance": "positive"}, "reason": "b"}},
    ]
    assert [(c.old, c.new) for c in cells.history_rows(events)[2].changes] == [("mixed", "positive")]


def test_form_input_becomes_request_fields() -> None:
    assert cells.split_names("Umerow, Witkoff\nSelenskyj;") == ["Umerow", "Witkoff", "Selenskyj"]
    assert cells.parse_facts("injured: 5\nratio: 0.5\nconfirmed = true\nplace: Kyiv") == {
        "injured": 5, "ratio": 0.5, "confirmed": True, "place": "Kyiv"}
    assert cells.parse_facts(cells.facts_text({"injured": 5, "confirmed": False})) == {"injured": 5, "confirmed": False}


def test_problem_errors_are_keyed_by_the_form_field_they_name() -> None:
    errors = [{"field": "changes.stance", "reason": "bad"}, {"field": "co_speakers[1]", "reason": "unknown"},
              {"field": "source.url", "reason": "not a URL"}, {"field": "facts.injured", "reason": "too long"}]
    assert cells.field_errors(errors, strip="changes.") == {
        "stance": ["bad"], "co_speakers": ["unknown"], "source.url": ["not a URL"], "facts": ["too long"]}



def test_every_rating_the_domain_knows_has_a_symbol_and_words_besides_its_colour() -> None:
    assert tuple(cells.RATINGS) == RATINGS  # in the domain's order, most to least true
    badges = {r: cells.rating_badge(r) for r in RATINGS}
    assert len({b.label for b in badges.values()}) == len(RATINGS)  # the words tell every rating apart
    assert all(b.symbol and b.css.startswith("rating rating-") for b in badges.values())
    assert badges["mostly-false"].text == "✗ mostly false" and badges["true"].text == "✓ true"
    assert cells.rating_badge("dubious").css == "rating" and cells.rating_badge("dubious").label == "dubious"
    assert [v for v, _ in cells.RATING_OPTIONS] == list(RATINGS)


def test_a_claims_verdicts_are_shown_latest_first_with_the_reviewers_name() -> None:
    reviews = [
        {"by": "bbc", "rating": "mostly-true", "note": None, "sources": [], "version": 3,
         "recorded_at": "2026-01-01T12:00:00Z"},
        {"by": "faktencheck", "rating": "misleading", "note": "Dmitriev took part", "version": 5,
         "sources": ["https://example.org/a", "https://example.org/b"], "recorded_at": "2026-01-02T09:30:00+00:00"},
    ]
    shown = cells.verdicts(reviews, {"bbc": "BBC"})
    assert [(v.by, v.name, v.rating.label) for v in shown] == [("faktencheck", "faktencheck", "misleading"),
                                                               ("bbc", "BBC", "mostly true")]
    assert shown[0].sources == ["https://example.org/a", "https://example.org/b"]
    assert (shown[0].note, shown[0].recorded_at, shown[1].note) == ("Dmitriev took part", "2026-01-02 09:30 UTC", None)
    assert cells.verdicts([]) == []


def test_a_review_in_the_history_says_by_whom_the_rating_and_the_note() -> None:
    events = [
        {"version": 1, "type": "ClaimAsserted", "recorded_at": "2026-01-01T10:00:00Z", "data": {"text": "t"}},
        {"version": 2, "type": "ClaimReviewed", "recorded_at": "2026-01-01T11:00:00Z",
         "data": {"by": "bbc", "rating": "mostly-false", "note": "the minutes say otherwise", "sources": []}},
        {"version": 3, "type": "ClaimReviewed", "recorded_at": "2026-01-01T12:00:00Z",
         "data": {"by": "faktencheck", "rating": "unverifiable", "note": None, "sources": []}},
    ]
    rows = cells.history_rows(events, {"bbc": "BBC"})
    assert rows[1].summary == "reviewed by BBC as mostly false: the minutes say otherwise"
    assert rows[2].summary == "reviewed by faktencheck as unverifiable"


def test_a_claims_page_offers_only_the_actions_its_status_allows() -> None:
    actions = {status: [a for a, _ in cells.claim_actions(status)] for status in STATUSES}
    assert actions["active"] == ["correct", "corroborate", "dispute", "review", "supersede", "retract"]
    assert actions["retracted"] == ["review"]  # Claim.review alone takes a retracted claim
    assert actions["superseded"] == ["correct", "corroborate", "dispute", "review", "retract"]


@pytest.mark.parametrize("status", STATUSES)
def test_every_action_a_claims_page_offers_is_one_the_domain_accepts(status: str) -> None:
    commands = {
        "correct": lambda c: c.correct({"stance": "mixed"}, "misquoted", META),
        "corroborate": lambda c: c.corroborate("bbc", None, None, META),
        "dispute": lambda c: c.dispute("bbc", None, None, None, META),
        "review": lambda c: c.review("bbc", "false", None, [], META),
        "supersede": lambda c: c.supersede(str(uuid4()), None, META),
        "retract": lambda c: c.retract("withdrawn", None, META),
    }
    offered = {a for a, _ in cells.claim_actions(status)}
    for action, command in commands.items():
        subject = claim_in(status)
        try:
            command(subject)
        except DomainError:
            assert action not in offered, (status, action)
        else:
            assert action in offered, (status, action)


def test_a_bad_source_url_names_its_place_in_the_list() -> None:
    errors = [{"field": "sources[1]", "reason": "must be an absolute http(s) URL"}]
    assert cells.field_errors(errors) == {"sources": ["URL 2: must be an absolute http(s) URL"]}

def claim(cid: str, speaker: str, stance: str, stated_at: str, status: str = "active", co: list[str] | None = None,
          ) -> dict[str, object]:
    return {"id": cid, "speaker": speaker, "co_speakers": co or [], "stance": stance, "stated_at": stated_at,
            "status": status, "position": f"{speaker} {stance}"}


def test_chart_has_a_series_per_party_and_a_column_per_active_claim() -> None:
    claims = [claim("1", "umerov", "positive", "2025-12-21", co=["witkoff"]),
              claim("2", "peskov", "negative", "2025-12-21"),
              claim("3", "peskov", "mixed", "2025-12-23", status="retracted"),
              claim("4", "umerov", "neutral", "2025-12-23")]
    chart = stance_chart(claims, {"umerov": "Rustem Umerov"})
    assert [s.key for s in chart.series] == ["umerov", "witkoff", "peskov"]
    assert chart.series[0].name == "Rustem Umerov" and chart.series[1].name == "witkoff"
    assert [p.claim for p in chart.series[0].points] == ["1", "4"]
    assert [p.claim for p in chart.series[2].points] == ["2"]  # the retracted claim is not charted
    assert [label for _, label in chart.ticks] == ["2025-12-21", "2025-12-23"]  # labelled where the date changes
    ys = {label.split()[1]: y for label, y in chart.levels}
    assert ys["positive"] < ys["mixed"] < ys["neutral"] < ys["negative"] and len(ys) == len(LEVELS)
    umerov = chart.series[0].points
    assert umerov[0].y < umerov[1].y  # positive above neutral
    assert umerov[0].x < umerov[1].x and umerov[0].symbol == "▲" and umerov[1].symbol == "●"
    assert chart.series[0].path.startswith(f"M{umerov[0].x},{umerov[0].y}")
    assert "Rustem Umerov, 2025-12-21: positive" in umerov[0].title
    assert stance_chart([], {}).empty


def test_a_partys_history_chart_has_a_series_per_topic_in_stated_order() -> None:
    histories = {"miami-talks": [{"claim": "a", "stated_at": "2025-12-23", "stance": "positive", "position": "p"}],
                 "security-guarantees": [{"claim": "b", "stated_at": "2025-12-21T10:00:00+01:00",
                                          "stance": "negative", "position": "q"}]}
    chart = history_chart(histories, {"miami-talks": "Miami talks"})
    assert [s.name for s in chart.series] == ["security-guarantees", "Miami talks"]  # the earlier first
    assert chart.series[0].points[0].x < chart.series[1].points[0].x


def test_a_partys_changes_are_split_per_topic_with_shifts_marked_per_topic() -> None:
    changes = [{"topic": "a", "stance": "negative"}, {"topic": "b", "stance": "positive"},
               {"topic": "a", "stance": "negative"}, {"topic": "a", "stance": "mixed"}, {"topic": "b", "stance": "positive"}]
    split = cells.histories_by_topic(changes)
    assert [(c["stance"], c["shift"], c["previous_stance"]) for c in split["a"]] == [
        ("negative", False, None), ("negative", False, "negative"), ("mixed", True, "negative")]
    assert [c["shift"] for c in split["b"]] == [False, False]  # b's first change is no shift from a's


def test_a_cell_is_marked_as_a_shift_when_its_stance_differs_from_the_one_before() -> None:
    rows = [position("russia", "miami-talks", "positive", "dmitry-peskov"),
            position("ukraine", "miami-talks", "positive", "ukraine")]
    previous = {("russia", "miami-talks"): "negative", ("ukraine", "miami-talks"): "positive"}
    grid = cells.board(rows, PARTIES, TOPICS, previous=previous)
    assert grid.rows[0].cells[0].shifted_from == "negative"
    assert grid.rows[1].cells[0].shifted_from is None  # the same stance again is no shift

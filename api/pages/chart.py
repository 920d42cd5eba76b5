"""The stance-over-time chart, as geometry for a server-rendered SVG (no JavaScript, no library)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api.pages.cells import short, stance_badge, stated

# Top to bottom: the y axis reads from positive to negative.
LEVELS = ("positive", "mixed", "neutral", "negative")
# Dark enough to read on white (contrast ≥ 4.5:1); a series is named in the legend and in its points' titles.
PALETTE = ("#1f4e9c", "#a33b00", "#2d6a1f", "#6b2c91", "#8a1538", "#00606b", "#5b4a00", "#3d3d3d", "#9c2f7c",
           "#004f8a")
LEFT, RIGHT, TOP, BOTTOM, ROW, COLUMN = 100, 24, 16, 44, 52, 76


@dataclass
class Point:
    x: float
    y: float
    symbol: str
    title: str
    claim: str


@dataclass
class Series:
    key: str
    name: str
    color: str
    path: str
    points: list[Point] = field(default_factory=list)


@dataclass
class Chart:
    width: int
    height: int
    levels: list[tuple[str, float]]  # label ("▲ positive"), y
    ticks: list[tuple[float, str]]  # x, stated_at
    series: list[Series]
    left: int = LEFT
    right_edge: int = 0

    @property
    def empty(self) -> bool:
        return not self.series


def stance_chart(claims: list[dict[str, Any]], names: dict[str, str], *, key: str = "speaker") -> Chart:
    """Each party's stance over time from claims in stated_at order (active ones only).

    A party is the claim's speaker and each co-speaker (``key`` names the field that holds the
    party). The x axis has one column per claim in order (several are often stated on one
    day), labelled where the date changes; the y axis one row per stance. Each party's points
    are joined in order by a step line, nudged a little apart so that lines on one row stay
    distinguishable.
    """
    active = [c for c in claims if c.get("status", "active") == "active"]
    parties: list[str] = []
    for c in active:
        for p in [c[key], *c.get("co_speakers", [])]:
            if p not in parties:
                parties.append(p)
    width = LEFT + RIGHT + max(len(active), 1) * COLUMN
    height = TOP + BOTTOM + ROW * len(LEVELS)
    level_y = {s: TOP + ROW * (i + 0.5) for i, s in enumerate(LEVELS)}
    spread = min(4.0, (ROW * 0.6) / max(len(parties), 1))
    nudges = {p: (i - (len(parties) - 1) / 2) * spread for i, p in enumerate(parties)}
    points: dict[str, list[Point]] = {p: [] for p in parties}
    ticks: list[tuple[float, str]] = []
    for column, c in enumerate(active):
        x = round(LEFT + COLUMN * (column + 0.5), 1)
        label = stated(c["stated_at"])
        if not ticks or ticks[-1][1] != label:
            ticks.append((x, label))
        stance = c["stance"] if c["stance"] in level_y else "neutral"
        badge = stance_badge(c["stance"])
        for party in dict.fromkeys([c[key], *c.get("co_speakers", [])]):
            points[party].append(Point(
                x=x, y=round(level_y[stance] + nudges[party], 1), symbol=badge.symbol,
                title=f"{names.get(party, party)}, {c['stated_at']}: {badge.label} — {short(c.get('position'), 90)}",
                claim=str(c["id"]),
            ))
    series = [Series(key=p, name=names.get(p, p), color=PALETTE[i % len(PALETTE)], path=_steps(points[p]),
                     points=points[p]) for i, p in enumerate(parties)]
    return Chart(
        width=width, height=height,
        levels=[(stance_badge(s).text, round(level_y[s], 1)) for s in LEVELS],
        ticks=ticks, series=series, right_edge=width - RIGHT,
    )


def _steps(points: list[Point]) -> str:
    """An SVG path through the points: across to the next date, then up or down to its stance."""
    if not points:
        return ""
    d = [f"M{points[0].x},{points[0].y}"]
    for p in points[1:]:
        d.append(f"H{p.x}V{p.y}")
    return " ".join(d)


def history_chart(histories: dict[str, list[dict[str, Any]]], titles: dict[str, str]) -> Chart:
    """A party's position over time on each topic (one series per topic), from its position histories."""
    changes = sorted(
        ({"id": c["claim"], "stated_at": c["stated_at"], "stance": c["stance"], "position": c["position"],
          "topic": topic, "co_speakers": []} for topic, rows in histories.items() for c in rows),
        key=lambda c: (stated_order(c["stated_at"]), c["topic"]),
    )
    return stance_chart(changes, titles, key="topic")


def stated_order(stated_at: str) -> str:
    """A sort key for stated_at values: a date sorts as its day's start (UTC), as the views order it."""
    from projections.claims import stated_key

    try:
        return stated_key(stated_at).isoformat()
    except ValueError:
        return stated_at

"""The stance-over-time chart, as geometry for a server-rendered SVG (no JavaScript, no library)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api.pages.cells import STANCES, short, stance_badge

# Top to bottom: the y axis reads from positive to negative.
LEVELS = ("positive", "mixed", "neutral", "negative")
# Dark enough to read on white (contrast ≥ 4.5:1); a series is named in the legend and in its points' titles.
PALETTE = ("#1f4e9c", "#a33b00", "#2d6a1f", "#6b2c91", "#8a1538", "#00606b", "#5b4a00", "#3d3d3d", "#9c2f7c",
           "#004f8a")
LEFT, RIGHT, TOP, BOTTOM, ROW, COLUMN = 96, 24, 16, 36, 48, 110


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

    A party is the claim's speaker and each co-speaker. The x axis has one column per distinct
    stated_at (claims are mostly dated by day), the y axis one row per stance; each party's
    points are joined in order by a step line, nudged a little apart so that lines on one row
    stay distinguishable.
    """
    active = [c for c in claims if c.get("status", "active") == "active"]
    dates: list[str] = []
    for c in active:
        if c["stated_at"] not in dates:
            dates.append(c["stated_at"])
    parties: list[str] = []
    for c in active:
        for p in [c[key], *c.get("co_speakers", [])]:
            if p not in parties:
                parties.append(p)
    width = LEFT + RIGHT + max(len(dates), 1) * COLUMN
    height = TOP + BOTTOM + ROW * len(LEVELS)
    xs = {d: LEFT + COLUMN * (i + 0.5) for i, d in enumerate(dates)}
    level_y = {s: TOP + ROW * (i + 0.5) for i, s in enumerate(LEVELS)}
    spread = min(4.0, (ROW * 0.7) / max(len(parties), 1))
    series = []
    for index, party in enumerate(parties):
        nudge = (index - (len(parties) - 1) / 2) * spread
        points = []
        for c in active:
            if party != c[key] and party not in c.get("co_speakers", []):
                continue
            stance = c["stance"] if c["stance"] in level_y else "neutral"
            badge = stance_badge(c["stance"])
            points.append(Point(
                x=round(xs[c["stated_at"]], 1), y=round(level_y[stance] + nudge, 1), symbol=STANCES.get(
                    c["stance"], ("?", ""))[0],
                title=f"{names.get(party, party)}, {c['stated_at']}: {badge.label} — {short(c.get('position'), 90)}",
                claim=str(c["id"]),
            ))
        series.append(Series(key=party, name=names.get(party, party), color=PALETTE[index % len(PALETTE)],
                             path=_steps(points), points=points))
    return Chart(
        width=width, height=height,
        levels=[(stance_badge(s).text, round(level_y[s], 1)) for s in LEVELS],
        ticks=[(round(x, 1), d) for d, x in xs.items()],
        series=series, right_edge=width - RIGHT,
    )


def _steps(points: list[Point]) -> str:
    """An SVG path through the points: across to the next date, then up or down to its stance."""
    if not points:
        return ""
    d = [f"M{points[0].x},{points[0].y}"]
    for p in points[1:]:
        d.append(f"H{p.x}V{p.y}")
    return " ".join(d)

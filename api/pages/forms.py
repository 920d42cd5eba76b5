"""The forms' fields and how a form becomes a request body, and a refusal the errors shown beside its fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from api.errors import STATUS, ProblemException, validation_errors
from api.pages import cells
from domain.errors import DomainError

KINDS = ("statement", "denial", "report", "assessment")
STANCE_OPTIONS = [(s, cells.stance_badge(s).text) for s in ("positive", "negative", "neutral", "mixed")]
PARTY_KINDS = ("state", "government", "person", "organization", "media", "other")


@dataclass
class Field:
    """A form control: its name (the API's field name, dotted for nested ones), label and kind."""

    name: str
    label: str
    kind: str = "text"  # text, textarea, select, checkbox, url, hidden
    required: bool = False
    hint: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    suggest: bool = False  # offer the resolve endpoint's candidates as the user types

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-").replace("_", "-")


CLAIM_FIELDS = [
    Field("speaker", "Speaker", required=True, suggest=True, hint="a party's id or any of its names, e.g. Peskow"),
    Field("co_speakers", "Co-speakers", suggest=True, hint="a joint statement's other signers, separated by commas"),
    Field("about", "About", suggest=True, hint="the party the claim is about (optional)"),
    Field("topic", "Topic", required=True, hint="a topic id, e.g. miami-talks; a new one is defined"),
    Field("kind", "Kind", kind="select", options=[(k, k) for k in KINDS]),
    Field("text", "Text", kind="textarea", required=True),
    Field("language", "Language", required=True, hint="BCP 47, e.g. de or en"),
    Field("verbatim", "Verbatim: a direct quote", kind="checkbox"),
    Field("stance", "Stance", kind="select", required=True, options=STANCE_OPTIONS),
    Field("position", "Position", hint="a short summary (defaults to the text)"),
    Field("stated_at", "Stated at", required=True, hint="a date (2025-12-21) or a date-time with offset"),
    Field("source.url", "Source URL", kind="url", required=True),
    Field("source.outlet", "Outlet"),
    Field("source.title", "Source title"),
    Field("source.published_at", "Published at", hint="a date-time, e.g. 2025-12-21T22:40:00+01:00"),
    Field("source.language", "Source language"),
    Field("facts", "Facts", kind="textarea", hint="one per line, as name: value (e.g. injured: 5)"),
]
SOURCE_FIELDS = [Field("source.url", "Source URL", kind="url"), Field("source.outlet", "Outlet")]


def source(form: dict[str, str], names: tuple[str, ...] = ("url", "outlet", "title", "published_at", "language")
            ) -> dict[str, str] | None:
    source = {n: form[f"source.{n}"].strip() for n in names if form.get(f"source.{n}", "").strip()}
    return source or None


def picked(form: dict[str, str], name: str) -> str:
    """A field's value, or the candidate picked for it after an unknown or ambiguous name."""
    return (form.get(f"pick.{name}") or form.get(name) or "").strip()


def claim_body(form: dict[str, str]) -> dict[str, Any]:
    """A ClaimIn body from the record (or correct) form."""
    co = cells.split_names(form.get("co_speakers"))
    if form.get("pick.co_speakers") and form.get("pick_for.co_speakers") in co:
        co[co.index(form["pick_for.co_speakers"])] = form["pick.co_speakers"]
    return {
        "speaker": picked(form, "speaker"), "co_speakers": co, "about": picked(form, "about") or None,
        "topic": form.get("topic", "").strip(), "kind": form.get("kind") or "statement", "text": form.get("text", ""),
        "language": form.get("language", "").strip(), "verbatim": form.get("verbatim") in ("on", "true", "1"),
        "stance": form.get("stance", ""), "position": form.get("position", "").strip() or None,
        "stated_at": form.get("stated_at", "").strip(), "source": source(form) or {"url": ""},
        "facts": cells.parse_facts(form.get("facts")),
    }


def claim_values(claim: dict[str, Any]) -> dict[str, str]:
    """A claim (as the API shows it) as the form's values."""
    source = claim.get("source") or {}
    values = {k: "" if claim.get(k) is None else str(claim.get(k)) for k in
              ("speaker", "about", "topic", "kind", "text", "language", "stance", "position", "stated_at")}
    values["co_speakers"] = ", ".join(claim.get("co_speakers") or [])
    values["verbatim"] = "on" if claim.get("verbatim") else ""
    values["facts"] = cells.facts_text(claim.get("facts"))
    for n in ("url", "outlet", "title", "published_at", "language"):
        values[f"source.{n}"] = "" if source.get(n) is None else str(source[n])
    return values


@dataclass
class Refusal:
    """Why a write was refused, as the form shows it."""

    status: int
    detail: str
    errors: dict[str, list[str]]
    candidates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)  # field → the name that matched no party (or several)


def refusal(exc: Exception, *, strip: str = "") -> Refusal:
    """A domain error, a validation error or an HTTP problem as the API would answer it, per field."""
    if isinstance(exc, ValidationError):
        errors = validation_errors(list(exc.errors()))
        return Refusal(422, "invalid input: " + ", ".join(sorted({e["field"] for e in errors})),
                       cells.field_errors(errors, strip=strip))
    if isinstance(exc, ProblemException):
        return Refusal(exc.status, exc.detail, cells.field_errors(exc.extra.get("errors") or [], strip=strip))
    assert isinstance(exc, DomainError)
    status = next((s for cls, s, _ in STATUS if isinstance(exc, cls)), 422)
    name = cells.field_errors([{"field": exc.field or "form"}], strip=strip).popitem()[0]
    out = Refusal(status, exc.detail, {name: [exc.detail]})
    if "candidates" in exc.extra:
        out.candidates[name] = list(exc.extra.get("candidates") or [])  # type: ignore[call-overload]
        out.unknown[name] = str(exc.extra.get("name") or "")
    return out


def correct_fields() -> list[Field]:
    return [*CLAIM_FIELDS, Field("reason", "Reason for the correction", required=True)]


def correction_changes(form: dict[str, str], original: dict[str, Any]) -> dict[str, Any]:
    """The fields the form changed against the claim as it was at the version read."""
    body = claim_body(form)
    before = claim_body(claim_values(original))
    return {k: v for k, v in body.items() if v != before.get(k)}


PARTY_FIELDS = [
    Field("id", "Id", required=True, hint="a slug: lower-case letters, digits and hyphens, e.g. sergey-lavrov"),
    Field("name", "Name", required=True),
    Field("kind", "Kind", kind="select", required=True, options=[(k, k) for k in PARTY_KINDS]),
    Field("affiliation", "Affiliation", suggest=True, hint="the party it speaks for (optional)"),
    Field("aliases", "Aliases", kind="textarea", hint="other names in any script, one per line or separated by commas"),
]

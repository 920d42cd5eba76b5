"""A synthetic but realistic event log, written through the real application.

Parties (states, governments, organisations, media, people) with aliases and affiliations,
some of them registered twice and merged later; about fifty topics; claims in German and
English recorded with ``ClaimsApplication.record_claims`` in batches; and follow-ups
(corrections, corroborations, disputes, retractions, supersessions) a few batches after
the claims they concern, some of them on much older claims.

Follow-ups are made by the Claim aggregate's own command methods (the same rules and the
same events as ``correct_claim``, ``corroborate_claim`` …), on aggregates kept from
``record_claims`` or read back with ``get_claim``, and saved many aggregates per
``Application.save`` call: one use-case call per follow-up would take most of an hour
for a million events. Party and topic changes (aliases, affiliations, merges, topic
descriptions) go through the application's use cases, spread over the log.

Everything is drawn from a seeded random generator; recorded_at comes from a simulated
clock that only moves forward, so the log's timestamps follow its order.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from domain.application import ClaimsApplication
from domain.base import Meta
from domain.claim import Claim
from domain.errors import DomainError
from domain.names import normalize_name
from domain.party import Party

# -- the world -----------------------------------------------------------------------

# slug, English name, German name
STATES = [
    ("ukraine", "Ukraine", "Ukraine"), ("russia", "Russia", "Russland"),
    ("united-states", "United States", "Vereinigte Staaten"), ("germany", "Germany", "Deutschland"),
    ("france", "France", "Frankreich"), ("united-kingdom", "United Kingdom", "Vereinigtes Königreich"),
    ("poland", "Poland", "Polen"), ("austria", "Austria", "Österreich"), ("italy", "Italy", "Italien"),
    ("spain", "Spain", "Spanien"), ("netherlands", "Netherlands", "Niederlande"), ("belgium", "Belgium", "Belgien"),
    ("sweden", "Sweden", "Schweden"), ("finland", "Finland", "Finnland"), ("norway", "Norway", "Norwegen"),
    ("denmark", "Denmark", "Dänemark"), ("estonia", "Estonia", "Estland"), ("latvia", "Latvia", "Lettland"),
    ("lithuania", "Lithuania", "Litauen"), ("hungary", "Hungary", "Ungarn"), ("slovakia", "Slovakia", "Slowakei"),
    ("czechia", "Czechia", "Tschechien"), ("romania", "Romania", "Rumänien"), ("moldova", "Moldova", "Moldau"),
    ("belarus", "Belarus", "Weißrussland"), ("turkey", "Turkey", "Türkei"), ("georgia", "Georgia", "Georgien"),
    ("china", "China", "Volksrepublik China"), ("india", "India", "Indien"), ("japan", "Japan", "Japan (Staat)"),
    ("south-korea", "South Korea", "Südkorea"), ("north-korea", "North Korea", "Nordkorea"),
    ("iran", "Iran", "Islamische Republik Iran"), ("israel", "Israel", "Staat Israel"),
    ("saudi-arabia", "Saudi Arabia", "Saudi-Arabien"), ("qatar", "Qatar", "Katar"),
    ("brazil", "Brazil", "Brasilien"), ("south-africa", "South Africa", "Südafrika"),
    ("switzerland", "Switzerland", "Schweiz"), ("canada", "Canada", "Kanada"),
]
# slug, name, German name
ORGANISATIONS = [
    ("nato", "NATO", "Nordatlantikpakt"), ("european-union", "European Union", "Europäische Union"),
    ("united-nations", "United Nations", "Vereinte Nationen"), ("iaea", "IAEA", "Internationale Atomenergiebehörde"),
    ("osce", "OSCE", "OSZE"), ("g7", "G7", "Gruppe der Sieben"), ("imf", "IMF", "Internationaler Währungsfonds"),
    ("world-bank", "World Bank", "Weltbank"), ("icrc", "ICRC", "Internationales Komitee vom Roten Kreuz"),
    ("unhcr", "UNHCR", "UN-Flüchtlingshilfswerk"), ("who", "WHO", "Weltgesundheitsorganisation"),
    ("opec", "OPEC", "Organisation erdölexportierender Länder"), ("icc", "ICC", "Internationaler Strafgerichtshof"),
    ("council-of-europe", "Council of Europe", "Europarat"), ("european-commission", "European Commission",
     "EU-Kommission"), ("european-parliament", "European Parliament", "Europaparlament"),
    ("amnesty-international", "Amnesty International", "Amnesty"), ("wfp", "World Food Programme",
     "Welternährungsprogramm"), ("ebrd", "EBRD", "Osteuropabank"), ("african-union", "African Union",
     "Afrikanische Union"),
]
# slug, name, language
MEDIA = [
    ("orf", "ORF", "de"), ("ard", "ARD", "de"), ("zdf", "ZDF", "de"), ("dpa", "dpa", "de"),
    ("der-spiegel", "Der Spiegel", "de"), ("faz", "Frankfurter Allgemeine", "de"),
    ("sueddeutsche", "Süddeutsche Zeitung", "de"), ("die-zeit", "Die Zeit", "de"), ("der-standard", "Der Standard", "de"),
    ("nzz", "Neue Zürcher Zeitung", "de"), ("apa", "APA", "de"), ("deutsche-welle", "Deutsche Welle", "de"),
    ("bbc", "BBC", "en"), ("reuters", "Reuters", "en"), ("associated-press", "Associated Press", "en"),
    ("afp", "AFP", "en"), ("the-guardian", "The Guardian", "en"), ("new-york-times", "New York Times", "en"),
    ("washington-post", "Washington Post", "en"), ("financial-times", "Financial Times", "en"),
    ("the-economist", "The Economist", "en"), ("kyiv-independent", "Kyiv Independent", "en"),
    ("politico-europe", "Politico Europe", "en"), ("bloomberg", "Bloomberg", "en"), ("al-jazeera", "Al Jazeera", "en"),
]
FIRST_NAMES = [
    "Olena", "Andriy", "Mykola", "Iryna", "Dmytro", "Oksana", "Serhiy", "Yulia", "Vitaliy", "Kateryna",
    "Sergey", "Anna", "Yuri", "Maria", "Alexei", "Natalia", "Vladislav", "Yevgeny", "Tatiana", "Nikolai",
    "John", "Sarah", "Michael", "Emily", "David", "Laura", "James", "Rachel", "Robert", "Karen",
    "Annalena", "Friedrich", "Olaf", "Ursula", "Markus", "Sabine", "Jürgen", "Katrin", "Wolfgang", "Heike",
    "Emmanuel", "Claire", "Jean", "Sophie", "Pierre", "Giorgia", "Pedro", "Mette", "Kaja", "Donald",
]
_SYLLABLES_A = ["ko", "pe", "dmi", "ze", "bo", "ya", "ku", "me", "sha", "ti", "vo", "lu", "gri", "sta", "ner",
                "wal", "ber", "hof", "mar", "lin", "rud", "ka", "so", "tre", "fi"]
_SYLLABLES_B = ["len", "ri", "mar", "vich", "shen", "tor", "ber", "man", "sky", "gel", "ton", "rov", "din",
                "ler", "zhen", "nak", "ret", "mo", "chuk", "son"]
_ENDINGS = ["ko", "enko", "ov", "ev", "sky", "chuk", "er", "mann", "ner", "son", "ova", "eva", "ski", "ic", "ez"]

# slug, English title, German description
TOPICS = [
    ("ceasefire-talks", "Ceasefire talks", "Verhandlungen über eine Waffenruhe"),
    ("peace-plan", "Peace plan", "Friedensplan und seine Punkte"),
    ("security-guarantees", "Security guarantees", "Sicherheitsgarantien für die Ukraine"),
    ("arms-deliveries", "Arms deliveries", "Waffenlieferungen westlicher Staaten"),
    ("air-defence", "Air defence", "Luftverteidigung und Patriot-Systeme"),
    ("long-range-missiles", "Long-range missiles", "Marschflugkörper mit großer Reichweite"),
    ("sanctions-package", "Sanctions package", "Sanktionspakete der EU"),
    ("frozen-assets", "Frozen Russian assets", "Eingefrorenes russisches Staatsvermögen"),
    ("reparations-loan", "Reparations loan", "Reparationsdarlehen aus eingefrorenem Vermögen"),
    ("energy-prices", "Energy prices", "Energiepreise in Europa"),
    ("gas-transit", "Gas transit", "Gastransit durch die Ukraine"),
    ("oil-price-cap", "Oil price cap", "Preisdeckel für russisches Öl"),
    ("grain-exports", "Grain exports", "Getreideexporte über das Schwarze Meer"),
    ("black-sea-shipping", "Black Sea shipping", "Schifffahrt im Schwarzen Meer"),
    ("nuclear-plant-safety", "Nuclear plant safety", "Sicherheit des Kernkraftwerks Saporischschja"),
    ("prisoner-exchange", "Prisoner exchange", "Austausch von Kriegsgefangenen"),
    ("deported-children", "Deported children", "Verschleppte ukrainische Kinder"),
    ("war-crimes", "War crimes investigations", "Ermittlungen zu Kriegsverbrechen"),
    ("reconstruction-fund", "Reconstruction fund", "Wiederaufbaufonds"),
    ("eu-accession", "EU accession", "EU-Beitrittsverhandlungen"),
    ("nato-membership", "NATO membership", "NATO-Mitgliedschaft"),
    ("drone-strikes", "Drone strikes", "Drohnenangriffe"),
    ("front-line", "Front line", "Lage an der Front"),
    ("mobilisation", "Mobilisation", "Mobilmachung und Wehrpflicht"),
    ("refugees", "Refugees", "Flüchtlinge und Schutzstatus"),
    ("humanitarian-corridors", "Humanitarian corridors", "Humanitäre Korridore"),
    ("territorial-questions", "Territorial questions", "Fragen der Gebietsabtretung"),
    ("elections", "Elections", "Wahlen und Wahltermine"),
    ("martial-law", "Martial law", "Kriegsrecht"),
    ("corruption-probe", "Corruption probe", "Korruptionsermittlungen"),
    ("defence-spending", "Defence spending", "Verteidigungsausgaben"),
    ("ammunition-production", "Ammunition production", "Munitionsproduktion"),
    ("cyber-attacks", "Cyber attacks", "Cyberangriffe"),
    ("disinformation", "Disinformation", "Desinformation"),
    ("minerals-deal", "Minerals deal", "Rohstoffabkommen"),
    ("budget-support", "Budget support", "Budgethilfe"),
    ("power-grid", "Power grid", "Stromnetz und Angriffe auf die Energieinfrastruktur"),
    ("winter-preparations", "Winter preparations", "Vorbereitung auf den Winter"),
    ("peacekeeping-force", "Peacekeeping force", "Friedenstruppe"),
    ("coalition-of-the-willing", "Coalition of the willing", "Koalition der Willigen"),
    ("miami-talks", "Talks in Miami", "Gespräche in Miami"),
    ("geneva-talks", "Talks in Geneva", "Gespräche in Genf"),
    ("istanbul-talks", "Talks in Istanbul", "Gespräche in Istanbul"),
    ("border-security", "Border security", "Grenzsicherung"),
    ("airspace-violations", "Airspace violations", "Luftraumverletzungen"),
    ("baltic-cables", "Baltic Sea cables", "Beschädigte Kabel in der Ostsee"),
    ("shadow-fleet", "Shadow fleet", "Schattenflotte"),
    ("trade-tariffs", "Trade tariffs", "Zölle"),
    ("food-security", "Food security", "Ernährungssicherheit"),
    ("media-freedom", "Media freedom", "Pressefreiheit"),
]
_TOPIC_WEIGHTS = [1.0 / (i + 1) ** 0.8 for i in range(len(TOPICS))]  # a few topics get most claims

_DE = {
    "subjects": ["Die Regierung", "Der Sprecher", "Die Delegation", "Das Ministerium", "Der Präsident",
                 "Die Außenministerin", "Der Botschafter", "Die Kommission", "Der Generalstab", "Die Behörde"],
    "verbs": ["bestätigte", "kritisierte", "forderte", "bezeichnete", "kündigte", "wies", "begrüßte", "verurteilte",
              "bekräftigte", "bestritt", "lehnte", "unterstützte", "erwartet", "warnte vor", "sprach von"],
    "adjectives": ["neue", "weitere", "umfassende", "konstruktive", "schwierige", "produktive", "harte",
                   "vorläufige", "dauerhafte", "gerechte", "mögliche", "rasche", "konkrete", "deutliche"],
    "nouns": ["Gespräche", "Verhandlungen", "Sanktionen", "Garantien", "Waffenlieferungen", "Angriffe",
              "Fortschritte", "Vorschläge", "Zugeständnisse", "Lieferungen", "Hilfen", "Maßnahmen",
              "Forderungen", "Einigung", "Waffenruhe", "Gefangenenaustausch", "Friedenslösung", "Ergebnisse",
              "Investitionen", "Drohnen", "Raketen", "Stromausfälle", "Flüchtlinge", "Wahlen"],
    "tails": ["in den kommenden Wochen", "noch vor Jahresende", "ohne Vorbedingungen", "mit Nachdruck",
              "nach Angaben von Diplomaten", "laut einer Mitteilung", "am Rande des Gipfels", "in Brüssel",
              "in Kiew", "in Moskau", "in Washington", "in Genf", "bei einer Pressekonferenz",
              "in einer Videoansprache", "gegenüber Journalisten"],
    "joiner": ", zugleich ",
}
_EN = {
    "subjects": ["The government", "The spokesperson", "The delegation", "The ministry", "The president",
                 "The foreign minister", "The ambassador", "The commission", "The general staff", "Officials"],
    "verbs": ["confirmed", "criticised", "demanded", "described", "announced", "rejected", "welcomed", "condemned",
              "reaffirmed", "denied", "supported", "expects", "warned against", "spoke of", "ruled out"],
    "adjectives": ["new", "further", "comprehensive", "constructive", "difficult", "productive", "tough",
                   "preliminary", "lasting", "just", "possible", "rapid", "concrete", "clear"],
    "nouns": ["talks", "negotiations", "sanctions", "guarantees", "arms deliveries", "attacks", "progress",
              "proposals", "concessions", "supplies", "aid", "measures", "demands", "agreement", "ceasefire",
              "prisoner exchange", "peace settlement", "results", "investment", "drones", "missiles", "blackouts",
              "refugees", "elections"],
    "tails": ["in the coming weeks", "before the end of the year", "without preconditions", "emphatically",
              "according to diplomats", "in a statement", "on the sidelines of the summit", "in Brussels",
              "in Kyiv", "in Moscow", "in Washington", "in Geneva", "at a press conference", "in a video address",
              "speaking to reporters"],
    "joiner": "; at the same time ",
}
_STANCE_PHRASES = {"positive": "supports", "negative": "opposes", "neutral": "comments on", "mixed": "has doubts on"}
KINDS = ["statement"] * 6 + ["report"] * 2 + ["assessment", "denial"]
STANCES = ["positive", "negative", "neutral", "mixed"]
REASONS = ["typo in the quote", "wrong date", "misattributed speaker", "wrong topic", "stance misread",
           "the outlet corrected its article", "translation fixed"]

# How often a claim gets each follow-up (a claim may get several corroborations, etc.).
FOLLOW_UPS = {"correction": 0.08, "corroboration": 0.20, "dispute": 0.12, "retraction": 0.02, "supersession": 0.03}
OLD_SHARE = 0.08  # of follow-ups that concern a claim recorded long before (read back with get_claim)
DELAY_CHUNKS = 3  # follow-ups come 1..DELAY_CHUNKS batches after their claim
# At most this many claims per record_claims call, aggregates per save. With the library's own
# recorder a save of more than about 1 MB (some 600 claims) hung in psycopg's pipeline mode; the
# project's recorder (adapters/recorder.py) no longer pipelines, and small saves work with either.
PER_SAVE = 250


@dataclass
class PartyDef:
    slug: str
    name: str
    kind: str
    affiliation: str | None
    aliases: list[str]
    language: str = "en"


@dataclass
class World:
    parties: list[PartyDef]
    persons: list[str]
    governments: list[str]
    organisations: list[str]
    media: list[PartyDef]
    aliases: dict[str, list[str]]  # slug -> aliases usable in requests
    duplicates: list[tuple[str, str]]  # (duplicate slug, survivor slug), merged later


def build_world(rng: random.Random) -> World:
    taken: set[str] = set()

    def free(names: list[str]) -> list[str]:
        out = []
        for name in names:
            key = normalize_name(name)
            if key and key not in taken:
                taken.add(key)
                out.append(name)
        return out

    parties: list[PartyDef] = []
    governments, organisations, persons = [], [], []
    for slug, name, german in STATES:
        free([slug, name])
        parties.append(PartyDef(slug, name, "state", None, free([german])))
    for slug, name, german in STATES:
        gov = f"{slug}-government"
        free([gov])
        aliases = free([f"Regierung von {german}", f"{german}s Regierung" if not german.endswith("s") else ""])
        parties.append(PartyDef(gov, f"Government of {name}", "government", slug, aliases))
        free([f"Government of {name}"])
        governments.append(gov)
    for slug, name, german in ORGANISATIONS:
        free([slug, name])
        parties.append(PartyDef(slug, name, "organization", None, free([german])))
        organisations.append(slug)
    media = []
    for slug, name, language in MEDIA:
        free([slug, name])
        media.append(PartyDef(slug, name, "media", None, [], language))
        parties.append(media[-1])
    duplicates = []
    while len(persons) < 200:
        last = (rng.choice(_SYLLABLES_A) + rng.choice(_SYLLABLES_B) + rng.choice(_ENDINGS)).capitalize()
        first = rng.choice(FIRST_NAMES)
        slug = normalize_name(f"{first} {last}").replace(" ", "-")
        name = f"{first} {last}"
        if normalize_name(name) in taken or normalize_name(last) in taken or len(slug) > 60:
            continue
        free([slug, name])
        variants = [last, _germanised(name), _germanised(last), f"{first[0]}. {last}"]
        roll = rng.random()
        if roll < 0.6:
            affiliation = rng.choice(governments)
        elif roll < 0.8:
            affiliation = rng.choice(organisations)
        elif roll < 0.95:
            affiliation = rng.choice(media).slug
        else:
            affiliation = None
        parties.append(PartyDef(slug, name, "person", affiliation, free(variants)))
        persons.append(slug)
    # A few people registered twice (another spelling, another id), merged later in the log.
    for survivor in rng.sample(persons, 4):
        definition = next(p for p in parties if p.slug == survivor)
        first, last = definition.name.split(" ", 1)
        dup_name = f"Dr. {first} {last.upper()}-{rng.choice(['Jr', 'Sr', 'II'])}"
        dup_slug = f"{survivor}-dup"
        free([dup_slug])
        parties.append(PartyDef(dup_slug, dup_name, "person", definition.affiliation, free([dup_name + " (dup)"])))
        duplicates.append((dup_slug, survivor))
    aliases = {p.slug: p.aliases for p in parties}
    return World(parties, persons, governments, organisations, media, aliases, duplicates)


def _germanised(name: str) -> str:
    """A German transliteration of a name: Zelensky -> Selenskyj, Dmitriev -> Dmitrijew (roughly)."""
    out = name
    for a, b in (("zh", "sch"), ("sh", "sch"), ("ch", "tsch"), ("v", "w"), ("y", "j"), ("Z", "S"), ("z", "s")):
        out = out.replace(a, b)
    return out


# -- claims ---------------------------------------------------------------------------


class ClaimMaker:
    """Claim requests (the fields ``record_claims`` takes) drawn at random from the world."""

    def __init__(self, rng: random.Random, world: World) -> None:
        self.rng = rng
        self.world = world
        self.article: dict[str, Any] | None = None
        self.article_left = 0
        self.article_no = 0
        self.names = {p.slug: p.name for p in world.parties}

    def party_ref(self, slug: str) -> str:
        """A party as a request names it: its id, or (sometimes) one of its aliases."""
        aliases = self.world.aliases.get(slug)
        if aliases and self.rng.random() < 0.1:
            return self.rng.choice(aliases)
        return slug

    def speaker(self) -> str:
        roll = self.rng.random()
        if roll < 0.01 and self.world.duplicates:  # a duplicate (before its merge, or resolved through it)
            return self.rng.choice(self.world.duplicates)[0]
        if roll < 0.8:
            return self.rng.choice(self.world.persons)
        if roll < 0.95:
            return self.rng.choice(self.world.governments)
        return self.rng.choice(self.world.organisations)

    def source(self, now: datetime) -> dict[str, Any]:
        """The article the claim comes from; an article yields a few claims."""
        if self.article is None or self.article_left <= 0:
            outlet = self.rng.choice(self.world.media)
            self.article_no += 1
            published = now - timedelta(hours=self.rng.uniform(1, 72))
            words = _DE if outlet.language == "de" else _EN
            title = f"{self.rng.choice(words['adjectives']).capitalize()} {self.rng.choice(words['nouns'])} " \
                    f"{self.rng.choice(words['tails'])}"
            self.article = {
                "url": f"https://example.org/{outlet.slug}/{published:%Y/%m/%d}/{self.article_no}",
                "outlet": outlet.name,
                "title": title,
                "published_at": published.replace(microsecond=0).isoformat(),
                "language": outlet.language,
            }
            self.article_left = self.rng.randint(1, 8)
        self.article_left -= 1
        return self.article

    def text(self, language: str, speaker: str, about: str | None) -> str:
        words = _DE if language == "de" else _EN
        r = self.rng
        clauses = []
        for _ in range(r.randint(1, 3)):
            clauses.append(
                f"{r.choice(words['verbs'])} {r.choice(words['adjectives'])} {r.choice(words['nouns'])} "
                f"{r.choice(words['tails'])}"
            )
        head = self.names[speaker] if r.random() < 0.5 else r.choice(words["subjects"])
        about_part = ""
        if about is not None:
            about_part = f" ({'über' if language == 'de' else 'about'} {self.names.get(about, about)})"
        return f"{head}{about_part} {words['joiner'].join(clauses)}."

    def stated_at(self, now: datetime) -> str:
        when = now - timedelta(hours=self.rng.uniform(0, 240))
        if self.rng.random() < 0.7:
            return when.date().isoformat()
        offset = self.rng.choice(["+00:00", "+01:00", "+02:00", "+03:00", "-05:00"])
        return when.replace(microsecond=0, tzinfo=None).isoformat() + offset

    def claim(self, now: datetime) -> dict[str, Any]:
        r = self.rng
        source = self.source(now)
        language = source["language"] if r.random() < 0.9 else r.choice(["de", "en"])
        speaker = self.speaker()
        about = self.speaker() if r.random() < 0.4 else None
        topic = r.choices(TOPICS, weights=_TOPIC_WEIGHTS)[0]
        stance = r.choice(STANCES)
        fields: dict[str, Any] = {
            "speaker": self.party_ref(speaker),
            "topic": topic[0],
            "kind": r.choice(KINDS),
            "text": self.text(language, speaker, about),
            "language": language,
            "verbatim": r.random() < 0.4,
            "stance": stance,
            "stated_at": self.stated_at(now),
            "source": source,
        }
        if about is not None and about != speaker:
            fields["about"] = self.party_ref(about)
        if r.random() < 0.1:
            canon = dict(self.world.duplicates)  # a duplicate and its survivor are one party (once merged)
            co = {canon.get(s, s): s for s in {self.speaker() for _ in range(r.randint(1, 2))}}
            fields["co_speakers"] = [s for c, s in co.items() if c != canon.get(speaker, speaker)]
        if r.random() < 0.6:
            fields["position"] = f"{self.names[speaker]} {_STANCE_PHRASES[stance]} {topic[1].lower()}"
        if r.random() < 0.2:
            fields["facts"] = r.choice([
                {"casualties": r.randint(0, 200)},
                {"amount_eur_bn": round(r.uniform(0.1, 90), 1)},
                {"drones": r.randint(1, 800), "intercepted": r.randint(0, 700)},
                {"prisoners": r.randint(2, 1200)},
            ])
        return fields


# -- the generator --------------------------------------------------------------------


def generation_app(settings: Any, database_url: str) -> ClaimsApplication:
    """The application, configured for one writer that makes a lot: an aggregate cache.

    Parties and topics named by claims are then read from the cache, not the database
    (each claim names three or four); nothing else writes meanwhile, so the cache need not
    fast-forward. The projections never use this (they read the log), so it changes
    nothing that is measured.
    """
    env = settings.eventsourcing_env(database_url)
    env |= {"AGGREGATE_CACHE_MAXSIZE": "50000", "AGGREGATE_CACHE_FASTFORWARD": "n",
            "DEEPCOPY_FROM_AGGREGATE_CACHE": "n", "POSTGRES_PRE_PING": "n"}
    return ClaimsApplication(env=env)


@dataclass
class Stats:
    claims: int = 0
    follow_ups: int = 0
    old_follow_ups: int = 0
    rejected: int = 0  # commands the domain refused (e.g. corroborating a retracted claim)
    party_changes: int = 0
    topic_changes: int = 0
    seconds: float = 0.0
    events_before: int = 0
    events_after: int = 0

    def as_dict(self) -> dict[str, Any]:
        made = self.events_after - self.events_before
        return {**self.__dict__, "events_made": made, "events_per_second": round(made / max(self.seconds, 1e-9))}


@dataclass
class Generator:
    app: ClaimsApplication
    target: int
    chunk: int = 5_000
    seed: int = 1
    say: Callable[[str], None] = print
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self) -> None:
        self.head = self.app.recorder.max_notification_id() or 0
        self.rng = random.Random(self.seed * 1_000_003 + self.head)
        self.world = build_world(random.Random(self.seed))  # the same world however often it is extended
        self.maker = ClaimMaker(self.rng, self.world)
        self.clock = self._last_time() + timedelta(minutes=1)
        self.batch_no = 0
        # follow-ups waiting for a later batch: batch number -> [(claim, action)]
        self.schedule: dict[int, list[tuple[Claim, str]]] = {}
        self.recent: deque[list[Claim]] = deque(maxlen=DELAY_CHUNKS + 1)
        self.old_ids: list[UUID] = []  # a sample of claims with no follow-up waiting
        self.chores = self._chores()

    # -- time and meta ----------------------------------------------------------------

    def _last_time(self) -> datetime:
        if not self.head:
            return datetime(2025, 1, 1, 6, 0, tzinfo=UTC)
        notification = self.app.recorder.select_notifications(start=self.head, limit=1)[0]
        return self.app.mapper.to_domain_event(notification).timestamp

    def meta(self, step_seconds: float) -> Meta:
        self.clock += timedelta(seconds=step_seconds)
        return Meta(recorded_at=self.clock, recorded_by="bench", correlation_id=f"bench-{self.batch_no}")

    # -- the run ------------------------------------------------------------------------

    def run(self) -> Stats:
        started = time.perf_counter()
        self.stats.events_before = self.head
        self._setup()
        events_per_claim = 1.0 + sum(FOLLOW_UPS.values()) * 0.95
        last_report = time.perf_counter()
        while True:
            pending = sum(len(v) for v in self.schedule.values())
            remaining = self.target - self.head - pending
            if remaining <= 0:
                break
            size = min(self.chunk, max(1, math.ceil(remaining / events_per_claim)))
            self._record_batch(size, follow_ups=remaining > self.chunk * 0.2)
            self._follow_ups(self.batch_no)
            if len(self.recent) == self.recent.maxlen:  # the oldest batch's follow-ups are all done now
                self._remember_old([c.id for c in self.recent[0]])
            self._do_chores()
            self.batch_no += 1
            self.head = self.app.recorder.max_notification_id() or 0
            if time.perf_counter() - last_report > 10:
                self._report(started)
                last_report = time.perf_counter()
        for due in sorted(self.schedule):  # what is still waiting
            self._follow_ups(due)
        self.head = self.app.recorder.max_notification_id() or 0
        while self.head < self.target:  # top up with claims alone
            self._record_batch(min(self.chunk, self.target - self.head), follow_ups=False)
            self.head = self.app.recorder.max_notification_id() or 0
        self.stats.seconds = time.perf_counter() - started
        self.stats.events_after = self.head
        self._report(started)
        return self.stats

    def _report(self, started: float) -> None:
        elapsed = time.perf_counter() - started
        made = self.head - self.stats.events_before
        self.say(f"generated {made:,} events ({self.head:,}/{self.target:,} in the log) in {elapsed:,.0f}s:"
                 f" {made / max(elapsed, 1e-9):,.0f} events/s")

    def _setup(self) -> None:
        """Parties and topics (those the log does not hold yet)."""
        app = self.app
        for p in self.world.parties:
            if app._find(Party, p.slug) is not None:  # noqa: SLF001  (a log being extended)
                continue
            app.register_party(p.slug, p.name, p.kind, p.affiliation, p.aliases, self.meta(1))
        for slug, title, description in TOPICS:
            app.put_topic(slug, title, description, self.meta(1))
        self.head = app.recorder.max_notification_id() or 0

    def _record_batch(self, size: int, *, follow_ups: bool) -> None:
        claims: list[Claim] = []
        for start in range(0, size, PER_SAVE):
            meta = self.meta(self.rng.uniform(5, 60))
            items = [self.maker.claim(self.clock) for _ in range(min(PER_SAVE, size - start))]
            claims.extend(self.app.record_claims(items, meta).value)
        self.stats.claims += len(claims)
        if not follow_ups:
            return
        for claim in claims:
            self._plan(claim)
        self.recent.append(claims)

    def _plan(self, claim: Claim) -> None:
        r = self.rng
        actions = []
        for kind in ("correction", "corroboration", "dispute"):
            p = FOLLOW_UPS[kind]
            while r.random() < p:  # geometric: sometimes two or three
                actions.append(kind)
                p *= 0.4
        roll = r.random()
        if roll < FOLLOW_UPS["retraction"]:
            actions.append("retraction")
        elif roll < FOLLOW_UPS["retraction"] + FOLLOW_UPS["supersession"]:
            actions.append("supersession")
        last = 0
        for action in actions:
            due = self.batch_no + r.randint(1, DELAY_CHUNKS)
            if action in ("retraction", "supersession"):
                due = max(due, last)  # a claim's end comes after its other follow-ups
            last = max(last, due)
            self.schedule.setdefault(due, []).append((claim, action))

    def _remember_old(self, ids: list[UUID]) -> None:
        for claim_id in ids:
            if len(self.old_ids) < 50_000:
                self.old_ids.append(claim_id)
            else:
                self.old_ids[self.rng.randrange(len(self.old_ids))] = claim_id

    def _some_claim_id(self) -> str:
        batch = self.rng.choice(self.recent) if self.recent else []
        if batch:
            return str(self.rng.choice(batch).id)
        return str(self.rng.choice(self.old_ids))

    def _follow_ups(self, due: int) -> None:
        """Apply the follow-ups due now, and some on old claims; save them in rounds, one event per claim each."""
        waiting = self.schedule.pop(due, [])
        order = {"correction": 0, "corroboration": 1, "dispute": 1, "retraction": 2, "supersession": 2}
        self.rng.shuffle(waiting)
        waiting.sort(key=lambda item: order[item[1]])  # stable: ends after the rest
        if self.old_ids:
            seen: set[UUID] = set()
            for _ in range(int(len(waiting) * OLD_SHARE)):
                claim_id = self.rng.choice(self.old_ids)
                if claim_id in seen:
                    continue
                seen.add(claim_id)
                action = self.rng.choices(["corroboration", "dispute", "correction", "retraction"],
                                          weights=[5, 4, 2, 1])[0]
                waiting.append((self.app.get_claim(claim_id), action))  # the real read path
                self.stats.old_follow_ups += 1
        rounds: list[list[tuple[Claim, str]]] = []
        depth: dict[UUID, int] = {}
        for claim, action in waiting:
            level = depth.get(claim.id, 0)
            depth[claim.id] = level + 1
            if level == len(rounds):
                rounds.append([])
            rounds[level].append((claim, action))
        for items in rounds:
            touched = []
            for claim, action in items:
                try:
                    self._apply(claim, action)
                except DomainError:
                    self.stats.rejected += 1
                    continue
                touched.append(claim)
            for start in range(0, len(touched), PER_SAVE):
                self.app.save(*touched[start:start + PER_SAVE])
            self.stats.follow_ups += len(touched)

    def _apply(self, claim: Claim, action: str) -> None:
        r = self.rng
        meta = self.meta(r.uniform(0.05, 2.0))
        outlet = r.choice(self.world.media)
        source = {"url": f"https://example.org/{outlet.slug}/follow-up/{r.getrandbits(40):x}", "outlet": outlet.name,
                  "title": "Follow-up", "published_at": meta.recorded_at.replace(microsecond=0).isoformat(),
                  "language": outlet.language}
        if action == "correction":
            field_name = r.choice(["stance", "text", "topic", "stated_at", "position", "speaker", "facts"])
            if field_name == "stance":
                change: Any = r.choice([s for s in STANCES if s != claim.stance])
            elif field_name == "text":
                change = claim.text.rstrip(".") + (" (korrigiert)." if claim.language == "de" else " (corrected).")
            elif field_name == "topic":
                change = r.choice([t[0] for t in TOPICS if t[0] != claim.topic])
            elif field_name == "stated_at":
                change = self.maker.stated_at(self.clock - timedelta(days=1))
            elif field_name == "position":
                change = f"{claim.position or 'Position'} (revised)"
            elif field_name == "speaker":
                change = r.choice([s for s in self.world.persons if s != claim.speaker])
            else:
                change = {"casualties": r.randint(0, 300)}
            claim.correct({field_name: change}, r.choice(REASONS), meta)
        elif action == "corroboration":
            by = r.choice([outlet.slug, self.maker.speaker()])
            claim.corroborate(by, source if r.random() < 0.7 else None, r.choice([None, "confirmed independently"]),
                              meta)
        elif action == "dispute":
            counter = self._some_claim_id() if r.random() < 0.3 else None
            if counter == str(claim.id):
                counter = None
            claim.dispute(self.maker.speaker(), source if r.random() < 0.5 else None,
                          r.choice([None, "denied by the ministry", "no evidence given"]), counter, meta)
        elif action == "retraction":
            claim.retract(r.choice(["the outlet withdrew the report", "quote was fabricated"]),
                          source if r.random() < 0.5 else None, meta)
        elif action == "supersession":
            by_claim = self._some_claim_id()
            claim.supersede(by_claim, r.choice([None, "a later statement replaces it"]), meta)

    # -- parties and topics change over the log ------------------------------------------

    def _chores(self) -> list[tuple[float, Callable[[], None]]]:
        """Changes to parties and topics, each at a fraction of the log (use cases of the application)."""
        r = random.Random(self.seed + 7)
        chores: list[tuple[float, Callable[[], None]]] = []
        for dup, survivor in self.world.duplicates:
            chores.append((r.uniform(0.2, 0.8), lambda d=dup, s=survivor: self._party(
                lambda m: self.app.merge_party(d, s, "duplicate registration", m))))
        for slug in r.sample(self.world.persons, 30):
            alias = f"{self.maker.names[slug]} ({r.choice(['UA', 'RU', 'EN', 'DE'])}-{r.randint(1, 999)})"
            chores.append((r.random(), lambda s=slug, a=alias: self._party(lambda m: self.app.add_alias(s, a, m))))
        for slug in r.sample(self.world.persons, 20):
            target = r.choice(self.world.governments + self.world.organisations)
            chores.append((r.random(), lambda s=slug, t=target: self._party(
                lambda m: self.app.update_party(s, {"affiliation": t}, "changed office", m))))
        for slug, title, description in r.sample(TOPICS, 10):
            chores.append((r.random(), lambda s=slug, t=title, d=description: self._topic(s, t, d)))
        return sorted(chores, key=lambda c: c[0])

    def _do_chores(self) -> None:
        done = self.head / max(self.target, 1)
        while self.chores and self.chores[0][0] <= done:
            _, chore = self.chores.pop(0)
            chore()

    def _party(self, change: Callable[[Meta], Any]) -> None:
        try:
            change(self.meta(5))
            self.stats.party_changes += 1
        except DomainError:  # already done (a log being extended)
            pass

    def _topic(self, slug: str, title: str, description: str) -> None:
        saved = self.app.put_topic(slug, title, f"{description} (aktualisiert {self.clock:%Y-%m-%d})", self.meta(5))
        self.stats.topic_changes += saved.position is not None

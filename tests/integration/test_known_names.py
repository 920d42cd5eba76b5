"""Names a process has resolved are remembered, and merges made elsewhere are still followed."""

from __future__ import annotations

import time
from typing import Any

from adapters.settings import Settings
from api.bootstrap import bootstrap
from tests.conftest import meta

CLAIM: dict[str, Any] = {
    "topic": "miami-talks", "text": "Die Gespräche waren produktiv.", "language": "de", "stance": "positive",
    "stated_at": "2025-12-21", "source": {"outlet": "ORF", "url": "https://orf.at/x", "language": "de"},
}


def test_a_merge_in_another_process_is_followed_within_a_second(settings: Settings) -> None:
    writer, other = bootstrap(settings), bootstrap(settings)  # two processes on one database
    try:
        for slug, name in (("k-dmitriev", "K. Dmitriev"), ("kirill-dmitriev", "Kirill Dmitriev")):
            writer.app.register_party(slug, name, "person", None, [], meta())
        before = writer.app.record_claim({**CLAIM, "speaker": "K. Dmitriev"}, meta()).value
        assert before.speaker == "k-dmitriev"  # resolved, and now known to the writer

        other.app.merge_party("k-dmitriev", "kirill-dmitriev", "duplicate", meta())
        time.sleep(writer.app.names.fresh_for + 0.1)
        after = writer.app.record_claim({**CLAIM, "speaker": "K. Dmitriev"}, meta()).value
        batch = writer.app.record_claims([{**CLAIM, "speaker": "k-dmitriev", "about": "K. Dmitriev"}], meta())
        assert after.speaker == "kirill-dmitriev"
        assert (batch.value[0].speaker, batch.value[0].about) == ("kirill-dmitriev", "kirill-dmitriev")

        other.app.register_party("kirill-d", "Kirill D.", "person", None, [], meta())
        other.app.record_claim({**CLAIM, "speaker": "Kirill D."}, meta())  # known to `other`, unmerged
        other.app.merge_party("kirill-d", "kirill-dmitriev", None, meta())  # its own merge: followed at once
        assert other.app.record_claim({**CLAIM, "speaker": "Kirill D."}, meta()).value.speaker == "kirill-dmitriev"
    finally:
        other.close()
        writer.close()


def test_a_topic_defined_elsewhere_is_not_defined_again(settings: Settings) -> None:
    writer, other = bootstrap(settings), bootstrap(settings)
    try:
        writer.app.register_party("ukraine", "Ukraine", "state", None, [], meta())
        other.app.put_topic("sanctions", "Sanktionen", None, meta())
        first = writer.app.record_claim({**CLAIM, "speaker": "ukraine", "topic": "sanctions"}, meta())
        second = writer.app.record_claim({**CLAIM, "speaker": "ukraine", "topic": "sanctions"}, meta())
        assert first.value.topic == second.value.topic == "sanctions"
        assert writer.app.get_topic("sanctions").title == "Sanktionen"  # not redefined with its slug as title
        assert writer.app.get_topic("sanctions").version == 1
    finally:
        other.close()
        writer.close()

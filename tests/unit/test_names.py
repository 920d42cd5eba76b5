from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.names import normalize_name


def test_cyrillic_and_latin_spellings_of_one_name_collide() -> None:
    assert normalize_name("Дмитриев") == normalize_name("Dmitriev") == normalize_name("DMITRIEV")


def test_german_spellings_stay_distinct_aliases() -> None:
    assert normalize_name("Dmitrijew") != normalize_name("Dmitriew")


def test_diacritics_case_width_and_spacing_do_not_matter() -> None:
    assert normalize_name("  Müller ") == normalize_name("MULLER")
    assert normalize_name("ＤＭＩＴＲＩＥＶ") == normalize_name("dmitriev")
    assert normalize_name("Kirill   Dmitriev") == normalize_name("kirill-dmitriev")


def test_ukrainian_soft_sign_does_not_split_a_name() -> None:
    assert normalize_name("Зеленський") == "zelenskiy"


@given(st.text(max_size=40))
def test_normalising_twice_changes_nothing(name: str) -> None:
    assert normalize_name(normalize_name(name)) == normalize_name(name)

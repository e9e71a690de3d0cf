"""Recovery phrases: BIP-39 English, 24 words, tolerant parsing, precise error codes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jazz_nb.auth import encode_secret, recovery_phrase, secret_from_recovery_phrase
from jazz_nb.errors import AuthError

# Published BIP-39 test vectors (256-bit entropy, English).
BIP39_VECTORS = [
    ("00" * 32, "abandon " * 23 + "art"),
    ("7f" * 32, "legal winner thank year wave sausage worth useful " * 2
     + "legal winner thank year wave sausage worth title"),
    ("80" * 32, "letter advice cage absurd amount doctor acoustic avoid " * 2
     + "letter advice cage absurd amount doctor acoustic bless"),
    ("ff" * 32, "zoo " * 23 + "vote"),
]
PHRASE = recovery_phrase(bytes(range(32)))


@pytest.mark.parametrize(("entropy_hex", "phrase"), BIP39_VECTORS)
def test_bip39_vectors(entropy_hex: str, phrase: str) -> None:
    secret = encode_secret(bytes.fromhex(entropy_hex))
    assert recovery_phrase(secret) == phrase
    assert secret_from_recovery_phrase(phrase) == secret


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_round_trip(seed: bytes) -> None:
    secret = encode_secret(seed)
    phrase = recovery_phrase(secret)
    assert len(phrase.split(" ")) == 24
    assert secret_from_recovery_phrase(phrase) == secret


@settings(max_examples=100, deadline=None)
@given(
    st.binary(min_size=32, max_size=32),
    st.lists(st.sampled_from([" ", "  ", "\n", "\t", " \r\n "]), min_size=25, max_size=25),
    st.lists(st.sampled_from(["lower", "upper", "title"]), min_size=24, max_size=24),
)
def test_case_and_whitespace_tolerance(seed: bytes, gaps: list[str], cases: list[str]) -> None:
    words = [getattr(word, case)() for word, case in zip(recovery_phrase(seed).split(), cases,
                                                          strict=True)]
    text = gaps[0] + "".join(word + gap for word, gap in zip(words, gaps[1:], strict=True))
    assert secret_from_recovery_phrase(text) == encode_secret(seed)


def _replace(index: int, word: str) -> str:
    words = PHRASE.split()
    words[index] = word
    return " ".join(words)


def _swap(i: int, j: int) -> str:
    words = PHRASE.split()
    words[i], words[j] = words[j], words[i]
    return " ".join(words)


BAD_PHRASES = [
    ("empty", "", "invalid-length"),
    ("whitespace-only", " \n\t ", "invalid-length"),
    ("23-words", " ".join(PHRASE.split()[:23]), "invalid-length"),
    ("25-words", PHRASE + " abandon", "invalid-length"),
    ("12-word-bip39", "abandon " * 11 + "about", "invalid-length"),
    ("hyphen-joined", PHRASE.replace(" ", "-"), "invalid-length"),
    ("unknown-word", _replace(5, "qwerty"), "invalid-word"),
    ("misspelled", _replace(0, PHRASE.split()[0] + "x"), "invalid-word"),
    ("abbreviated", _replace(3, PHRASE.split()[3][:3] + "?"), "invalid-word"),
    ("punctuation", _replace(23, PHRASE.split()[23] + "."), "invalid-word"),
    ("swapped-words", _swap(0, 1) if PHRASE.split()[0] != PHRASE.split()[1] else _swap(0, 2),
     "invalid-checksum"),
    ("last-word-changed", _replace(23, "zoo" if PHRASE.split()[23] != "zoo" else "abandon"),
     "invalid-checksum"),
    ("all-abandon", "abandon " * 24, "invalid-checksum"),
]


@pytest.mark.parametrize(("text", "code"), [case[1:] for case in BAD_PHRASES],
                         ids=[case[0] for case in BAD_PHRASES])
def test_bad_phrases(text: str, code: str) -> None:
    with pytest.raises(AuthError) as info:
        secret_from_recovery_phrase(text)
    assert info.value.code == code
    for word in set(text.split()):  # errors never quote the phrase
        assert word not in str(info.value).split()


def test_invalid_word_names_its_position() -> None:
    with pytest.raises(AuthError, match="word 6 "):
        secret_from_recovery_phrase(_replace(5, "qwerty"))

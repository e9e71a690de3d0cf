"""Recovery phrases: a secret's 32 bytes as a 24-word BIP-39 English mnemonic (§7.2).

Same words as Jazz's ``@scure/bip39`` ``entropyToMnemonic``; the word list and checksum come
from the maintained ``mnemonic`` package (Trezor's reference implementation).

Example:
    >>> phrase = recovery_phrase(bytes(32))
    >>> phrase.split()[:3], len(phrase.split())
    (['abandon', 'abandon', 'abandon'], 24)
    >>> secret_from_recovery_phrase(phrase) == encode_secret(bytes(32))
    True
"""

from __future__ import annotations

from functools import cache

from mnemonic import Mnemonic

from jazz_nb.auth.identity import Secret, decode_secret, encode_secret
from jazz_nb.errors import AuthError

PHRASE_WORDS = 24


@cache
def _english() -> Mnemonic:
    return Mnemonic("english")


@cache
def _known_words() -> frozenset[str]:
    return frozenset(_english().wordlist)


def recovery_phrase(secret: Secret) -> str:
    """The 24-word BIP-39 English phrase that encodes ``secret``; treat it like the secret.

    Example:
        >>> recovery_phrase(bytes([1]) * 32).split()[-1]
        'comic'
    """
    return _english().to_mnemonic(decode_secret(secret))


def secret_from_recovery_phrase(text: str) -> str:
    """Recover the base64url secret from a phrase; case and extra whitespace are ignored.

    Errors (``AuthError``) never quote the phrase: ``invalid-length`` (not 24 words),
    ``invalid-word`` (names the position), ``invalid-checksum``.

    Example:
        >>> phrase = "  " + recovery_phrase(bytes([1]) * 32).upper().replace(" ", "\\n ") + "\\t"
        >>> secret_from_recovery_phrase(phrase)
        'AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE'
        >>> secret_from_recovery_phrase("abandon " * 23)
        Traceback (most recent call last):
        ...
        jazz_nb.errors.AuthError: a recovery phrase has 24 words, got 23 [invalid-length]
    """
    if not isinstance(text, str):
        raise AuthError("invalid-length", "a recovery phrase must be a string of 24 words")
    words = text.lower().split()
    if len(words) != PHRASE_WORDS:
        raise AuthError(
            "invalid-length", f"a recovery phrase has {PHRASE_WORDS} words, got {len(words)}"
        )
    known = _known_words()
    for position, word in enumerate(words, start=1):
        if word not in known:
            raise AuthError("invalid-word", f"word {position} is not in the BIP-39 English list")
    try:
        entropy = _english().to_entropy(words)
    except (ValueError, LookupError):
        raise AuthError("invalid-checksum", "the recovery phrase checksum does not match") from None
    return encode_secret(bytes(entropy))

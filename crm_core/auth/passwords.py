"""Password hashing with argon2 (argon2-cffi), and the password policy."""

from __future__ import annotations

import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

MIN_LENGTH = 8


def hash_password(password: str) -> str:
    """Return the argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; never raises on a bad hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


def policy_errors(password: str) -> list[str]:
    """What is wrong with a new password (empty when acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Must be at least {MIN_LENGTH} characters long.")
    if password.isdigit() or password.isalpha():
        problems.append("Must mix letters with digits or symbols.")
    return problems


_LETTERS = string.ascii_letters
_DIGITS = string.digits
_SYMBOLS = "-_.!@#%+="
GENERATED_LENGTH = 16


def generate_password(length: int = GENERATED_LENGTH) -> str:
    """A random password that passes :func:`policy_errors` by construction: at least one letter,
    one digit and one symbol, the rest drawn from all three, shuffled (``secrets``). (A bare
    ``secrets.token_urlsafe(12)`` is all letters about once in 27 and the policy refuses it.)"""
    length = max(length, MIN_LENGTH)
    rng = secrets.SystemRandom()
    everything = _LETTERS + _DIGITS + _SYMBOLS
    chars = [rng.choice(_LETTERS), rng.choice(_DIGITS), rng.choice(_SYMBOLS)]
    chars += [rng.choice(everything) for _ in range(length - len(chars))]
    rng.shuffle(chars)
    password = "".join(chars)
    assert not policy_errors(password), "generate_password must satisfy the policy"
    return password


def describe_errors(errors: dict) -> str:
    """``{"password": ["Must ..."]}`` as one line naming each field and rule, for the CLI."""
    return "; ".join(f"{field}: {' '.join(map(str, msgs))}" for field, msgs in (errors or {}).items())

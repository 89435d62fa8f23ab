"""age encryption (pyrage): what `age -d -i KEY` opens."""

from __future__ import annotations

import pyrage

ARMOR = b"-----BEGIN AGE ENCRYPTED FILE-----"
BINARY = b"age-encryption.org/v1\n"


class Unsealable(Exception):
    """The file could not be opened (wrong identity, damaged, not age); says which."""


def seal(data: bytes, recipient: str) -> bytes:
    """`data` encrypted to the age recipient (age1...); binary age format."""
    key = pyrage.x25519.Recipient.from_str(recipient)
    sealed: bytes = pyrage.encrypt(data, [key])
    return sealed


def is_sealed(data: bytes) -> bool:
    return data.startswith(BINARY) or data.lstrip().startswith(ARMOR)


def identities(text: str) -> list[object]:
    """The X25519 identities of an identity file as age-keygen writes it (comments and
    blank lines skipped). Unsealable when it holds none or a malformed one."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            found.append(pyrage.x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise Unsealable("the identity file holds a line that is not an age secret key "
                             "(AGE-SECRET-KEY-1...)") from None
    if not found:
        raise Unsealable("the identity file holds no age secret key (AGE-SECRET-KEY-1...)")
    return found


def unseal(data: bytes, identity_text: str) -> bytes:
    """`data` (binary or armored age) decrypted with the identities of `identity_text`."""
    keys = identities(identity_text)
    try:
        opened: bytes = pyrage.decrypt(data, keys)
    except pyrage.DecryptError as exc:
        raise Unsealable(f"cannot decrypt it with this identity ({_reason(exc)})") from None
    return opened


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]

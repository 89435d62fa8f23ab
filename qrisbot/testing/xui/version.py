"""Which 3x-ui a fake plays: the version decides login, endpoints and the email rule."""

from __future__ import annotations

import attrs


@attrs.frozen(order=True)
class Version:
    parts: tuple[int, int, int]

    @classmethod
    def parse(cls, text: str) -> Version:
        numbers = [int(p) for p in text.removeprefix("v").split(".")]
        if not 1 <= len(numbers) <= 3:
            raise ValueError(f"not a 3x-ui version: {text!r}")
        major, minor, patch = (numbers + [0, 0])[:3]
        return cls((major, minor, patch))

    def at_least(self, text: str) -> bool:
        return self >= Version.parse(text)

    def __str__(self) -> str:
        return ".".join(map(str, self.parts))

    @property
    def csrf(self) -> bool:
        """3.0+: GET csrf-token, X-CSRF-Token on unsafe calls, Bearer API tokens."""
        return self.at_least("3.0")

    @property
    def shared_emails(self) -> bool:
        """3.0+: one email may sit in several inbounds when they share a non-empty subId."""
        return self.at_least("3.0")

    @property
    def clients_api(self) -> bool:
        """3.1+: panel/api/clients/*; the per-inbound client endpoints are gone."""
        return self.at_least("3.1")

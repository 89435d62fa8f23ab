"""Questions in the terminal for `qrisbot setup`: every answer checked at once, a wrong one
asked again with its reason, secrets typed without echo and never shown back."""

from __future__ import annotations

import getpass
import re
import sys
from collections.abc import Callable
from typing import TypeVar

from qrisbot.shop.texts import label

T = TypeVar("T")


class Aborted(Exception):
    """The seller ended setup (Ctrl-D or Ctrl-C)."""


class Wrong(Exception):
    """An answer that cannot be taken; the message (already in the seller's language) says
    why."""


def printable(value: str, limit: int = 64) -> str:
    """A value from outside (a Telegram name, a server's answer) fit for the terminal: no
    control characters, which could move the cursor or rewrite what the seller reads."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f]", "?", value)[:limit]


class Terminal:
    """The seller's terminal. `read` and `read_secret` are input() and getpass() (tests of
    the flow drive the real ones through a pseudo-terminal)."""

    def __init__(self, lang: str, read: Callable[[str], str] = input,
                 read_secret: Callable[[str], str] = getpass.getpass) -> None:
        self.lang = lang
        self._read = read
        self._read_secret = read_secret

    def text(self, key: str, **values: object) -> str:
        return label(f"setup_{key}", self.lang, **values)

    def say(self, key: str, **values: object) -> None:
        print(self.text(key, **values), flush=True)

    def wrong(self, key: str, **values: object) -> Wrong:
        return Wrong(self.text(key, **values))

    def ask(self, key: str, check: Callable[[str], T], default: str | None = None,
            **values: object) -> T:
        """Ask until `check` takes the answer (Enter takes `default`, shown in brackets)."""
        prompt = self.text(key, **values) + (f" [{default}]" if default else "") + ": "
        while True:
            answer = self._line(prompt).strip()
            if not answer and default is not None:
                answer = default
            try:
                return check(answer)
            except Wrong as exc:
                print(f"  ✗ {exc}", flush=True)

    def secret(self, key: str, check: Callable[[str], str], *, keep: bool) -> str | None:
        """A secret, typed hidden; None when `keep` and the seller pressed Enter (the
        current one stays). The answer is never printed, whatever `check` says of it."""
        prompt = self.text(key) + (" " + self.text("enter_keeps") if keep else "") + ": "
        while True:
            try:
                answer = self._read_secret(prompt).strip()
            except EOFError:
                raise Aborted from None
            if not answer:
                if keep:
                    return None
                print(f"  ✗ {self.text('empty')}", flush=True)
                continue
            try:
                return check(answer)
            except Wrong as exc:
                print(f"  ✗ {exc}", flush=True)

    def yes(self, key: str, default: bool, **values: object) -> bool:
        hint = "[Y/n]" if default else "[y/N]"
        while True:
            answer = self._line(f"{self.text(key, **values)} {hint} ").strip().lower()
            if not answer:
                return default
            if answer in ("y", "ya", "yes"):
                return True
            if answer in ("n", "t", "tidak", "no"):
                return False
            print(f"  ✗ {self.text('yes_or_no')}", flush=True)

    def pause(self, key: str, **values: object) -> str:
        """Wait for Enter; returns whatever was typed before it (lower case)."""
        return self._line(self.text(key, **values) + " ").strip().lower()

    def _line(self, prompt: str) -> str:
        try:
            return self._read(prompt)
        except EOFError:
            raise Aborted from None


def stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)

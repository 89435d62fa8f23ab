"""The SSH recipes moved to `provision/ssh/recipes.py`; the shop's default name rule is
re-exported here for the panel backends written against the old place (to be dropped
once they import it from the backend contract's side)."""

from __future__ import annotations

from qrisbot.provision.ssh.recipes import is_sellable_username

__all__ = ["is_sellable_username"]

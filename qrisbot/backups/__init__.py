"""Backups of the ledger the seller can restore: a consistent copy (`snapshot`), sealed to
an age recipient (`sealed`), sent to the admins each day (`daily`), put back in place
(`restore`)."""

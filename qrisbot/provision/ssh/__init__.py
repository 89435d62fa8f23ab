"""Servers reached over SSH: connections, the recipes each kind of server runs, autoscript
layouts (detect), readers of the accounts already there, login proofs, host keys."""

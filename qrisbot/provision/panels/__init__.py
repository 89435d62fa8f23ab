"""Servers behind a web panel (3x-ui, Marzban, PasarGuard), reached over its HTTP API.

`http` is the one request helper every panel module uses; `pins` keeps the certificates
of panels the operator trusted by fingerprint (`qrisbot servers trust ID`).
"""

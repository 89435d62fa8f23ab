"""qrisbot: a self-hosted Telegram shop for VPN accounts, paid by QRIS through Pakasir."""

__version__ = "0.1.0"

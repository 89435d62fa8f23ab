"""QRIS payment string -> PNG bytes (pure Python: qrcode + pypng, no Pillow)."""

from __future__ import annotations

import io

import qrcode
import qrcode.constants
from qrcode.image.pure import PyPNGImage


def png(payload: str) -> bytes:
    """A scannable PNG of `payload`, with the quiet zone scanners need."""
    if not payload or len(payload) > 1024:
        raise ValueError("QR payload must be 1-1024 characters")
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=10,
        border=4,
        image_factory=PyPNGImage,
    )
    code.add_data(payload)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    return buffer.getvalue()

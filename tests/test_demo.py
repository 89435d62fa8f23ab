"""`qrisbot demo` runs anywhere, without config, network, root or sshd."""

from __future__ import annotations

import subprocess
import sys


def test_demo_prints_the_whole_purchase_and_saves_the_qr(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "qrisbot", "demo", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    transcript = result.stdout
    for step in ("Buyer > /start", "Buyer > budi_demo", "Buyer taps [Bayar]",
                 "[photo: QRIS code]", "Akun SSH Anda siap", "Password: rahasia123",
                 "sudah diterima"):
        assert step in transcript, step
    png = tmp_path / "qrisbot-demo-qris.png"
    assert png.read_bytes().startswith(b"\x89PNG") and str(png) in transcript

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


def test_interactive_demo_lets_a_person_play_the_buyer(tmp_path):
    typed = "/start\n1\nbudi_play\nrahasia123\n2\n99\n1\npay\nquit\n"
    result = subprocess.run(
        [sys.executable, "-m", "qrisbot", "demo", "--interactive", "--out", str(tmp_path)],
        input=typed, capture_output=True, text=True, timeout=180, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[1 Singapore SSH · SSH · Rp10.000/bln]" in out  # buttons picked by number
    assert "Durasi: 2 bulan\n  Harga: Rp20.000\n  Biaya QRIS: Rp450\n  Total bayar: Rp20.450" in out
    assert "(no button 99 on the last message)" in out
    assert "Payment network > order VPN" in out
    account = out[out.index("Akun SSH Anda siap"):]
    assert "Username: budi_play" in account and "Password: rahasia123" in account
    assert (tmp_path / "qrisbot-demo-qris.png").read_bytes().startswith(b"\x89PNG")
    assert out.rstrip().endswith("Demo finished.")

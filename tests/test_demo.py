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


def test_demo_in_english_takes_the_free_trial_and_shows_the_sellers_admin_view(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "qrisbot", "demo", "--lang", "en", "--trial", "--admin",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Buyer taps [🎁 Free trial]" in out
    trial = out[out.index("Your SSH trial account is ready"):]
    assert "Username: trial" in trial and "Password: " in trial
    seller = out[out.index("Admin > /admin"):]
    assert "Trials today: 1" in seller and "Active: sg1 1" in seller
    assert "Admin taps [Servers]" in seller and "Sold 1 · capacity left 49" in seller
    assert "[photo: QRIS code]" not in out and not (tmp_path / "qrisbot-demo-qris.png").exists()
    assert out.rstrip().endswith("the buyer took the free trial and received the account.")


def read_until(process: subprocess.Popen[bytes], needle: str, seconds: float) -> str:
    """What the process printed, up to and including `needle` (fails after `seconds`)."""
    import os
    import select
    import time

    assert process.stdout is not None
    seen, deadline = "", time.monotonic() + seconds
    while needle not in seen:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([process.stdout], [], [], max(left, 0))
        chunk = os.read(process.stdout.fileno(), 65536).decode() if ready else ""
        assert chunk, f"no {needle!r} within {seconds} s; printed so far:\n{seen}"
        seen += chunk
    return seen


def test_interactive_demo_takes_a_number_as_text_and_says_when_the_qr_runs_out(tmp_path):
    import os

    process = subprocess.Popen(
        [sys.executable, "-m", "qrisbot", "demo", "--interactive", "--pay-within", "30",
         "--out", str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    assert process.stdin is not None
    try:
        # A password of digits is a password, not button 12345678 (the prompt has one).
        process.stdin.write(b"/start\n1\nbudi_play\n12345678\n1\n1\n")
        process.stdin.flush()
        out = read_until(process, "Scan QRIS ini", 60)
        assert "Buyer > 12345678" in out and "no button" not in out
        # Nobody types: the QR running out is printed when it happens.
        out = read_until(process, "Waktu pembayaran habis", 60)
        assert "Bot (deleted its message) [photo: QRIS code]" in out
        process.stdin.write(b"quit\n")
        process.stdin.flush()
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()

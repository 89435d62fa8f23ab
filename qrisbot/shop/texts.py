"""Every user-facing string, Indonesian first, English second. HTML parse mode.

`text(key, lang, **values)` escapes every value unless it is already `Html`.
"""

from __future__ import annotations

import html
from typing import Final


class Html(str):
    """A string that is already valid Telegram HTML and must not be escaped again."""


TEXTS: Final[dict[str, tuple[str, str]]] = {
    "greeting": (
        "Selamat datang di <b>{shop}</b>!\nPilih server untuk membeli akun VPN. "
        "Pembayaran lewat QRIS, akun dikirim otomatis dalam hitungan detik.",
        "Welcome to <b>{shop}</b>!\nPick a server to buy a VPN account. "
        "You pay by QRIS and receive the account automatically within seconds.",
    ),
    "no_servers": (
        "Maaf, belum ada server yang dijual saat ini.",
        "Sorry, no servers are on sale right now.",
    ),
    "server_button": ("{name} · {protocol} · {price}/bln", "{name} · {protocol} · {price}/mo"),
    "server_button_full": ("{name} · {protocol} · PENUH", "{name} · {protocol} · FULL"),
    "help": (
        "<b>Cara membeli</b>\n1. /start lalu pilih server\n2. Ketik username\n"
        "3. Ketik password (khusus SSH)\n4. Pilih durasi\n5. Periksa total bayar lalu "
        "tekan Bayar\n6. Scan QRIS dan bayar sebelum batas waktu; 🔄 Cek pembayaran di "
        "pesan QRIS memeriksanya saat itu juga\n7. Akun dikirim otomatis setelah "
        "pembayaran masuk, dengan bukti pembayarannya\n\n"
        "👤 /akun (Akun saya): akun Anda, detailnya, dan Perpanjang.\n{extras}"
        "/cancel membatalkan pembelian kapan saja.",
        "<b>How to buy</b>\n1. /start and pick a server\n2. Type a username\n"
        "3. Type a password (SSH only)\n4. Pick a duration\n5. Check the total and press "
        "Pay\n6. Scan the QRIS and pay before the deadline; 🔄 Check payment on the QRIS "
        "message checks it right away\n7. The account arrives automatically once the "
        "payment lands, with its receipt\n\n"
        "👤 /akun (My accounts): your accounts, their details, and Renew.\n{extras}"
        "/cancel ends the purchase at any time.",
    ),
    "help_trial": (
        "🎁 Coba gratis (di /start): akun trial {hours} jam, sekali untuk setiap pengguna.\n",
        "🎁 Free trial (on /start): a {hours}-hour trial account, once per user.\n",
    ),
    "help_claim": (
        "➕ Tambah akun lama (di /akun): akun yang Anda beli sebelum bot ini ada menjadi "
        "milik Anda di sini, untuk dilihat dan diperpanjang.\n",
        "➕ Add an existing account (in /akun): an account you bought before this bot "
        "becomes yours here, to see and renew.\n",
    ),
    "help_seller": ("\n<b>Dari penjual</b>\n{help}", "\n<b>From the seller</b>\n{help}"),
    "button_contact": ("💬 Hubungi penjual", "💬 Contact the seller"),
    "contact": ("Hubungi penjual: {link}", "Contact the seller: {link}"),
    "channel_join": (
        "Untuk memakai {shop}, join dulu channel {link}, lalu tekan <b>Sudah join</b>.",
        "To use {shop}, first join the channel {link}, then press <b>Joined</b>.",
    ),
    "channel_not_joined": (
        "Anda belum terlihat di channel {link}. Join dulu, lalu tekan <b>Sudah join</b> "
        "lagi.",
        "You are not in the channel {link} yet. Join it, then press <b>Joined</b> again.",
    ),
    "button_joined": ("✅ Sudah join", "✅ Joined"),
    "notify_channel_unchecked": (
        "⚠️ Bot tidak bisa memeriksa siapa yang sudah join {channel} ({error}). Sampai "
        "beres, pembeli dibiarkan lewat tanpa diperiksa. Jadikan bot admin channel itu "
        "(tanpa hak apa pun), atau periksa [shop] join_channel; "
        "<code>qrisbot check-config --online</code> memastikannya.",
        "⚠️ The bot cannot check who has joined {channel} ({error}). Until that is fixed, "
        "buyers are let through unchecked. Make the bot an admin of that channel (no "
        "rights needed), or check [shop] join_channel; "
        "<code>qrisbot check-config --online</code> confirms it.",
    ),
    "group_only_private": (
        "Silakan chat saya secara pribadi untuk membeli.",
        "Please message me privately to buy.",
    ),
    "server_full": (
        "Server {name} sudah penuh. Silakan pilih server lain.",
        "Server {name} is full. Please pick another server.",
    ),
    "server_unavailable": (
        "Server ini tidak tersedia lagi. Silakan /start ulang.",
        "This server is no longer available. Please /start again.",
    ),
    "ask_username": (
        "Server: <b>{name}</b> ({protocol})\nKetik <b>username</b> yang diinginkan.\n"
        "Aturan: 3-16 karakter, huruf kecil, angka atau _, diawali huruf.",
        "Server: <b>{name}</b> ({protocol})\nType the <b>username</b> you want.\n"
        "Rule: 3-16 characters, lower-case letters, digits or _, starting with a letter.",
    ),
    "bad_username": (
        "Username tidak valid. Gunakan 3-16 karakter: huruf kecil, angka atau _, "
        "diawali huruf (contoh: budi_99). Coba lagi.",
        "That username is not valid. Use 3-16 characters: lower-case letters, digits or _, "
        "starting with a letter (e.g. budi_99). Try again.",
    ),
    "username_reserved": (
        "Nama ini tidak bisa dipakai: <b>{username}</b> disimpan untuk sistem server. "
        "Ketik username lain.",
        "This name cannot be used: <b>{username}</b> is kept for the server's system. "
        "Type another username.",
    ),
    "username_taken": (
        "Username <b>{username}</b> sudah dipakai di server ini. Ketik username lain.",
        "The username <b>{username}</b> is already taken on this server. Type another one.",
    ),
    "server_unreachable": (
        "Server sedang tidak bisa dihubungi, jadi username belum bisa diperiksa. "
        "Coba lagi sebentar lagi, atau pilih server lain.",
        "The server cannot be reached right now, so the username could not be checked. "
        "Try again shortly, or pick another server.",
    ),
    "ask_password": (
        "Ketik <b>password</b> untuk akun SSH: 6-32 karakter, tanpa spasi dan tanpa ':'.\n"
        "Pesan berisi password akan dihapus setelah dibaca.",
        "Type a <b>password</b> for the SSH account: 6-32 characters, no spaces and no ':'.\n"
        "The message with the password will be deleted after reading.",
    ),
    "bad_password": (
        "Password tidak valid: 6-32 karakter yang terlihat, tanpa spasi dan tanpa ':'. "
        "Coba lagi.",
        "That password is not valid: 6-32 visible characters, no spaces and no ':'. Try again.",
    ),
    "ask_duration": ("Pilih <b>durasi</b>:", "Pick the <b>duration</b>:"),
    "duration_button": ("{months} · {price}", "{months} · {price}"),
    "confirm": (
        "<b>Periksa pesanan</b>\nServer: {server} ({protocol})\nUsername: <code>{username}"
        "</code>\nDurasi: {months}\n{prices}\n\n"
        "Tekan Bayar untuk membuat kode QRIS.",
        "<b>Check your order</b>\nServer: {server} ({protocol})\nUsername: <code>{username}"
        "</code>\nDuration: {months}\n{prices}\n\n"
        "Press Pay to get the QRIS code.",
    ),
    "prices": (
        "Harga: {price}\nBiaya QRIS: {fee}\nTotal bayar: <b>{total}</b>",
        "Price: {price}\nQRIS fee: {fee}\nTotal to pay: <b>{total}</b>",
    ),
    "prices_no_fee": (
        "Harga: {price}\nTotal bayar: <b>{price} + biaya QRIS</b>",
        "Price: {price}\nTotal to pay: <b>{price} + the QRIS fee</b>",
    ),
    # Promo codes (issue 19 §2) and the breakdown the confirmation shows.
    "prices_discount": (
        "Harga: {price}\nDiskon ({code}): −{discount}\nBiaya QRIS: {fee}\n"
        "Total bayar: <b>{total}</b>",
        "Price: {price}\nDiscount ({code}): −{discount}\nQRIS fee: {fee}\n"
        "Total to pay: <b>{total}</b>",
    ),
    "prices_discount_no_fee": (
        "Harga: {price}\nDiskon ({code}): −{discount}\n"
        "Total bayar: <b>{net} + biaya QRIS</b>",
        "Price: {price}\nDiscount ({code}): −{discount}\n"
        "Total to pay: <b>{net} + the QRIS fee</b>",
    ),
    "button_promo": ("🎟 Punya kode promo?", "🎟 Have a promo code?"),
    "button_back": ("« Kembali", "« Back"),
    # Personal offers (issue 19 §3, §6): applied by themselves, shown in the breakdown.
    "offer_label": ("Diskon khusus untuk Anda -{percent}%", "Your personal discount -{percent}%"),
    "prices_offer": (
        "Harga: {price}\n{label}: −{discount}\nBiaya QRIS: {fee}\nTotal bayar: <b>{total}</b>",
        "Price: {price}\n{label}: −{discount}\nQRIS fee: {fee}\nTotal to pay: <b>{total}</b>",
    ),
    "prices_offer_no_fee": (
        "Harga: {price}\n{label}: −{discount}\nTotal bayar: <b>{net} + biaya QRIS</b>",
        "Price: {price}\n{label}: −{discount}\nTotal to pay: <b>{net} + the QRIS fee</b>",
    ),
    "offer_beats_promo": (
        "\n<i>Diskon khusus Anda lebih besar, jadi kode promo {code} tidak dipakai "
        "(hanya satu diskon per order).</i>",
        "\n<i>Your personal discount is bigger, so the promo code {code} is not used "
        "(one discount per order).</i>",
    ),
    "promo_beats_offer": (
        "\n<i>Kode promo {code} lebih besar, jadi diskon khusus Anda tidak dipakai dan tetap "
        "tersimpan (hanya satu diskon per order).</i>",
        "\n<i>The promo code {code} is bigger, so your personal discount is not used and "
        "stays yours (one discount per order).</i>",
    ),
    "offer_gone": (
        "Diskon khusus Anda sudah tidak berlaku (terpakai atau waktunya habis).",
        "Your personal discount is no longer valid (used, or its time ran out).",
    ),
    "winback_offer": (
        "🎁 Kami rindu Anda! <b>Diskon khusus untuk Anda -{percent}%</b> untuk pembelian atau "
        "perpanjangan berikutnya, otomatis dipotong saat membayar.\n"
        "Berlaku sampai {until}.",
        "🎁 We miss you! <b>Your personal discount -{percent}%</b> on your next purchase or "
        "renewal, taken off by itself when you pay.\nValid until {until}.",
    ),
    "button_winback_shop": ("🛒 Belanja sekarang", "🛒 Shop now"),
    "ask_promo": ("Ketik kode promo Anda:", "Type your promo code:"),
    "promo_unknown": (
        "Kode promo itu tidak dikenal. Periksa ejaannya, atau lanjutkan tanpa kode.",
        "That promo code is not known. Check how it is spelled, or go on without one.",
    ),
    "promo_expired": ("Kode promo itu sudah tidak berlaku.",
                      "That promo code is no longer valid."),
    "promo_used_up": ("Kode promo itu sudah habis dipakai.",
                      "That promo code has been used up."),
    "promo_not_for_server": ("Kode promo itu tidak berlaku untuk server ini.",
                             "That promo code is not valid on this server."),
    "promo_renewals_only": ("Kode promo itu hanya untuk perpanjangan.",
                            "That promo code is for renewals only."),
    "promo_purchases_only": ("Kode promo itu hanya untuk pembelian akun baru.",
                             "That promo code is for new accounts only."),
    "promo_not_for_you": ("Kode promo itu tidak bisa Anda pakai lagi.",
                          "You cannot use that promo code (any more)."),
    "price_changed": (
        "Harga berubah sejak ditampilkan. Periksa lagi sebelum membayar:",
        "The price changed since it was shown. Please check it again before paying:",
    ),
    "sales_line_discounts": (
        "{orders} order · kotor {gross} · diskon {discounts} · bersih {amount} · biaya {fees}",
        "{orders} order(s) · gross {gross} · discounts {discounts} · net {amount} · "
        "fees {fees}",
    ),
    "admin_button_promos": ("Kode promo", "Promo codes"),
    "admin_promos_title": ("<b>Kode promo</b>", "<b>Promo codes</b>"),
    "admin_promo_line": (
        "<code>{code}</code> · {off} · dipakai {uses} · sisa {left} · s.d. {until}{state}",
        "<code>{code}</code> · {off} · used {uses} · left {left} · until {until}{state}",
    ),
    "promo_unlimited": ("tak terbatas", "unlimited"),
    "promo_no_end": ("-", "-"),
    "promo_state_disabled": (" · <b>nonaktif</b>", " · <b>disabled</b>"),
    "promo_state_ended": (" · <b>berakhir</b>", " · <b>ended</b>"),
    "admin_button_resellers": ("Reseller", "Resellers"),
    "admin_resellers_title": ("<b>Penjualan reseller</b> (30 hari)",
                              "<b>Reseller sales</b> (30 days)"),
    "admin_reseller_line": (
        "<code>{user_id}</code> · {orders} order · {amount} · {terms}",
        "<code>{user_id}</code> · {orders} order(s) · {amount} · {terms}",
    ),
    "reseller_discount": ("diskon {percent} %", "{percent} % off"),
    "reseller_prices": ("harga sendiri: {prices}", "own prices: {prices}"),
    "month": ("{n} bulan", "{n} month"),
    "months": ("{n} bulan", "{n} months"),
    "button_pay": ("Bayar", "Pay"),
    "button_cancel": ("Batal", "Cancel"),
    "button_retry": ("Coba lagi", "Try again"),
    "qr_caption": (
        "<b>Scan QRIS ini untuk membayar</b>\nOrder: <code>{order_id}</code>\n"
        "Harga: {price}\nBiaya: {fee}\n<b>Total bayar: {total}</b>\n"
        "Bayar sebelum: {deadline}\n\nAkun dikirim otomatis setelah pembayaran masuk.",
        "<b>Scan this QRIS to pay</b>\nOrder: <code>{order_id}</code>\n"
        "Price: {price}\nFee: {fee}\n<b>Total to pay: {total}</b>\n"
        "Pay before: {deadline}\n\nThe account is sent automatically once the payment lands.",
    ),
    "qr_caption_renewal": (
        "<b>Scan QRIS ini untuk memperpanjang {username}</b> ({months})\nOrder: "
        "<code>{order_id}</code>\nHarga: {price}\nBiaya: {fee}\n<b>Total bayar: {total}</b>\n"
        "Bayar sebelum: {deadline}\n\nAkun diperpanjang otomatis setelah pembayaran masuk.",
        "<b>Scan this QRIS to renew {username}</b> ({months})\nOrder: <code>{order_id}</code>"
        "\nPrice: {price}\nFee: {fee}\n<b>Total to pay: {total}</b>\n"
        "Pay before: {deadline}\n\nThe account is renewed automatically once the payment "
        "lands.",
    ),
    "button_check": ("🔄 Cek pembayaran", "🔄 Check payment"),
    "button_show_qr": ("Tampilkan QRIS", "Show the QRIS"),
    "qr_moved_caption": ("QRIS order <code>{order_id}</code> dikirim ulang di bawah.",
                         "The QRIS of order <code>{order_id}</code> was sent again below."),
    "awaiting_note": (
        "⏳ Anda masih punya pesanan <code>{order_id}</code> ({what}) yang menunggu "
        "pembayaran <b>{total}</b> sampai {deadline}. Tampilkan QRIS-nya lagi, cek "
        "pembayarannya, atau batalkan.",
        "⏳ You still have order <code>{order_id}</code> ({what}) awaiting a payment of "
        "<b>{total}</b> until {deadline}. Show its QRIS again, check the payment, or cancel "
        "it.",
    ),
    "what_purchase": ("akun {protocol} {username} di {server}, {months}",
                      "a {protocol} account {username} on {server}, {months}"),
    "what_renewal": ("perpanjangan {username} di {server}, {months}",
                     "renewing {username} on {server}, {months}"),
    "payment_not_yet": (
        "⏳ Pembayaran order <code>{order_id}</code> belum masuk. Bayar <b>{total}</b> "
        "dengan QRIS-nya sebelum {deadline}; {then}",
        "⏳ The payment for order <code>{order_id}</code> has not landed yet. Pay "
        "<b>{total}</b> with its QRIS before {deadline}; {then}",
    ),
    "then_purchase": ("akun dikirim otomatis begitu pembayaran masuk.",
                      "the account is sent automatically once the payment lands."),
    "then_renewal": ("akun diperpanjang otomatis begitu pembayaran masuk.",
                     "the account is renewed automatically once the payment lands."),
    "payment_seen": (
        "✅ Pembayaran order <code>{order_id}</code> sudah masuk. Akun sedang dibuat, "
        "tunggu sebentar…",
        "✅ The payment for order <code>{order_id}</code> has landed. Your account is being "
        "created, one moment…",
    ),
    "payment_seen_renewal": (
        "✅ Pembayaran order <code>{order_id}</code> sudah masuk. Akun sedang diperpanjang, "
        "tunggu sebentar…",
        "✅ The payment for order <code>{order_id}</code> has landed. Your account is being "
        "renewed, one moment…",
    ),
    "payment_check_failed": (
        "Pembayaran order <code>{order_id}</code> belum bisa dicek sekarang (Pakasir tidak "
        "menjawab). Toko terus mengeceknya otomatis; pembayaran yang masuk tetap diproses.",
        "The payment for order <code>{order_id}</code> cannot be checked right now (Pakasir "
        "does not answer). The shop keeps checking by itself; a payment that lands is still "
        "processed.",
    ),
    "order_done": (
        "Order <code>{order_id}</code> sudah selesai: akunnya sudah dikirim. Lihat lagi "
        "lewat /akun.",
        "Order <code>{order_id}</code> is done: the account was sent. See it again with /akun.",
    ),
    "order_done_renewal": (
        "Order <code>{order_id}</code> sudah selesai: akunnya sudah diperpanjang. Lihat "
        "lewat /akun.",
        "Order <code>{order_id}</code> is done: the account was renewed. See it with /akun.",
    ),
    "order_cancelled_unpaid": (
        "Order <code>{order_id}</code> sudah dibatalkan dan Pakasir tidak mencatat "
        "pembayarannya. Jika Anda sudah membayar, hubungi admin dengan menyebut order ini.",
        "Order <code>{order_id}</code> was cancelled and Pakasir has no payment for it. If "
        "you did pay, contact the admin quoting this order.",
    ),
    "order_expired_unpaid": (
        "Waktu bayar order <code>{order_id}</code> sudah habis dan Pakasir tidak mencatat "
        "pembayarannya. Jika Anda sudah membayar, hubungi admin dengan menyebut order ini.",
        "The payment time of order <code>{order_id}</code> ran out and Pakasir has no "
        "payment for it. If you did pay, contact the admin quoting this order.",
    ),
    "qr_failed": (
        "Maaf, kode QRIS gagal dibuat. Belum ada uang yang berpindah. Silakan coba lagi.",
        "Sorry, the QRIS code could not be created. No money has moved. Please try again.",
    ),
    "paid_caption": (
        "✅ Pembayaran untuk order <code>{order_id}</code> sudah diterima.\n"
        "Akun sedang dibuat, tunggu sebentar…",
        "✅ Payment for order <code>{order_id}</code> received.\n"
        "Your account is being created, one moment…",
    ),
    "paid_caption_renewal": (
        "✅ Pembayaran untuk order <code>{order_id}</code> sudah diterima.\n"
        "Akun sedang diperpanjang, tunggu sebentar…",
        "✅ Payment for order <code>{order_id}</code> received.\n"
        "Your account is being renewed, one moment…",
    ),
    "expired_caption": (
        "⌛ Waktu pembayaran order <code>{order_id}</code> habis; kode QRIS ini tidak "
        "berlaku lagi.",
        "⌛ The payment time for order <code>{order_id}</code> is over; this QRIS code is no "
        "longer valid.",
    ),
    "expired": (
        "Waktu pembayaran habis dan pesanan dibatalkan. Ketik /start untuk membeli lagi.",
        "The payment time ran out and the order was cancelled. Type /start to buy again.",
    ),
    "expired_renewal": (
        "Waktu pembayaran habis dan perpanjangan dibatalkan; akun tetap aktif sampai "
        "tanggal semula. Perpanjang lagi lewat /akun.",
        "The payment time ran out and the renewal was cancelled; the account keeps its "
        "date. Renew again from /akun.",
    ),
    "cancelled": (
        "Pembelian dibatalkan. Ketik /start untuk mulai lagi.",
        "Purchase cancelled. Type /start to start again.",
    ),
    "cancelled_renewal": (
        "Perpanjangan dibatalkan; akun tetap aktif sampai tanggal semula.",
        "Renewal cancelled; the account keeps its date.",
    ),
    "cancelled_caption": (
        "❌ Order <code>{order_id}</code> dibatalkan; kode QRIS ini tidak berlaku lagi.",
        "❌ Order <code>{order_id}</code> was cancelled; this QRIS code is no longer valid.",
    ),
    "nothing_to_cancel": (
        "Tidak ada pembelian yang sedang berjalan. Ketik /start untuk mulai.",
        "There is no purchase in progress. Type /start to begin.",
    ),
    "already_paid": (
        "Pembayaran order ini sudah masuk, jadi tidak bisa dibatalkan. Akun sedang dibuat.",
        "This order is already paid, so it cannot be cancelled. The account is being made.",
    ),
    "already_paid_renewal": (
        "Pembayaran order ini sudah masuk, jadi tidak bisa dibatalkan. Akun sedang "
        "diperpanjang.",
        "This order is already paid, so it cannot be cancelled. The account is being "
        "renewed.",
    ),
    "open_order_exists": (
        "Anda masih punya pesanan <code>{order_id}</code> yang menunggu pembayaran. "
        "Bayar QRIS-nya atau tekan Batal di pesan QRIS itu dulu.",
        "You still have order <code>{order_id}</code> awaiting payment. "
        "Pay its QRIS or press Cancel on that QRIS message first.",
    ),
    "provision_delayed": (
        "Pembayaran Anda <b>aman</b> dan sudah tercatat (order <code>{order_id}</code>). "
        "Server sedang bermasalah, jadi akun belum bisa dibuat; kami mencoba lagi otomatis "
        "dan akun akan dikirim ke sini begitu berhasil.",
        "Your payment is <b>safe</b> and recorded (order <code>{order_id}</code>). "
        "The server is having trouble, so the account could not be created yet; we keep "
        "trying automatically and will send it here as soon as it works.",
    ),
    "provision_delayed_renewal": (
        "Pembayaran Anda <b>aman</b> dan sudah tercatat (order <code>{order_id}</code>). "
        "Server sedang bermasalah, jadi akun belum bisa diperpanjang; kami mencoba lagi "
        "otomatis dan memberi tahu Anda di sini begitu berhasil.",
        "Your payment is <b>safe</b> and recorded (order <code>{order_id}</code>). "
        "The server is having trouble, so the account could not be renewed yet; we keep "
        "trying automatically and will tell you here as soon as it works.",
    ),
    "provision_needs_admin": (
        "Pembayaran Anda <b>aman</b> (order <code>{order_id}</code>), tetapi akun belum bisa "
        "dibuat otomatis. Admin sudah diberi tahu dan akan menyelesaikannya.",
        "Your payment is <b>safe</b> (order <code>{order_id}</code>), but the account could "
        "not be created automatically. The admin has been told and will sort it out.",
    ),
    "renewal_needs_admin": (
        "Pembayaran Anda <b>aman</b> (order <code>{order_id}</code>), tetapi akun belum bisa "
        "diperpanjang otomatis. Admin sudah diberi tahu dan akan menyelesaikannya.",
        "Your payment is <b>safe</b> (order <code>{order_id}</code>), but the account could "
        "not be renewed automatically. The admin has been told and will sort it out.",
    ),
    "notify_removal_foreign": (
        "⚠️ Akun <b>{username}</b> di {server} tidak dihapus dari server: nama itu sekarang "
        "milik pengguna lain, bukan akun yang dicatat toko. Toko mencatat akun ini sudah "
        "dihapus; pengguna di server dibiarkan.",
        "⚠️ <b>{username}</b> on {server} was not removed from the server: the name belongs "
        "to another user now, not the account the shop recorded. The shop records this "
        "account as removed; the user on the server is left alone.",
    ),
    "cancel_failed": (
        "Pembatalan belum berhasil di Pakasir. Coba lagi sebentar lagi; "
        "kode QRIS juga akan kedaluwarsa sendiri.",
        "Cancelling did not go through at Pakasir. Try again shortly; "
        "the QRIS code also expires by itself.",
    ),
    "error": (
        "Maaf, terjadi kesalahan. Silakan coba lagi atau ketik /start.",
        "Sorry, something went wrong. Please try again or type /start.",
    ),
    "stale_button": (
        "Tombol ini sudah tidak berlaku. Ketik /start untuk mulai lagi.",
        "This button is no longer valid. Type /start to start again.",
    ),
    "use_buttons": (
        "Silakan pilih dengan tombol di atas, atau /cancel untuk membatalkan.",
        "Please choose with the buttons above, or /cancel to stop.",
    ),
    "unknown_input": (
        "Ketik /start untuk membeli akun VPN, atau /help untuk bantuan.",
        "Type /start to buy a VPN account, or /help for help.",
    ),
    "account_ready": ("🎉 <b>Akun {protocol} Anda siap</b> (order <code>{order_id}</code>)",
                      "🎉 <b>Your {protocol} account is ready</b> (order <code>{order_id}</code>)"),
    "account_extended": (
        "✅ <b>Akun {protocol} Anda diperpanjang sampai {date}</b> (order <code>{order_id}"
        "</code>)",
        "✅ <b>Your {protocol} account is extended until {date}</b> (order <code>{order_id}"
        "</code>)",
    ),
    "receipt": (
        "🧾 <b>Bukti pembayaran</b>\nOrder: <code>{order_id}</code>\n{what}\n"
        "Dibayar: <b>{total}</b> (harga {price} + biaya QRIS {fee})\nWaktu: {when}",
        "🧾 <b>Receipt</b>\nOrder: <code>{order_id}</code>\n{what}\n"
        "Paid: <b>{total}</b> (price {price} + QRIS fee {fee})\nTime: {when}",
    ),
    "receipt_purchase": (
        "Akun {protocol} <code>{username}</code> di {server}: {months} ({days} hari)",
        "{protocol} account <code>{username}</code> on {server}: {months} ({days} days)",
    ),
    "receipt_renewal": (
        "Perpanjangan {protocol} <code>{username}</code> di {server}: +{months} ({days} "
        "hari)",
        "Renewal of {protocol} <code>{username}</code> on {server}: +{months} ({days} days)",
    ),
    "account_relinked": (
        "🔑 <b>Tautan akun {protocol} Anda diperbarui</b>: UUID/kata sandinya diganti di "
        "panel, tautan lama tidak berlaku lagi. Aktif sampai {date} (order <code>{order_id}"
        "</code>)",
        "🔑 <b>Your {protocol} account has new links</b>: its UUID/password was changed on "
        "the panel and the old links no longer work. Active until {date} (order "
        "<code>{order_id}</code>)",
    ),
    "account_detail": ("📄 <b>Akun {protocol} Anda</b> · {server}",
                       "📄 <b>Your {protocol} account</b> · {server}"),
    "account_ssh": (
        "{title}\n"
        "Host: <code>{host}</code>\nUsername: <code>{username}</code>\n"
        "Password: <code>{password}</code>\nAktif sampai: <b>{expires}</b>\n{ports}"
        "\nPayload WS:\n<code>{payload}</code>",
        "{title}\n"
        "Host: <code>{host}</code>\nUsername: <code>{username}</code>\n"
        "Password: <code>{password}</code>\nValid until: <b>{expires}</b>\n{ports}"
        "\nWS payload:\n<code>{payload}</code>",
    ),
    "account_xray": (
        "{title}\n"
        "Remarks: <code>{username}</code>\nDomain: <code>{host}</code>\n{ports}"
        "{secret_label}: <code>{secret}</code>\nNetwork: {network}\nPath: <code>{path}"
        "</code>\nAktif sampai: <b>{expires}</b>\n\n{links}",
        "{title}\n"
        "Remarks: <code>{username}</code>\nDomain: <code>{host}</code>\n{ports}"
        "{secret_label}: <code>{secret}</code>\nNetwork: {network}\nPath: <code>{path}"
        "</code>\nValid until: <b>{expires}</b>\n\n{links}",
    ),
    "account_custom": (
        "{title}\n"
        "Host: <code>{host}</code>\nUsername: <code>{username}</code>\n"
        "{secret_label}: <code>{secret}</code>\nAktif sampai: <b>{expires}</b>",
        "{title}\n"
        "Host: <code>{host}</code>\nUsername: <code>{username}</code>\n"
        "{secret_label}: <code>{secret}</code>\nValid until: <b>{expires}</b>",
    ),
    "account_panel": (
        "{title}\n"
        "Remarks: <code>{username}</code>\nDomain: <code>{host}</code>\n"
        "{secret_label}: <code>{secret}</code>\nAktif sampai: <b>{expires}</b>\n"
        "{subscription}\n{links}",
        "{title}\n"
        "Remarks: <code>{username}</code>\nDomain: <code>{host}</code>\n"
        "{secret_label}: <code>{secret}</code>\nValid until: <b>{expires}</b>\n"
        "{subscription}\n{links}",
    ),
    # Detail's traffic line (panel accounts): read from the panel when the buyer asks.
    "traffic_used": ("Kuota: {used} dari {limit} terpakai ({percent}%)",
                     "Traffic: {used} of {limit} used ({percent}%)"),
    "traffic_unlimited": ("Kuota: tanpa batas ({used} terpakai)",
                          "Traffic: unlimited ({used} used)"),
    "traffic_unread": ("Pemakaian kuota tidak bisa dibaca saat ini; coba lagi nanti.",
                       "Traffic use cannot be read right now; try again later."),
    "subscription_line": (
        "\n🔄 <b>Link langganan</b> (tempel di v2rayNG, NekoBox atau Hiddify: akun Anda "
        "selalu terbaru):\n<code>{url}</code>\n",
        "\n🔄 <b>Subscription link</b> (paste it into v2rayNG, NekoBox or Hiddify: your "
        "account stays up to date):\n<code>{url}</code>\n",
    ),
    "port_line": ("{label}: {port}", "{label}: {port}"),
    # --- the buyer's accounts ----------------------------------------------------------------
    "button_my_accounts": ("👤 Akun saya", "👤 My accounts"),
    "button_detail": ("Detail {n}", "Details {n}"),
    "my_accounts_title": ("<b>Akun saya</b>", "<b>My accounts</b>"),
    "my_accounts_none": (
        "Anda belum punya akun. Ketik /start untuk membeli.",
        "You have no accounts yet. Type /start to buy one.",
    ),
    "my_account_line": (
        "{n}. {server} · {protocol} · <code>{username}</code>\n   {status}",
        "{n}. {server} · {protocol} · <code>{username}</code>\n   {status}",
    ),
    "button_renew": ("Perpanjang {n}", "Renew {n}"),
    "button_renew_now": ("🔄 Perpanjang", "🔄 Renew"),
    # Under a reseller's delivered account: the next purchase on the same server.
    "button_buy_again": ("🛒 Beli lagi di {server}", "🛒 Buy again on {server}"),
    "account_ran_out": (
        "⌛ Akun {protocol} <code>{username}</code> di {server} sudah habis (aktif sampai "
        "{date}). Akun akan dihapus pada {removal}; perpanjang sebelum itu untuk tetap "
        "memakainya.",
        "⌛ Your {protocol} account <code>{username}</code> on {server} has run out (valid "
        "until {date}). It will be removed on {removal}; renew it before then to keep it.",
    ),
    "account_removed": (
        "🗑 Akun {protocol} <code>{username}</code> di {server} sudah dihapus karena masa "
        "aktifnya habis ({date}). Ketik /start untuk membeli akun baru.",
        "🗑 Your {protocol} account <code>{username}</code> on {server} was removed: it ran "
        "out on {date}. Type /start to buy a new one.",
    ),
    "reminder": (
        "⏰ Akun {protocol} <code>{username}</code> di {server} {status}.\n"
        "Perpanjang sekarang supaya tidak terputus; sisa hari Anda tidak hilang.",
        "⏰ Your {protocol} account <code>{username}</code> on {server} is {status}.\n"
        "Renew now to stay connected; the days you have left are kept.",
    ),
    "traffic_reminder": (
        "📶 Akun {protocol} <code>{username}</code> di {server} sudah memakai {used} dari "
        "{limit} kuotanya ({percent}%).{renewal}",
        "📶 Your {protocol} account <code>{username}</code> on {server} has used {used} of "
        "its {limit} traffic ({percent}%).{renewal}",
    ),
    "traffic_renewal_adds": (
        "\nPerpanjang sekarang: tiap bulan menambah {quota} kuota, dan sisa kuota Anda "
        "tidak hilang.",
        "\nRenew now: each month adds {quota} of traffic, and what you have left is kept.",
    ),
    "ask_renew_months": (
        "Perpanjang <b>{username}</b> ({protocol}, {server}), aktif sampai {date}.\n"
        "Pilih berapa bulan:",
        "Renew <b>{username}</b> ({protocol}, {server}), valid until {date}.\n"
        "Pick how many months:",
    ),
    "renew_confirm": (
        "<b>Periksa perpanjangan</b>\nServer: {server} ({protocol})\nUsername: <code>{username}"
        "</code>\nAktif sampai: {current}\nSetelah diperpanjang: <b>{new}</b>\n"
        "Durasi: {months}\n{prices}\n\nTekan Bayar untuk membuat QRIS.",
        "<b>Check your renewal</b>\nServer: {server} ({protocol})\nUsername: <code>{username}"
        "</code>\nValid until: {current}\nAfter the renewal: <b>{new}</b>\n"
        "Duration: {months}\n{prices}\n\nPress Pay to get the QRIS code.",
    ),
    "renewal_pending": (
        "Perpanjangan sebelumnya untuk <b>{username}</b> masih diproses. Tunggu sebentar, "
        "lalu coba lagi.",
        "An earlier renewal of <b>{username}</b> is still being applied. Wait a moment, then "
        "try again.",
    ),
    "button_claim": ("➕ Tambah akun lama", "➕ Add an existing account"),
    # Referrals (Ajak teman under Akun saya).
    "button_invite": ("🤝 Ajak teman", "🤝 Invite friends"),
    "invite": (
        "<b>Ajak teman</b>\nBagikan link ini:\n{link}\n\n{reward}\n\n"
        "Teman yang bergabung lewat link Anda: {joined}\nHadiah yang Anda dapat: {rewarded}",
        "<b>Invite friends</b>\nShare this link:\n{link}\n\n{reward}\n\n"
        "Friends who joined through your link: {joined}\nRewards you earned: {rewarded}",
    ),
    "invite_days": (
        "Setiap teman baru yang membeli pertama kali lewat link ini menambah {days} hari "
        "pada akun Anda.",
        "Every new friend who makes their first purchase through this link adds {days} "
        "days to your account.",
    ),
    "invite_percent": (
        "Setiap teman baru yang membeli pertama kali lewat link ini memberi Anda diskon "
        "{percent}% untuk satu pesanan berikutnya.",
        "Every new friend who makes their first purchase through this link gives you "
        "{percent}% off one next order.",
    ),
    "invite_unavailable": (
        "Link ajakan belum bisa dibuat saat ini. Coba lagi sebentar lagi.",
        "The invitation link cannot be made right now. Please try again shortly.",
    ),
    "referral_days_given": (
        "🎉 Hadiah ajak teman: akun <b>{username}</b> Anda bertambah {days} hari.",
        "🎉 Referral reward: your account <b>{username}</b> gets {days} more days.",
    ),
    "referral_choose": (
        "🎉 Teman yang Anda ajak sudah membeli. Hadiah Anda: {days} hari. Pilih akun yang "
        "diperpanjang:",
        "🎉 A friend you invited has bought. Your reward: {days} days. Pick the account to "
        "extend:",
    ),
    "referral_kept": (
        "🎉 Teman yang Anda ajak sudah membeli. Hadiah {days} hari Anda disimpan sampai "
        "Anda punya akun.",
        "🎉 A friend you invited has bought. Your {days}-day reward is kept until you have "
        "an account.",
    ),
    "referral_percent": (
        "🎉 Teman yang Anda ajak sudah membeli. Hadiah Anda: diskon {percent}% untuk "
        "pesanan Anda berikutnya.",
        "🎉 A friend you invited has bought. Your reward: {percent}% off your next order.",
    ),
    "referral_account_button": ("{username} · {server}", "{username} · {server}"),
    "admin_referrers": ("\n\n<b>Pengajak teratas</b>\n{lines}",
                        "\n\n<b>Top referrers</b>\n{lines}"),
    "admin_referrer_line": ("{user}: {joined} bergabung, {rewarded} hadiah",
                            "{user}: {joined} joined, {rewarded} rewarded"),
    "ask_claim_server": (
        "Akun yang Anda beli sebelum bot ini ada? Pilih servernya.",
        "An account you bought before this bot? Pick its server.",
    ),
    "ask_claim_username": ("Ketik <b>username</b> akun itu:",
                           "Type the account's <b>username</b>:"),
    "ask_claim_proof": (
        "Kirim <b>UUID</b> akun itu (atau link vmess/vless lengkapnya), atau untuk Trojan "
        "<b>password</b>-nya / link trojan. Pesan Anda akan dihapus.",
        "Send the account's <b>UUID</b> (or its whole vmess/vless link), or for Trojan its "
        "<b>password</b> / trojan link. Your message will be deleted.",
    ),
    "ask_claim_password": (
        "Kirim <b>password</b> akun SSH itu. Toko memeriksanya dengan login ke server, "
        "tanpa menyimpan apa pun dari percobaan yang salah. Pesan Anda akan dihapus.",
        "Send the SSH account's <b>password</b>. The shop checks it by logging in to the "
        "server and keeps nothing of a wrong attempt. Your message will be deleted.",
    ),
    "claim_server_down": (
        "Server itu tidak dapat dihubungi sekarang, jadi akun belum bisa diperiksa. Coba "
        "lagi nanti lewat /akun → Tambah akun lama.",
        "That server cannot be reached right now, so the account could not be checked. "
        "Try again later through /akun → Add an existing account.",
    ),
    "claim_failed": (
        "Data tidak cocok dengan akun mana pun di server itu. Periksa lagi, lalu coba "
        "/akun → Tambah akun lama.",
        "That does not match any account on that server. Check it, then try /akun → Add an "
        "existing account again.",
    ),
    "claim_too_many": (
        "Terlalu banyak percobaan yang salah. Coba lagi dalam satu jam.",
        "Too many wrong attempts. Try again in an hour.",
    ),
    "claim_done": ("✅ Akun <b>{username}</b> sekarang tercatat milik Anda.",
                   "✅ The account <b>{username}</b> is now yours."),
    "my_account_trial": ("trial, berakhir {when}", "trial, ends {when}"),
    "button_trial": ("🎁 Coba gratis", "🎁 Free trial"),
    "server_choice_button": ("{name} · {protocol}", "{name} · {protocol}"),
    "ask_trial_server": (
        "🎁 <b>Coba gratis {hours} jam</b>\nPilih server. Akun dibuat langsung, tanpa "
        "pembayaran; satu kali untuk setiap pengguna.",
        "🎁 <b>Free {hours}-hour trial</b>\nPick a server. The account is made at once, no "
        "payment; one per user.",
    ),
    "trial_used": (
        "Anda sudah pernah memakai akun trial. Ketik /start untuk membeli akun.",
        "You have already had a trial account. Type /start to buy an account.",
    ),
    "trials_exhausted": (
        "Kuota akun trial hari ini sudah habis. Coba lagi besok, atau ketik /start untuk "
        "membeli.",
        "Today's free trials have all been given. Try again tomorrow, or type /start to buy.",
    ),
    "trial_making": ("⏳ Membuat akun trial Anda…", "⏳ Making your trial account…"),
    "account_trial": (
        "🎁 <b>Akun trial {protocol} Anda siap</b> — berlaku sampai <b>{when}</b> (order "
        "<code>{order_id}</code>)",
        "🎁 <b>Your {protocol} trial account is ready</b> — valid until <b>{when}</b> (order "
        "<code>{order_id}</code>)",
    ),
    "account_removed_by_admin": (
        "🗑 Akun {protocol} <code>{username}</code> di {server} sudah dihapus oleh admin. "
        "Hubungi admin jika ada pertanyaan.",
        "🗑 Your {protocol} account <code>{username}</code> on {server} was removed by the "
        "admin. Contact the admin with any questions.",
    ),
    "account_trial_ended": (
        "⌛ Masa trial akun {protocol} <code>{username}</code> di {server} sudah berakhir dan "
        "akunnya dihapus. Ketik /start untuk membeli akun.",
        "⌛ The trial of your {protocol} account <code>{username}</code> on {server} is over "
        "and the account was removed. Type /start to buy an account.",
    ),
    "my_account_active": ("aktif sampai {date} ({days} hari lagi)",
                          "valid until {date} ({days} days left)"),
    "my_account_last_day": ("aktif sampai hari ini, {date}", "valid until today, {date}"),
    "my_account_expired": ("habis sejak {date}", "expired on {date}"),
    "my_account_removed": ("sudah dihapus (habis {date})", "removed (expired {date})"),
    "command_start": ("Beli akun VPN", "Buy a VPN account"),
    "command_akun": ("Akun saya", "My accounts"),
    "command_help": ("Cara membeli", "How to buy"),
    "command_cancel": ("Batalkan pembelian", "Cancel the purchase"),
    "command_admin": ("Menu admin", "Admin menu"),
    "command_broadcast": ("Kirim pesan ke semua pembeli", "Message every buyer"),
    # --- the seller's side (shop.admins) -------------------------------------------------
    "admin_menu": (
        "<b>Admin · {shop}</b>\n\n<b>Penjualan (sudah dibayar)</b>\nHari ini: {today}\n"
        "7 hari: {week}\n30 hari: {month}\n\n<b>Perpanjangan</b>\nHari ini: {renew_today}\n"
        "7 hari: {renew_week}\n30 hari: {renew_month}\n\n<b>Akun</b>\nAktif: {active}\n"
        "Habis dalam 3 hari: {expiring}\nTrial hari ini: {trials}\n\n"
        "Menunggu pembayaran: {open}\nPerlu perhatian: {attention}",
        "<b>Admin · {shop}</b>\n\n<b>Sales (paid)</b>\nToday: {today}\n"
        "7 days: {week}\n30 days: {month}\n\n<b>Renewals</b>\nToday: {renew_today}\n"
        "7 days: {renew_week}\n30 days: {renew_month}\n\n<b>Accounts</b>\nActive: {active}\n"
        "Running out within 3 days: {expiring}\nTrials today: {trials}\n\n"
        "Awaiting payment: {open}\nNeed attention: {attention}",
    ),
    "sales_line": ("{orders} order · {amount} · biaya {fees}",
                   "{orders} order(s) · {amount} · fees {fees}"),
    "admin_button_open": ("Order terbuka", "Open orders"),
    "admin_button_attention": ("Perlu perhatian ({count})", "Need attention ({count})"),
    "admin_button_servers": ("Server", "Servers"),
    "admin_button_refresh": ("Segarkan", "Refresh"),
    "admin_button_back": ("« Menu", "« Menu"),
    "admin_none": ("Tidak ada.", "None."),
    "list_more": ("… dan {n} lainnya", "… and {n} more"),
    "admin_open_title": ("<b>Menunggu pembayaran</b>", "<b>Awaiting payment</b>"),
    "admin_open_line": (
        "<code>{order_id}</code> · {server} · {username} · {total} · sisa {minutes} mnt",
        "<code>{order_id}</code> · {server} · {username} · {total} · {minutes} min left",
    ),
    "admin_attention_title": ("<b>Perlu perhatian</b>", "<b>Need attention</b>"),
    "admin_attention_line": (
        "{n}. <code>{order_id}</code> · {state} · {server} · {username} · {amount}\n"
        "   {reason}",
        "{n}. <code>{order_id}</code> · {state} · {server} · {username} · {amount}\n"
        "   {reason}",
    ),
    "admin_button_retry": ("🔁 Ulangi #{n}", "🔁 Retry #{n}"),
    "admin_button_refund": ("💸 Refund #{n}", "💸 Refunded #{n}"),
    "admin_refund_confirm": (
        "Tandai order <code>{order_id}</code> ({username}, {amount}) sebagai <b>sudah "
        "di-refund</b>? Pastikan uangnya sudah Anda kembalikan ke pembeli.",
        "Mark order <code>{order_id}</code> ({username}, {amount}) as <b>refunded</b>? "
        "Make sure you have returned the money to the buyer.",
    ),
    "admin_button_refund_yes": ("Ya, sudah di-refund", "Yes, refunded"),
    "admin_button_no": ("Tidak", "No"),
    "admin_refunded": ("Order <code>{order_id}</code> ditandai sudah di-refund ({by}).",
                       "Order <code>{order_id}</code> marked refunded ({by})."),
    "admin_retrying": ("Order <code>{order_id}</code> dicoba lagi sekarang.",
                       "Retrying order <code>{order_id}</code> now."),
    "admin_not_failed": (
        "Order <code>{order_id}</code> sekarang berstatus {state}; tidak ada yang diubah.",
        "Order <code>{order_id}</code> is now {state}; nothing was changed.",
    ),
    "admin_servers_title": ("<b>Server</b>", "<b>Servers</b>"),
    "admin_server_line": (
        "<b>{name}</b> ({server_id}, {protocol}) · {status}\nTerjual {sold} · sisa kapasitas "
        "{left}\nHasil terakhir: {last}",
        "<b>{name}</b> ({server_id}, {protocol}) · {status}\nSold {sold} · capacity left "
        "{left}\nLast result: {last}",
    ),
    "server_on": ("dijual", "on sale"),
    "server_off": ("NONAKTIF", "DISABLED"),
    "server_last_none": ("belum ada", "none yet"),
    "server_last_ok": ("OK {when}", "OK {when}"),
    "server_last_failed": ("GAGAL {when}: {detail}", "FAILED {when}: {detail}"),
    "admin_button_enable": ("Aktifkan {name}", "Enable {name}"),
    "admin_button_disable": ("Nonaktifkan {name}", "Disable {name}"),
    # The sales chart (/admin -> Grafik; shop.summary_chart). Labels inside the picture are
    # plain text.
    "admin_button_chart": ("📈 Grafik", "📈 Chart"),
    "chart_title": ("Penjualan 30 hari · {shop}", "Sales, 30 days · {shop}"),
    "chart_period": ("{first} – {last} · waktu {zone}", "{first} – {last} · {zone} time"),
    "chart_new": ("Baru", "New"),
    "chart_renewals": ("Perpanjangan", "Renewals"),
    "chart_active": ("Akun aktif", "Active accounts"),
    "chart_months": ("Jan Feb Mar Apr Mei Jun Jul Agu Sep Okt Nov Des",
                     "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec"),
    "chart_caption": (
        "📈 <b>Penjualan 30 hari · {shop}</b>\n{first} – {last}\nBaru: {new_orders} order · "
        "{new}\nPerpanjangan: {renewal_orders} order · {renewals}\nTotal: {total}\n"
        "Akun aktif sekarang: {active}",
        "📈 <b>Sales, 30 days · {shop}</b>\n{first} – {last}\nNew: {new_orders} order(s) · "
        "{new}\nRenewals: {renewal_orders} order(s) · {renewals}\nTotal: {total}\n"
        "Active accounts now: {active}",
    ),
    "chart_failed": ("Grafik tidak bisa dibuat saat ini (lihat log).",
                     "The chart could not be drawn right now (see the log)."),
    "buyer_refunded": (
        "Order <code>{order_id}</code>: pembayaran Anda sudah dikembalikan (refund) oleh admin.",
        "Order <code>{order_id}</code>: the admin has refunded your payment.",
    ),
    "notify_paid": (
        "💰 Lunas <code>{order_id}</code> · {server} · {username} · {months} bln · {amount}",
        "💰 Paid <code>{order_id}</code> · {server} · {username} · {months} mo · {amount}",
    ),
    "notify_provision_failed": (
        "⚠️ Akun order <code>{order_id}</code> gagal dibuat di {server}: {error}\n"
        "Dicoba lagi otomatis.",
        "⚠️ Creating the account of order <code>{order_id}</code> on {server} failed: "
        "{error}\nRetrying automatically.",
    ),
    "notify_needs_admin": (
        "🚨 Order <code>{order_id}</code> ({server}, {username}) perlu Anda: {reason}\n"
        "Buka /admin untuk Ulangi atau Refund.",
        "🚨 Order <code>{order_id}</code> ({server}, {username}) needs you: {reason}\n"
        "Open /admin to Retry or mark it Refunded.",
    ),
    "notify_unsettled": (
        "⏳ Waktu bayar order <code>{order_id}</code> sudah habis, tetapi Pakasir belum "
        "memastikan QRIS-nya tidak bisa dibayar lagi ({reason}). Order tetap dipantau; "
        "pembayaran yang masuk tetap diproses.",
        "⏳ Order <code>{order_id}</code> ran out of time, but Pakasir has not confirmed that "
        "its QRIS can no longer be paid ({reason}). The order is still watched; a payment "
        "that arrives is still fulfilled.",
    ),
    "notify_undelivered": (
        "📭 Akun order <code>{order_id}</code> ({username}) sudah dibuat tetapi tidak bisa "
        "dikirim: {reason}. Akan dikirim otomatis begitu pembeli menulis ke bot lagi.",
        "📭 The account of order <code>{order_id}</code> ({username}) was made but could not "
        "be sent: {reason}. It goes out by itself as soon as the buyer writes to the bot again.",
    ),
    "notify_conflict": (
        "⚠️ Program lain sedang memakai token bot ini (getUpdates). Hanya satu salinan bot "
        "yang boleh berjalan; matikan yang lain. Pesan pembeli tertunda sampai itu beres.",
        "⚠️ Another program is using this bot's token (getUpdates). Only one copy of the bot "
        "may run; stop the other one. Buyers' messages wait until then.",
    ),
    "notify_pakasir_down": (
        "🔴 Pakasir tidak bisa dihubungi sejak lebih dari semenit: {error}. Pembayaran yang "
        "masuk tetap tercatat di Pakasir dan akan diproses begitu Pakasir menjawab lagi.",
        "🔴 Pakasir has not answered for over a minute: {error}. Payments made meanwhile are "
        "recorded at Pakasir and are processed as soon as it answers again.",
    ),
    "notify_pakasir_up": ("🟢 Pakasir menjawab lagi.", "🟢 Pakasir answers again."),
    "notify_server_down": ("🔴 Server {name} tidak menjawab: {error}",
                           "🔴 Server {name} stopped answering: {error}"),
    "notify_server_up": ("🟢 Server {name} menjawab lagi.", "🟢 Server {name} answers again."),
    "notify_daily": (
        "📊 <b>Ringkasan 24 jam · {shop}</b>\nDibayar: {sales}\nTermasuk perpanjangan: "
        "{renewals}\nAkun dihapus: {removed}\nMenunggu pembayaran: {open}\n"
        "Perlu perhatian: {attention}",
        "📊 <b>Last 24 hours · {shop}</b>\nPaid: {sales}\nOf which renewals: {renewals}\n"
        "Accounts removed: {removed}\nAwaiting payment: {open}\nNeed attention: {attention}",
    ),
    "drift_title": (
        "🔎 <b>Pemeriksaan harian server</b>: akun di server berbeda dengan catatan toko "
        "(diubah lewat menu autoscript?). Tidak ada yang diubah; "
        "<code>qrisbot servers reconcile ID</code> menunjukkan dan memperbaikinya.",
        "🔎 <b>Daily server check</b>: accounts on the server differ from the shop's "
        "records (changed in the autoscript menu?). Nothing was changed; "
        "<code>qrisbot servers reconcile ID</code> shows and fixes them.",
    ),
    "drift_missing": (
        "• {server} · <b>{username}</b>: tidak ada lagi di server (hari terakhir {day})",
        "• {server} · <b>{username}</b>: no longer on the server (last day {day})",
    ),
    "drift_date": (
        "• {server} · <b>{username}</b>: hari terakhir di toko {ledger}, di server {there}",
        "• {server} · <b>{username}</b>: last day {ledger} in the shop, {there} on the server",
    ),
    "drift_secret": (
        "• {server} · <b>{username}</b>: UUID/kata sandi diganti di panel; tautan pembeli "
        "tidak berlaku lagi dan perpanjangannya akan ditolak. <code>qrisbot servers "
        "reconcile {id} --fix</code> mencatat yang baru dan mengirim tautannya ke pembeli",
        "• {server} · <b>{username}</b>: UUID/password changed on the panel; the buyer's "
        "links no longer work and its renewals would be refused. <code>qrisbot servers "
        "reconcile {id} --fix</code> records the new one and sends the buyer its links",
    ),
    "drift_unknown": (
        "• {server}: {count} akun di server tidak dikenal toko ({names}); "
        "<code>qrisbot accounts import {id}</code> mengambilnya",
        "• {server}: {count} account(s) on the server unknown to the shop ({names}); "
        "<code>qrisbot accounts import {id}</code> takes them on",
    ),
    "notify_task_failed": (
        "⚠️ Kesalahan program menghentikan tugas latar <b>{task}</b> ({error}). Toko tetap "
        "berjalan dan tugas itu dimulai lagi sebentar lagi; rinciannya ada di log qrisbot "
        "(journalctl -u qrisbot). Kesalahan yang sama tidak dilaporkan lagi.",
        "⚠️ A bug stopped the background task <b>{task}</b> ({error}). The shop keeps "
        "running and the task starts again shortly; the details are in qrisbot's log "
        "(journalctl -u qrisbot). The same error is not reported again.",
    ),
    "task_sweep": ("perintah operator dari CLI", "operator commands from the CLI"),
    "task_probe": ("cek server berkala", "periodic server check"),
    "task_summary": ("ringkasan harian", "daily summary"),
    "task_reminders": ("pengingat perpanjangan", "renewal reminders"),
    "task_traffic": ("pengingat kuota", "traffic reminders"),
    "task_expiry": ("akun habis dan penghapusannya", "expiry and removal"),
    "task_drift": ("pemeriksaan harian server", "daily server check"),
    "task_watchdog": ("watchdog systemd", "systemd watchdog"),
    "task_backup": ("cadangan harian", "daily backup"),
    "backup_caption": (
        "🔐 Cadangan ledger <b>{shop}</b> · {when} ({size})\nTerenkripsi untuk kunci age Anda "
        "(backup.age_recipient); simpan kunci rahasianya di luar server. Memulihkan: hentikan "
        "bot (<code>systemctl stop qrisbot</code>), lalu <code>qrisbot restore {file} "
        "--identity KUNCI</code>.",
        "🔐 Ledger backup of <b>{shop}</b> · {when} ({size})\nEncrypted to your age key "
        "(backup.age_recipient); keep its secret key off the server. To restore: stop the bot "
        "(<code>systemctl stop qrisbot</code>), then <code>qrisbot restore {file} "
        "--identity KEY</code>.",
    ),
    "backup_too_big": (
        "🔴 Cadangan harian tidak terkirim: ledger terenkripsi {size}, lebih dari 50 MB yang "
        "diterima Telegram dari bot. Salin di server dengan <code>qrisbot backup FILE</code>.",
        "🔴 Daily backup not sent: the encrypted ledger is {size}, more than the 50 MB "
        "Telegram takes from a bot. Copy it on the server with <code>qrisbot backup "
        "FILE</code>.",
    ),
    "notify_drift_unreadable": (
        "🔴 Akun di {name} tidak bisa dibaca untuk pemeriksaan harian: {error}. Perubahan "
        "lewat menu autoscript di server itu tidak terlihat sampai terbaca lagi.",
        "🔴 The accounts on {name} could not be read for the daily check: {error}. Changes "
        "made in its autoscript menu go unseen until it can be read again.",
    ),
    "notify_drift_readable": ("🟢 Akun di {name} bisa dibaca lagi untuk pemeriksaan harian.",
                              "🟢 The accounts on {name} can be read again for the daily "
                              "check."),
    "notify_pakasir_refused": (
        "🔑 Pakasir menolak kredensial toko ({error}): pembeli tidak bisa membayar, setiap "
        "kode QRIS gagal dibuat. Perbaiki {settings} di config.toml lalu mulai ulang "
        "qrisbot. Pesan ini tidak diulang sampai Pakasir menerimanya lagi.",
        "🔑 Pakasir refuses the shop's credentials ({error}): buyers cannot pay, every QRIS "
        "code fails. Fix {settings} in config.toml and restart qrisbot. Not said again until "
        "Pakasir has accepted them in between.",
    ),
    "pakasir_setting_api_key": (
        "<code>[pakasir] api_key</code> (atau <code>QRISBOT_PAKASIR_API_KEY</code>)",
        "<code>[pakasir] api_key</code> (or <code>QRISBOT_PAKASIR_API_KEY</code>)",
    ),
    "pakasir_setting_project": ("<code>[pakasir] project</code> (slug proyek)",
                                "<code>[pakasir] project</code> (the project's slug)"),
    "broadcast_usage": (
        "Ketik /broadcast lalu pesannya, misalnya:\n"
        "<code>/broadcast Server SG2 sudah tersedia!</code>",
        "Type /broadcast followed by the message, e.g.\n"
        "<code>/broadcast Server SG2 is now available!</code>",
    ),
    "broadcast_preview": ("Kirim pesan di atas ke <b>{count}</b> pembeli?",
                          "Send the message above to <b>{count}</b> buyer(s)?"),
    "button_send": ("Kirim", "Send"),
    "broadcast_started": ("Mengirim ke {count} pembeli…", "Sending to {count} buyer(s)…"),
    "broadcast_done": (
        "📣 Siaran selesai: terkirim {sent}, memblokir bot {blocked}, gagal {failed}.",
        "📣 Broadcast done: sent {sent}, blocked the bot {blocked}, failed {failed}.",
    ),
    "broadcast_cancelled": ("Siaran dibatalkan.", "Broadcast cancelled."),
    # --- qrisbot setup: the seller's terminal (plain text, never HTML) --------------------
    "setup_not_root": (
        "qrisbot setup harus dijalankan sebagai root (sudo qrisbot setup): ia membuat user "
        "layanan dan mengatur pemilik file.",
        "qrisbot setup must run as root (sudo qrisbot setup): it makes the unit's user and "
        "sets who owns each file.",
    ),
    "setup_bad_user": ("--user {user}: bukan nama user Linux.",
                       "--user {user}: not a Linux user name."),
    "setup_shared_folder": (
        "{folder} dipakai seluruh sistem; taruh config.toml di folder sendiri, misalnya "
        "--config /etc/qrisbot/config.toml.",
        "{folder} is used by the whole system; put config.toml in a folder of its own, e.g. "
        "--config /etc/qrisbot/config.toml.",
    ),
    "setup_unreadable": ("Tidak bisa mengubah konfigurasi: {why}. Tidak ada yang ditulis.",
                         "Cannot edit the configuration: {why}. Nothing was written."),
    "setup_no_config": (
        "Belum ada {path}: jalankan dulu qrisbot setup (tanpa 'server').",
        "There is no {path} yet: run qrisbot setup (without 'server') first.",
    ),
    "setup_install_failed": ("Gagal: {why}", "Failed: {why}"),
    "setup_intro": (
        "qrisbot setup: setiap jawaban diperiksa langsung. Konfigurasi: {path}\n"
        "Ctrl-C menghentikan setup; yang sudah disimpan tetap ada.",
        "qrisbot setup: every answer is checked at once. Configuration: {path}\n"
        "Ctrl-C stops setup; what was saved stays.",
    ),
    "setup_user_made": ("✓ User layanan {user} dibuat.", "✓ The unit's user {user} was made."),
    "setup_user_there": ("✓ User layanan: {user} (sudah ada).",
                         "✓ The unit's user: {user} (already there)."),
    "setup_aborted": ("Setup dihentikan. Jawaban yang sudah diperiksa sudah disimpan; "
                      "jalankan qrisbot setup lagi untuk melanjutkan.",
                      "Setup stopped. Answers already checked are saved; run qrisbot setup "
                      "again to go on."),
    "setup_enter_keeps": ("(Enter: tetap yang sekarang)", "(Enter: keep the current one)"),
    "setup_enter_retry": ("Tekan Enter untuk mencoba lagi.", "Press Enter to try again."),
    "setup_empty": ("Belum diisi. Coba lagi.", "Nothing typed. Try again."),
    "setup_yes_or_no": ("Jawab y (ya) atau n (tidak).", "Answer y (yes) or n (no)."),
    "setup_choice": ("Pilih salah satu: {options}.", "Pick one of: {options}."),
    "setup_number_range": ("Ketik angka {low} sampai {high}.",
                           "Type a number from {low} to {high}."),
    "setup_name_shape": ("Nama harus 1-40 karakter biasa.",
                         "A name is 1-40 plain characters."),
    "setup_shop_name": ("Nama toko (tampil di sapaan bot)",
                        "Shop name (shown in the bot's greeting)"),
    "setup_token_where": (
        "\n1. Bot Telegram. Di Telegram, buka @BotFather, kirim /newbot, pilih nama dan "
        "username bot; BotFather membalas dengan token (angka:huruf). Salin token itu.",
        "\n1. The Telegram bot. In Telegram, open @BotFather, send /newbot, pick the bot's "
        "name and username; BotFather answers with a token (digits:letters). Copy it.",
    ),
    "setup_token": ("Token bot (tidak tampil saat diketik)",
                    "Bot token (not shown while typed)"),
    "setup_token_shape": (
        "Itu bukan bentuk token BotFather (angka, titik dua, lalu huruf/angka). Salin ulang.",
        "That is not a BotFather token (digits, a colon, then letters and digits). Copy it "
        "again.",
    ),
    "setup_token_refused": (
        "✗ Telegram menolak token ini (401). Salin lagi dari @BotFather (/mybots → bot Anda "
        "→ API Token).",
        "✗ Telegram refused this token (401). Copy it again from @BotFather (/mybots → your "
        "bot → API Token).",
    ),
    "setup_telegram_unreachable": ("✗ Tidak bisa menghubungi {url}: {why}",
                                   "✗ Cannot reach {url}: {why}"),
    "setup_token_ok": ("✓ Token diterima: bot @{bot} ({name}).",
                       "✓ Token accepted: the bot @{bot} ({name})."),
    "setup_admins_now": ("Admin toko sekarang (id Telegram): {ids}",
                         "The shop's admins now (Telegram ids): {ids}"),
    "setup_admin_add": ("Tambah admin lain lewat /start?", "Add another admin with /start?"),
    "setup_admin_why": (
        "\n2. Admin. Bot mengirim laporan dan /admin hanya untuk admin; setup mengenali Anda "
        "dari pesan /start Anda ke bot.",
        "\n2. The admin. The bot sends reports and /admin only to its admins; setup knows "
        "you by the /start you send the bot.",
    ),
    "setup_admin_send_start": (
        "Sekarang buka @{bot} di Telegram dan kirim /start. Menunggu… (Ctrl-C untuk berhenti)",
        "Now open @{bot} in Telegram and send /start. Waiting… (Ctrl-C to stop)",
    ),
    "setup_admin_not_start": (
        "  ✗ Ada pesan dari {name}, tapi bukan /start di chat pribadi. Kirim /start ke bot.",
        "  ✗ A message from {name} arrived, but not /start in a private chat. Send /start "
        "to the bot.",
    ),
    "setup_admin_conflict": (
        "  ✗ Bot ini sedang dipakai program lain (qrisbot yang berjalan?). Hentikan dulu "
        "(systemctl stop qrisbot); setup mencoba lagi sebentar lagi.",
        "  ✗ Another program is using this bot (a running qrisbot?). Stop it first "
        "(systemctl stop qrisbot); setup tries again shortly.",
    ),
    "setup_admin_is_you": ("/start dari {name} (id {id}). Ini akun Anda?",
                           "/start from {name} (id {id}). Is this you?"),
    "setup_admin_again": ("Kirim /start lagi ke @{bot} dari akun Anda.",
                          "Send /start to @{bot} again from your own account."),
    "setup_admin_ok": ("✓ Admin: {id}.", "✓ Admin: {id}."),
    "setup_admin_welcome": (
        "✓ qrisbot setup: Anda admin toko {shop}. Laporan dan /admin untuk Anda.",
        "✓ qrisbot setup: you are an admin of {shop}. Reports and /admin are yours.",
    ),
    "setup_pakasir_where": (
        "\n3. Pakasir. Di app.pakasir.com buat (atau buka) proyek: slug proyek dan API key "
        "ada di halaman proyek.",
        "\n3. Pakasir. On app.pakasir.com make (or open) a project: its slug and API key "
        "are on the project's page.",
    ),
    "setup_pakasir_project": ("Slug proyek Pakasir", "Pakasir project slug"),
    "setup_pakasir_slug_shape": ("Slug hanya huruf, angka, - dan _ (tanpa spasi).",
                                 "A slug is letters, digits, - and _ only (no spaces)."),
    "setup_pakasir_key": ("API key Pakasir (tidak tampil saat diketik)",
                          "Pakasir API key (not shown while typed)"),
    "setup_pakasir_key_shape": ("API key tidak boleh berisi spasi, tanda kutip, \\, $ atau `.",
                                "An API key holds no spaces, quotes, \\, $ or `."),
    "setup_pakasir_refused_key": (
        "✗ Pakasir menolak API key ini. Salin lagi dari halaman proyek.",
        "✗ Pakasir refused this API key. Copy it again from the project's page.",
    ),
    "setup_pakasir_refused_project": (
        "✗ Pakasir tidak mengenal proyek {project}. Periksa slug-nya.",
        "✗ Pakasir knows no project {project}. Check the slug.",
    ),
    "setup_pakasir_refused_both": (
        "✗ Pakasir menolak proyek {project} atau API key-nya (API v1 tidak bilang yang "
        "mana). Periksa keduanya.",
        "✗ Pakasir refused the project {project} or its API key (API v1 does not say "
        "which). Check both.",
    ),
    "setup_pakasir_unreachable": ("✗ Tidak bisa menghubungi Pakasir ({url}): {why}",
                                  "✗ Cannot reach Pakasir ({url}): {why}"),
    "setup_pakasir_ok": ("✓ Pakasir menerima proyek {project} dan API key-nya.",
                         "✓ Pakasir accepts the project {project} and its API key."),
    "setup_pakasir_ok_key": (
        "✓ Pakasir menerima API key. Jawabannya tidak memastikan slug {project}: QRIS "
        "pertama akan memastikannya.",
        "✓ Pakasir accepts the API key. Its answer does not confirm the slug {project}: "
        "the first QRIS will.",
    ),
    "setup_ledger_at": ("✓ Data pesanan (ledger): {path}", "✓ The order ledger: {path}"),
    "setup_ledger_folder_owner": (
        "! {folder} bukan milik {user}: layanan harus bisa menulis di sana "
        "(chown {user}: {folder}).",
        "! {folder} is not {user}'s: the unit must be able to write there "
        "(chown {user}: {folder}).",
    ),
    "setup_server_edit": ("Ubah server {id} ({protocol}, {host})?",
                          "Change the server {id} ({protocol}, {host})?"),
    "setup_server_more": ("Tambah server lain?", "Add another server?"),
    "setup_server_head": (
        "\n4. Server VPN ({id}). qrisbot masuk ke server lewat SSH sebagai root dengan "
        "kuncinya sendiri.",
        "\n4. A VPN server ({id}). qrisbot logs in to the server over SSH as root with its "
        "own key.",
    ),
    "setup_new_server": ("baru", "new"),
    "setup_key_made": ("✓ Kunci SSH toko dibuat: {path}", "✓ The shop's SSH key was made: {path}"),
    "setup_server_host": ("IP atau host server", "The server's IP or host name"),
    "setup_server_port": ("Port SSH", "SSH port"),
    "setup_host_shape": ("Itu bukan IP atau nama host.", "That is not an IP or a host name."),
    "setup_key_line": (
        "Tambahkan baris ini ke ~/.ssh/authorized_keys di server:\n  {line}\n"
        "atau jalankan ini di server sebagai root:\n  {command}",
        "Add this line to ~/.ssh/authorized_keys on the server:\n  {line}\n"
        "or run this on the server as root:\n  {command}",
    ),
    "setup_key_added": ("Sudah? Tekan Enter untuk mencoba (h: ganti host).",
                        "Done? Press Enter to try (h: change the host)."),
    "setup_server_unreachable": ("✗ {why}", "✗ {why}"),
    "setup_hostkey_show": (
        "Server menunjukkan kunci {kind} {fingerprint}\nBandingkan dengan yang di server: "
        "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub",
        "The server shows the {kind} key {fingerprint}\nCompare it with the server's own: "
        "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub",
    ),
    "setup_hostkey_same": ("Sama persis?", "Exactly the same?"),
    "setup_hostkey_not_trusted": (
        "Tidak dipercaya; tidak ada yang ditulis. Periksa host dan port.",
        "Not trusted; nothing written. Check the host and port.",
    ),
    "setup_hostkey_trusted": ("✓ Kunci host disimpan di {path}.",
                              "✓ The host key is saved in {path}."),
    "setup_hostkey_known": ("✓ Kunci host sudah dipercaya ({fingerprint}).",
                            "✓ The host key is already trusted ({fingerprint})."),
    "setup_hostkey_changed": (
        "✗ PERINGATAN: {path} menyimpan kunci LAIN untuk {name} ({old}); server sekarang "
        "menunjukkan {new}. Jika server diinstal ulang, hapus yang lama: "
        "ssh-keygen -f {path} -R '{name}'. Jika tidak, mungkin ada yang menyadap.",
        "✗ WARNING: {path} holds a DIFFERENT key for {name} ({old}); the server now shows "
        "{new}. If you rebuilt the server, remove the old one: ssh-keygen -f {path} -R "
        "'{name}'. Otherwise someone may be in the middle.",
    ),
    "setup_login_ok": ("✓ Masuk ke {user}@{host} dengan kunci toko.",
                       "✓ Logged in to {user}@{host} with the shop's key."),
    "setup_login_failed": (
        "✗ Belum bisa masuk: {why}\nPastikan baris kunci di atas ada di authorized_keys "
        "server.",
        "✗ Cannot log in yet: {why}\nMake sure the key line above is in the server's "
        "authorized_keys.",
    ),
    "setup_login_retry": ("Tekan Enter untuk mencoba lagi (h: ganti host).",
                          "Press Enter to try again (h: change the host)."),
    "setup_detected": ("Server ini: {family}. Protokol yang tersedia: {protocols}.",
                       "This server: {family}. Protocols found: {protocols}."),
    "setup_no_family": ("bukan susunan autoscript yang dikenal",
                        "no known autoscript layout"),
    "setup_server_protocol": ("Protokol yang dijual (ssh, vmess, vless, trojan)",
                              "Protocol to sell (ssh, vmess, vless, trojan)"),
    "setup_check_failed": ("✗ Pemeriksaan gagal: {why}", "✗ The check failed: {why}"),
    "setup_check_keep_anyway": (
        "Server belum cocok untuk protokol ini (✗ di atas). Simpan juga (perbaiki servernya "
        "nanti)? Jawab n untuk memilih protokol lain",
        "The server does not fit this protocol yet (✗ above). Keep it anyway (fix the "
        "server later)? Answer n to pick another protocol",
    ),
    "setup_server_name": ("Nama server (tampil ke pembeli)", "Server name (shown to buyers)"),
    "setup_server_domain": ("Domain untuk pembeli (di akun dan link)",
                            "Domain for buyers (in accounts and links)"),
    "setup_server_price": ("Harga per bulan (rupiah)", "Price per month (rupiah)"),
    "setup_price_shape": ("Ketik harga dalam rupiah, misalnya 10000 atau 10.000.",
                          "Type the price in rupiah, e.g. 10000 or 10.000."),
    "setup_price_range": (
        "Harga harus {low} sampai {high} (batas QRIS untuk {months} bulan).",
        "The price must be {low} to {high} (the QRIS limit for {months} months).",
    ),
    "setup_fee": ("  Pembeli membayar {total} untuk 1 bulan ({price} + biaya QRIS {fee}).",
                  "  A buyer pays {total} for 1 month ({price} + QRIS fee {fee})."),
    "setup_fee_unknown": ("  Pembeli membayar {price} + biaya QRIS (Pakasir tidak menjawab "
                          "tabel biayanya).",
                          "  A buyer pays {price} + the QRIS fee (Pakasir did not answer "
                          "its fee table)."),
    "setup_server_capacity": ("Kapasitas (jumlah akun maksimal)",
                              "Capacity (most accounts on it)"),
    "setup_server_saved": ("✓ Server {id} disimpan: {name}, {price}/bulan.",
                           "✓ Server {id} saved: {name}, {price}/month."),
    "setup_server_kind": (
        "Jenis server: ssh (autoscript, lewat SSH) atau panel (3x-ui, Marzban, PasarGuard)",
        "Kind of server: ssh (an autoscript, over SSH) or panel (3x-ui, Marzban, PasarGuard)",
    ),
    "setup_panel_type": ("Panel (3x-ui, marzban, pasarguard)",
                         "Panel (3x-ui, marzban, pasarguard)"),
    "setup_panel_url": ("Alamat panel (https://host:port/path/, seperti di browser)",
                        "The panel's address (https://host:port/path/, as in the browser)"),
    "setup_panel_url_shape": (
        "Ketik alamat seperti https://panel.contoh.com:2053/path/ (http:// hanya untuk panel "
        "di mesin ini, 127.0.0.1: password jangan lewat jaringan tanpa enkripsi).",
        "Type an address like https://panel.example.com:2053/path/ (http:// only for a panel "
        "on this machine, 127.0.0.1: a password must not cross the network in the clear).",
    ),
    "setup_panel_unreachable": ("✗ Tidak bisa menghubungi {origin} lewat TLS: {why}",
                                "✗ Cannot reach {origin} over TLS: {why}"),
    "setup_cert_show": (
        "Sertifikat {origin} tidak dijamin otoritas publik ({why}).\n"
        "  Sidik jari SHA-256: {fingerprint}\n"
        "Bandingkan di mesin panel: openssl x509 -noout -fingerprint -sha256 -in "
        "<file sertifikat panel>",
        "The certificate of {origin} is not vouched for by a public authority ({why}).\n"
        "  SHA-256 fingerprint: {fingerprint}\n"
        "Compare it on the panel's machine: openssl x509 -noout -fingerprint -sha256 -in "
        "<the panel's certificate file>",
    ),
    "setup_cert_not_pinned": (
        "Tidak disematkan. Periksa sertifikat panel, lalu ketik alamatnya lagi.",
        "Not pinned. Check the panel's certificate, then type its address again.",
    ),
    "setup_cert_pinned": ("✓ Sertifikat disematkan di {path}.",
                          "✓ The certificate is pinned in {path}."),
    "setup_cert_known": ("✓ Sertifikat sudah disematkan ({fingerprint}).",
                         "✓ The certificate is already pinned ({fingerprint})."),
    "setup_cert_public": ("✓ Sertifikat dijamin otoritas publik untuk nama ini.",
                          "✓ A public authority vouches for the certificate under this name."),
    "setup_cert_changed": (
        "✗ PERINGATAN: {path} menyematkan sertifikat LAIN untuk {origin} ({old}); yang "
        "ditunjukkan sekarang {new}. Kalau sertifikat panel memang diganti, hapus baris itu "
        "dan coba lagi; kalau tidak, mungkin ada yang menyadap di tengah.",
        "✗ WARNING: {path} pins a DIFFERENT certificate for {origin} ({old}); it presents "
        "{new} now. If the panel's certificate was replaced, delete that line and try "
        "again; otherwise someone may be in the middle.",
    ),
    "setup_panel_login": (
        "Masuk dengan password atau token (API token 3x-ui 3.0+, API key PasarGuard 5.1+)",
        "Log in with password or token (3x-ui 3.0+ API token, PasarGuard 5.1+ API key)",
    ),
    "setup_panel_username": ("Username admin panel", "The panel's admin username"),
    "setup_panel_password": ("Password admin panel (tidak tampil saat diketik)",
                             "The panel's admin password (not shown while typed)"),
    "setup_panel_token": ("Token / API key panel (tidak tampil saat diketik)",
                          "The panel's token / API key (not shown while typed)"),
    "setup_panel_secret_shape": (
        "Tidak boleh berisi spasi, tanda kutip, \\, $ atau ` (ganti di panel dulu).",
        "It may hold no spaces, quotes, \\, $ or ` (change it on the panel first).",
    ),
    "setup_panel_refused": ("✗ {why}\nKetik alamat dan login lagi.",
                            "✗ {why}\nType the address and login again."),
    "setup_panel_login_ok": ("✓ Masuk ke panel {origin}.", "✓ Logged in to the panel {origin}."),
    "setup_panel_nothing": (
        "✗ Panel {kind} ini belum punya inbound atau grup untuk dijual. Buat dulu di panel.",
        "✗ This {kind} panel has no inbound or group to sell through yet. Make one first.",
    ),
    "setup_panel_pick_ids": ("Id inbound yang dijual (pisahkan dengan koma)",
                             "Ids of the inbounds to sell (comma separated)"),
    "setup_panel_pick": ("Nomor yang dijual (pisahkan dengan koma)",
                         "Numbers to sell (comma separated)"),
    "setup_panel_pick_shape": ("Ketik satu atau lebih dari daftar, misalnya 1,2.",
                               "Type one or more from the list, e.g. 1,2."),
    "setup_panel_pick_unknown": ("{which} tidak ada di daftar.", "{which} is not in the list."),
    "setup_panel_pick_refused": ("{which} tidak bisa dijual ({why}).",
                                 "{which} cannot be sold ({why})."),
    "setup_panel_pick_mixed": (
        "Protokolnya campur ({protocols}): satu server menjual satu protokol.",
        "Those mix protocols ({protocols}): one server sells one protocol.",
    ),
    "setup_panel_protocol": ("Protokol yang dijual (vmess, vless, trojan)",
                             "Protocol to sell (vmess, vless, trojan)"),
    "setup_panel_protocol_is": ("✓ Protokol: {protocol}.", "✓ Protocol: {protocol}."),
    "setup_panel_sub_url": ("Alamat dasar link langganan untuk pembeli (sub_url)",
                            "Base address of buyers' subscription links (sub_url)"),
    "setup_panel_quota": ("Kuota per bulan dibayar (GB, 0 = tanpa batas)",
                          "Traffic per paid month (GB, 0 = unlimited)"),
    "setup_panel_ip_limit": ("Batas IP sekaligus per akun (0 = tanpa batas)",
                             "IPs at once per account (0 = unlimited)"),
    "setup_panel_no_ip_limit": ("  Panel {kind} tidak punya batas IP: tidak ditanyakan.",
                                "  A {kind} panel has no IP limit: not asked."),
    "setup_checking": ("\n5. Pemeriksaan akhir (qrisbot check-config --online):",
                       "\n5. The last check (qrisbot check-config --online):"),
    "setup_unit_head": (
        "\n✓ Siap. Jalankan toko sebagai layanan systemd:",
        "\n✓ Ready. Run the shop as a systemd unit:",
    ),
    "setup_unit_head_after_fixing": (
        "\n✗ Perbaiki yang bertanda ✗ di atas (qrisbot setup lagi), lalu jalankan toko:",
        "\n✗ Fix what is marked ✗ above (run qrisbot setup again), then start the shop:",
    ),
    "setup_unit_cannot_see": (
        "! Layanan tidak bisa melihat {program} (ProtectHome=yes menyembunyikan /root dan "
        "/home): pasang qrisbot di /opt/qrisbot seperti di README.",
        "! The unit cannot see {program} (ProtectHome=yes hides /root and /home): install "
        "qrisbot in /opt/qrisbot as the README says.",
    ),
    "setup_done_more": (
        "Server lain nanti: qrisbot setup server. Ubah jawaban: qrisbot setup.",
        "More servers later: qrisbot setup server. Change answers: qrisbot setup.",
    ),
}


def text(key: str, lang: str, /, **values: object) -> Html:
    indonesian, english = TEXTS[key]
    template = english if lang == "en" else indonesian
    escaped = {k: v if isinstance(v, Html) else html.escape(str(v)) for k, v in values.items()}
    return Html(template.format(**escaped))


def label(key: str, lang: str, /, **values: object) -> str:
    """A button label: the same text, but plain (Telegram shows labels unparsed)."""
    return html.unescape(text(key, lang, **values))


def months(n: int, lang: str) -> str:
    """"3 bulan"; "1 month", "3 months"."""
    return text("month" if n == 1 else "months", lang, n=n)


def rupiah(amount: int) -> str:
    """Rp10.000 — Indonesian thousands separators."""
    return "Rp" + f"{amount:,}".replace(",", ".")


def rupiah_short(amount: float, lang: str) -> str:
    """An axis label: "Rp150 rb", "Rp1,2 jt", "Rp3 M" (miliar); "Rp150k", "Rp1.2M", "Rp3B"
    in English."""
    units = (("M", "B"), 10**9), (("jt", "M"), 10**6), (("rb", "k"), 10**3)
    for (indonesian, english), size in units:
        shown = f"{amount / size:.2f}".rstrip("0").rstrip(".")
        if abs(float(shown)) >= 1:  # rounded first: 999.999 is "Rp1 jt", not "Rp1000 rb"
            if lang == "en":
                return f"Rp{shown}{english}"
            return f"Rp{shown.replace('.', ',')} {indonesian}"
    return f"Rp{amount:.0f}"


def gigabytes(amount: int, lang: str) -> str:
    """Bytes as the panels count them (1 GB = 2^30): "12,3 GB", "100 GB"; "12.3 GB" in
    English."""
    tenths = round(amount * 10 / 2**30)
    shown = str(tenths // 10) if tenths % 10 == 0 else f"{tenths // 10}.{tenths % 10}"
    return (shown if lang == "en" else shown.replace(".", ",")) + " GB"

"""What the buyer receives is stored as the JSON the ledger has always held: a row written
by the previous release and one written now read the same, key for key."""

from __future__ import annotations

import datetime as dt
import json

from qrisbot.config import Commands, Server, SshAccess, Xray
from qrisbot.provision.ssh.backend import delivery_for

ACCESS = SshAccess(host="h", key_file="k", known_hosts="k")
SECRET = "0b5ad2bb-5c1f-4ae4-9d43-3d1a1f9f5c40"
LAST_DAY = dt.date(2027, 1, 31)


def stored(server: Server, secret: str = SECRET) -> str:
    return json.dumps(delivery_for(server, "budi_99", secret, LAST_DAY).to_json())


def test_an_ssh_account_is_stored_as_before():
    server = Server(id="sg1", name="SG", protocol="ssh", domain="sg.example.com",
                    price_per_month=1000, ssh=ACCESS, ports={"OpenSSH": 22, "WS": 80})
    assert stored(server, "rahasia123") == (
        '{"protocol": "ssh", "host": "sg.example.com", "username": "budi_99", '
        '"secret": "rahasia123", "expires": "2027-01-31", "kind": "ssh", '
        '"ports": [["OpenSSH", 22], ["WS", 80]], "payload": "GET / HTTP/1.1[crlf]Host: '
        'sg.example.com[crlf]Upgrade: websocket[crlf][crlf]"}')


def test_an_xray_account_is_stored_as_before_with_its_links():
    server = Server(id="sg1", name="SG", protocol="vless", domain="sg.example.com",
                    price_per_month=1000, ssh=ACCESS,
                    xray=Xray(markers=("#vless",), prefix="#&", path="/vless",
                              grpc_service="vless-grpc"))
    info = json.loads(stored(server))
    assert list(info) == ["protocol", "host", "username", "secret", "expires", "kind",
                          "network", "path", "ports", "links"]
    assert info["kind"] == "xray" and info["network"] == "ws, grpc"
    assert info["ports"] == [["TLS", 443], ["non-TLS", 80]]
    assert [label for label, _ in info["links"]] == ["TLS", "non-TLS", "gRPC"]
    assert all(link.startswith(f"vless://{SECRET}@sg.example.com:") for _, link in
               info["links"])


def test_an_account_made_by_custom_commands_shows_what_the_shop_knows():
    server = Server(id="sg1", name="SG", protocol="vmess", domain="sg.example.com",
                    price_per_month=1000, ssh=ACCESS,
                    commands=Commands(exists="true", create="true"))
    assert json.loads(stored(server)) == {
        "protocol": "vmess", "host": "sg.example.com", "username": "budi_99",
        "secret": SECRET, "expires": "2027-01-31", "kind": "custom"}

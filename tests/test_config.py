"""The operator's config: the example is valid; every problem is named with its key path."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from qrisbot import config
from qrisbot.cli import main

EXAMPLE = Path(__file__).parent.parent / "config.toml.example"


def example() -> dict:
    return tomllib.loads(EXAMPLE.read_text())


def problems(raw: dict, environ: dict | None = None) -> list[str]:
    with pytest.raises(config.ConfigError) as caught:
        config.parse(raw, environ or {})
    return caught.value.problems


def test_example_config_is_valid_and_fills_layout_defaults():
    cfg = config.load(EXAMPLE, {})
    assert [s.id for s in cfg.servers] == ["sg1", "sg2"]
    assert cfg.pakasir.api_version == 2 and cfg.pakasir.check_interval == 5
    vless = cfg.server("sg2")
    assert vless.xray.markers == ("#vless",) and vless.xray.prefix == "#&"


def test_structural_problems_are_all_reported_with_paths():
    raw = example()
    raw["shop"]["max_months"] = "twelve"
    raw["pakasir"]["api_version"] = 3
    raw["servers"][0]["protocol"] = "wireguard"
    raw["servers"][0]["sshh"] = {}
    del raw["servers"][1]["domain"]
    found = problems(raw)
    assert "expected a whole number, got a string @ $.shop.max_months" in found
    assert "must be one of 1, 2 @ $.pakasir.api_version" in found
    assert any("$.servers[0].protocol" in p and "'ssh'" in p for p in found)
    assert "unknown key(s) sshh @ $.servers[0]" in found
    assert "required key missing @ $.servers[1].domain" in found


def test_value_problems_are_all_reported_with_paths():
    raw = example()
    raw["telegram"]["token"] = "not a token"
    raw["servers"][0]["id"] = "SG 1"
    raw["servers"][0]["price_per_month"] = 100
    raw["servers"][1]["id"] = "SG 1"
    raw["servers"][1]["xray"]["markers"] = ["#vless; reboot"]
    found = problems(raw)
    assert any(p.startswith("$.telegram.token") for p in found)
    assert any(p.startswith("$.servers[0].id") for p in found)
    assert any(p.startswith("$.servers[0].price_per_month") for p in found)
    assert any(p.startswith("$.servers[1].id: duplicate") for p in found)
    assert any(p.startswith("$.servers[1].xray.markers[0]") for p in found)


def test_custom_commands_may_not_put_the_password_on_the_command_line():
    raw = example()
    raw["servers"][0]["commands"] = {"create": "add {username} {password}",
                                     "exists": "id {user}"}
    found = problems(raw)
    assert any("commands.create" in p and "stdin" in p for p in found)
    assert any("commands.exists" in p and "unknown placeholder" in p for p in found)


def test_secrets_may_come_from_the_environment():
    raw = example()
    raw["telegram"]["token"] = ""
    raw["pakasir"]["api_key"] = ""
    env = {"QRISBOT_TELEGRAM_TOKEN": "999:env-token-abcdefghij",
           "QRISBOT_PAKASIR_API_KEY": "env-key"}
    cfg = config.parse(raw, env)
    assert cfg.telegram.token == "999:env-token-abcdefghij"
    assert cfg.pakasir.api_key == "env-key"
    assert "env-token" not in repr(cfg) and "env-key" not in repr(cfg)
    assert len(problems(raw)) == 2


def test_check_config_prints_a_summary_or_every_problem(tmp_path, capsys):
    from test_cli import edited_example

    assert main(["check-config", "--config", str(edited_example(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "sg1" in out and "Rp10.000/month" in out and "API v2" in out
    assert "AAF0123456789" not in out  # no secrets in the summary
    broken = tmp_path / "broken.toml"
    broken.write_text(EXAMPLE.read_text().replace("max_months = 12", "max_months = 13"))
    assert main(["check-config", "-c", str(broken)]) == 2
    assert "$.shop.max_months" in capsys.readouterr().err
    assert main(["check-config", "-c", str(tmp_path / "missing.toml")]) == 2
    (tmp_path / "bad.toml").write_text("[shop\n")
    assert main(["check-config", "-c", str(tmp_path / "bad.toml")]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_the_installed_command_exists():
    result = subprocess.run([sys.executable, "-m", "qrisbot", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "check-config" in result.stdout


def test_an_ssh_servers_family_layout_fills_its_lists_and_its_values_are_checked():
    raw = example()
    raw["servers"][0]["linux"] = {"layout": "rmbl", "ip_limit": 2}
    linux = config.parse(raw, {}).server("sg1").linux
    assert (linux.account_list, linux.list_prefix, linux.ip_files, linux.ip_limit) == (
        "/etc/xray/ssh", "###", "/etc/xray/sshx", 2)
    raw["servers"][0]["linux"] = {"account_list": "/etc/x; reboot", "list_prefix": "$(x)",
                                  "ip_limit": -1}
    raw["servers"][1]["linux"] = {"layout": "rmbl"}
    found = problems(raw)
    assert "$.servers[0].linux.account_list: must be an absolute path of plain characters" \
        in found
    assert any(p.startswith("$.servers[0].linux.list_prefix") for p in found)
    assert any(p.startswith("$.servers[0].linux.ip_limit") for p in found)
    assert "$.servers[1].linux: only for ssh servers with the built-in recipe" in found


def test_values_of_the_wrong_toml_type_are_errors_not_conversions(tmp_path):
    # Each of these was silently converted: nine admins 1..9, a server kept on sale by
    # "false", Rp12 and Rp500 for twelve and five hundred thousand written the Indonesian way.
    text = (EXAMPLE.read_text()
            .replace("admins = []", 'admins = "123456789"')
            .replace("max_months = 12 ", 'max_months = "12" ')
            .replace("enabled = true", 'enabled = "false"')
            .replace("price_per_month = 10000", "price_per_month = 12.000")
            .replace("price_per_month = 12000", "price_per_month = 500.000")
            .replace("api_version = 2 ", "api_version = 2.0 ")
            .replace("poll_timeout = 50 ", "poll_timeout = true ")
            .replace('"OpenSSH" = 22,', '"OpenSSH" = "22",')
            .replace('remind_days = [3, 1]', 'remind_days = [3, "1"]')
            .replace('name = "Toko VPN"', "name = 5")
            # and, in the same file, a value problem that is not about types
            .replace("grace_days = 1 ", "grace_days = 99 "))
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(config.ConfigError) as caught:
        config.load(path, {})
    found = caught.value.problems
    by_path = {p.rpartition(" @ ")[2]: p for p in found if " @ " in p}
    assert set(by_path) >= {
        "$.shop.admins", "$.shop.max_months", "$.servers[0].enabled",
        "$.servers[0].price_per_month", "$.servers[1].price_per_month",
        "$.pakasir.api_version", "$.telegram.poll_timeout", "$.servers[0].ports['OpenSSH']",
        "$.shop.remind_days[1]", "$.shop.name"}, found
    assert "write 12000, without a dot" in by_path["$.servers[0].price_per_month"]
    assert "write 500000, without a dot" in by_path["$.servers[1].price_per_month"]
    assert "array" in by_path["$.shop.admins"] and "string" in by_path["$.shop.admins"]
    assert "without quotes" in by_path["$.servers[0].enabled"]
    # All at once: the value problem comes in the same pass as the type problems.
    assert "$.shop.grace_days: must be between 0 and 30" in found


def test_a_broken_section_does_not_hide_the_problems_of_the_others():
    raw = example()
    raw["servers"][0]["price_per_month"] = "10000"
    raw["servers"][1]["domain"] = "not a host!"
    raw["trial"]["servers"] = ["sg1"]  # names the broken server: not a second problem
    raw["pakasir"]["project"] = ""
    del raw["telegram"]
    found = problems(raw)
    assert "missing table [telegram]" in found
    assert any(p.endswith("@ $.servers[0].price_per_month") for p in found)
    assert "$.servers[1].domain: not a host name" in found
    assert any(p.startswith("$.pakasir.project") for p in found)
    assert not any(p.startswith("$.trial.servers") for p in found), found
    assert not any(p.startswith("$.telegram") for p in found), found


def test_configs_of_the_previous_release_still_load(tmp_path):
    # Integers where seconds may be fractions, arrays written as TOML arrays, every table.
    cfg = config.load(EXAMPLE, {})
    assert cfg.pakasir.check_interval == 5.0 and isinstance(cfg.pakasir.check_interval, float)
    assert cfg.shop.remind_days == (3, 1) and cfg.server("sg1").ports["SSH WS"] == 80
    assert cfg.server("sg1").enabled is True and cfg.server("sg2").price_per_month == 12000


# --- panel servers (issue 18): one of ssh or panel, each key checked with its path --------

PANEL_PASSWORD = "Pw-of-the-panel-7731"  # noqa: S105  (a test value)


def with_panel(kind: str = "3x-ui") -> str:
    """The example with its commented panel server put in, of the given type."""
    text = EXAMPLE.read_text()
    head, _, tail = text.partition('# [[servers]]\n# id = "nl1"')
    lines = ('# [[servers]]\n# id = "nl1"' + tail).splitlines()
    chosen = [line for line in lines
              if not line.startswith("# panel") or f'type = "{kind}"' in line]
    return head + "\n".join(line.removeprefix("# ") for line in chosen) + "\n"


def panel_raw(kind: str = "3x-ui", **panel) -> dict:
    raw = tomllib.loads(with_panel(kind))
    raw["servers"][2]["panel"] |= panel
    return raw


def test_the_examples_panel_servers_load_with_the_password_from_the_environment(tmp_path):
    env = {"QRISBOT_PANEL_NL1_PASSWORD": PANEL_PASSWORD}
    for kind in ("3x-ui", "marzban", "pasarguard"):
        path = tmp_path / f"{kind}.toml"
        path.write_text(with_panel(kind))
        server = config.load(path, env).server("nl1")
        assert server.panel.type == kind and server.panel.password == PANEL_PASSWORD
        assert (server.quota_gb, server.ip_limit) == (100, 2)
        assert server.panel.pins == str(tmp_path / "panel_pins")  # beside config.toml
        assert server.xray is None and server.ssh_access is None
        assert PANEL_PASSWORD not in repr(server)
        with pytest.raises(config.NotSsh, match="nl1"):  # no stand-in to reach by mistake
            server.ssh  # noqa: B018
    cfg = config.load(tmp_path / "3x-ui.toml", env)
    assert cfg.server("nl1").panel.inbound_ids == (3, 4)
    assert PANEL_PASSWORD in config.secrets(cfg)  # redacted from every log line
    # Dashes in the id become underscores in the variable's name.
    raw = panel_raw(password="")
    raw["servers"][2]["id"] = "nl-2"
    cfg = config.parse(raw, {"QRISBOT_PANEL_NL_2_PASSWORD": PANEL_PASSWORD})
    assert cfg.server("nl-2").panel.password == PANEL_PASSWORD


def test_a_missing_panel_secret_names_its_variable_and_operator_commands_do_without_it():
    found = problems(panel_raw())
    assert ("$.servers[2].panel.password: missing (may come from QRISBOT_PANEL_NL1_PASSWORD, "
            "or token from QRISBOT_PANEL_NL1_TOKEN)") in found
    assert any("QRISBOT_PANEL_NL1_PASSWORD)" in p for p in problems(panel_raw("marzban")))
    cfg = config.parse(panel_raw(), {}, secrets_required=False)
    assert cfg.server("nl1").panel.password == ""
    # A token instead of the login (3x-ui 3.0+, PasarGuard 5.1+): no password needed.
    cfg = config.parse(panel_raw("pasarguard", username=""), {
        "QRISBOT_PANEL_NL1_TOKEN": "pg_key_0b9d7c1e-4f3a-4e2b-9c1d-7a6b5c4d3e2f"})
    assert cfg.server("nl1").panel.token.startswith("pg_key_")
    found = problems(panel_raw("marzban", token="abc", password=PANEL_PASSWORD))
    assert any(p.startswith("$.servers[2].panel.token: only for 3x-ui") for p in found)
    found = problems(panel_raw(password=PANEL_PASSWORD, username=""))
    assert any(p.startswith("$.servers[2].panel.username: missing") for p in found)


def test_a_server_has_exactly_one_of_ssh_and_panel():
    raw = panel_raw(password=PANEL_PASSWORD)
    raw["servers"][2]["ssh"] = raw["servers"][0]["ssh"]
    del raw["servers"][0]["ssh"]
    found = problems(raw)
    assert "$.servers[2]: has both ssh and panel; a server is reached one way, keep one" \
        in found
    assert any(p.startswith("$.servers[0]: needs ssh") and "panel" in p for p in found)


def test_every_panel_key_is_checked_with_its_path():
    def one(kind: str = "3x-ui", server: dict | None = None, **panel) -> list[str]:
        raw = panel_raw(kind, **({"password": PANEL_PASSWORD} | panel))
        raw["servers"][2] |= server or {}
        return problems(raw)

    assert any(p.endswith("@ $.servers[2].panel.type") and "'marzban'" in p
               for p in one(type="x-ui"))
    assert "unknown key(s) inbound @ $.servers[2].panel" in one(inbound=3)
    assert any(p.endswith("@ $.servers[2].panel.inbound_ids") and "array" in p
               for p in one(inbound_ids="3"))
    assert any(p.endswith("@ $.servers[2].panel.inbound_ids[0]") for p in one(
        inbound_ids=["3"]))
    assert "$.servers[2].panel.inbound_ids: each a different inbound id, 1 or more" in one(
        inbound_ids=[3, 3])
    assert any(p.startswith("$.servers[2].panel.inbound_ids: the ids") for p in one(
        inbound_ids=[]))
    # Keys of another panel type are errors naming the key, not silence.
    assert "$.servers[2].panel.inbound_ids: only for type = '3x-ui', not 'marzban'" in one(
        "marzban", inbound_ids=[3])
    assert "$.servers[2].panel.groups: only for type = 'pasarguard', not '3x-ui'" in one(
        groups=["Default"])
    assert "$.servers[2].panel.inbounds: only for type = 'marzban', not 'pasarguard'" in one(
        "pasarguard", inbounds=["VLESS TCP"])
    assert any(p.startswith("$.servers[2].panel.groups: at least one") for p in one(
        "pasarguard", groups=[]))
    assert any(p.startswith("$.servers[2].panel.inbounds[0]:") for p in one(
        "marzban", inbounds=[""]))
    assert any(p.startswith("$.servers[2].panel.password: holds spaces") for p in one(
        password="pass word"))
    assert any(p.startswith("$.servers[2].panel.sub_url:") for p in one(sub_url="nl1/sub"))
    assert any(p.startswith("$.servers[2].protocol: a panel sells") for p in one(
        server={"protocol": "ssh"}))
    assert "$.servers[2].xray: only for servers reached over ssh, not with panel" in one(
        server={"xray": {"layout": "rmbl"}})
    assert "$.servers[2].quota_gb: must be 0 (unlimited) to 100000" in one(
        server={"quota_gb": -1})
    assert any(p.endswith("@ $.servers[2].ip_limit") for p in one(server={"ip_limit": "2"}))


def test_a_panel_url_must_be_https_except_on_this_machine():
    def url_problems(url: str) -> list[str]:
        raw = panel_raw(password=PANEL_PASSWORD, url=url)
        try:
            config.parse(raw, {})
        except config.ConfigError as exc:
            return [p for p in exc.problems if ".panel.url" in p]
        return []

    plain = url_problems("http://nl1.tokovpn.id:2053/AbCdEf/")
    assert len(plain) == 1 and plain[0].startswith("$.servers[2].panel.url: must start with "
                                                   "https://"), plain
    assert url_problems("http://10.0.0.5:2053/") != []  # a private network is a network
    for loopback in ("http://127.0.0.1:2053/AbCdEf/", "http://[::1]:8000",
                     "http://localhost:8000", "https://nl1.tokovpn.id:2053/AbCdEf/"):
        assert url_problems(loopback) == [], loopback
    for wrong in ("nl1.tokovpn.id:2053", "ftp://nl1.tokovpn.id/", "https://",
                  "https://admin:pw@nl1.tokovpn.id/", "https://nl1.tokovpn.id/?x=1",
                  "https://nl1.tokovpn.id:port/"):
        assert len(url_problems(wrong)) == 1, wrong
    assert "pw" not in " ".join(url_problems("https://admin:pw@nl1.tokovpn.id/"))


def test_limits_at_server_level_and_in_their_older_places():
    raw = example()
    raw["servers"][1]["xray"]["quota_gb"] = 50  # the last release's place
    vless = config.parse(raw, {}).server("sg2")
    assert vless.quota_gb == 50 and vless.xray.quota_gb == 50
    raw = example()
    raw["servers"][1] |= {"quota_gb": 70, "ip_limit": 3}  # the new place reaches the recipe
    raw["servers"][0] |= {"ip_limit": 2, "linux": {"layout": "rmbl"}}
    cfg = config.parse(raw, {})
    assert (cfg.server("sg2").xray.quota_gb, cfg.server("sg2").xray.ip_limit) == (70, 3)
    assert cfg.server("sg1").linux.ip_limit == 2 and cfg.server("sg1").ip_limit == 2
    raw["servers"][1]["xray"]["quota_gb"] = 70  # both places: an error, whichever value
    raw["servers"][0]["linux"]["ip_limit"] = 1
    found = problems(raw)
    assert any(p.startswith("$.servers[1].xray.quota_gb: also given as $.servers[1].quota_gb")
               for p in found)
    assert any(p.startswith("$.servers[0].linux.ip_limit: also given as") for p in found)


def test_check_config_validates_panel_servers_and_says_what_a_panel_cannot_do(
        tmp_path, capsys, monkeypatch):
    from test_cli import edited_example

    monkeypatch.setenv("QRISBOT_PANEL_NL1_PASSWORD", PANEL_PASSWORD)
    path = edited_example(tmp_path, with_panel("marzban"))
    assert main(["check-config", "--config", str(path)]) == 0
    captured = capsys.readouterr()
    assert "nl1" in captured.out and "via marzban panel at panel.tokovpn.id:8000" in captured.out
    assert ("warning: $.servers[2].ip_limit: marzban has no IP limit; buyers there are not "
            "limited") in captured.err
    assert PANEL_PASSWORD not in captured.out + captured.err
    (tmp_path / "xui").mkdir()
    path = edited_example(tmp_path / "xui", with_panel("3x-ui"))
    assert main(["check-config", "--config", str(path)]) == 0
    assert "ip_limit" not in capsys.readouterr().err  # 3x-ui enforces it

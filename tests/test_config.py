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

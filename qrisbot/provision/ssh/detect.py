"""`qrisbot servers detect`: which autoscript family laid out a server, read-only.

One script lists what the families leave behind (../shared/reference/autoscripts.md):
Xray config files, the marker lines in them, the comment prefixes of accounts (and whether
their lines carry a UUID), the stats API port, account-list files and the expiry cron.
Its output is untrusted: each line is parsed against a strict shape and anything else is
skipped and counted.
"""

from __future__ import annotations

import collections
import re
import shlex

import attrs

from qrisbot.config import LAYOUTS, MARKER, PREFIX, Server
from qrisbot.provision.ssh.connections import Connections, SshError

CONFIGS = ("/etc/xray/config.json", "/usr/local/etc/xray/config.json", "/etc/xray/vme.json",
           "/etc/xray/vle.json", "/etc/xray/tro.json")
LISTS = ("/etc/vless/.vless.db", "/etc/xray/ssh", "/etc/vless/akundelete",
         "/etc/vless/listlock", "/etc/lunatic")
CRONS = ("/etc/cron.d/xp_otm", "/etc/cron.d/xp_all", "/etc/cron.d/xp")
PORTS = ("10085", "10000")
_LINE = re.compile(
    r"(?P<kind>file|marker|prefix|port|list|cron) (?P<path>/[A-Za-z0-9/_.-]{1,100})"
    r"(?: (?P<value>#[#&!A-Za-z0-9_-]{0,32}|\d{1,5})(?: (?P<fields>\d{1,2}) (?P<count>\d{1,9}))?)?")


@attrs.frozen
class Findings:
    server: Server
    error: str | None = None
    files: tuple[str, ...] = ()
    markers: dict[str, tuple[str, ...]] = attrs.field(factory=dict)  # file -> markers
    prefixes: dict[str, dict[str, tuple[int, int]]] = attrs.field(factory=dict)
    ports: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
    crons: tuple[str, ...] = ()
    skipped: int = 0  # output lines that were not what the script prints

    @property
    def family(self) -> str | None:
        """The layout this server looks like, or None when it looks like none of them."""
        seen = {p for by_prefix in self.prefixes.values() for p in by_prefix}
        markers = {m for found in self.markers.values() for m in found}
        if "/etc/xray/vle.json" in self.files or "/etc/vless/.vless.db" in self.lists or (
                "/etc/lunatic" in self.lists):
            return "lunatic"
        if seen & {"#vl", "#vlg", "#vm", "#vmg", "#tr", "#trg"} or (
                {"/etc/xray/ssh", "/etc/vless/akundelete"} & set(self.lists)):
            return "rmbl"
        if {"#vless", "#vlessgrpc"} <= markers or {"#vmess", "#vmessgrpc"} <= markers or (
                {"#trojanws", "#trojangrpc"} <= markers):
            return "classic"
        return None

    def xray_settings(self, protocol: str) -> dict[str, str]:
        """The server's `xray` table for `protocol`: the layout, and what differs from it
        (empty when it looks like no family, or for ssh)."""
        family = self.family
        if family is None or protocol == "ssh":
            return {}
        preset = LAYOUTS[family][protocol]
        settings = {"layout": family}
        if preset.config not in self.files:
            found = [f for f in self.files if self.markers.get(f)]
            if found:
                settings["config"] = found[0]
        return settings

    def config_lines(self) -> list[str]:
        """The server's `xray` line to paste: the layout, and what differs from it."""
        settings = self.xray_settings(self.server.protocol)
        if not settings:
            return []
        return ["xray = { " + ", ".join(f'{k} = "{v}"' for k, v in settings.items()) + " }"]


def _script(root: str) -> str:
    def at(path: str) -> str:
        return shlex.quote(root + path)

    lines = ["set +e"]
    for path in CONFIGS:
        lines.append(f"""if [ -f {at(path)} ]; then
  echo file {path}
  grep -oE '^[[:space:]]*#[A-Za-z0-9_-]{{1,32}}[[:space:]]*$' {at(path)} | tr -d ' \\t' \\
    | sort -u | head -50 | sed 's|^|marker {path} |'
  grep -E '^#[#&!A-Za-z0-9_-]{{0,8}} [A-Za-z0-9_.-]+ [0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}( |$)' \\
    {at(path)} | awk '{{ print $1, NF }}' | sort | uniq -c | head -50 \\
    | awk '{{ print "prefix {path}", $2, $3, $1 }}'
  for port in {" ".join(PORTS)}; do
    grep -q "\\"port\\": *$port\\b" {at(path)} && echo port {path} $port
  done
fi""")
    for path in LISTS:
        lines.append(f"[ -e {at(path)} ] && echo list {path}")
    for path in CRONS:
        lines.append(f"[ -f {at(path)} ] && echo cron {path}")
    lines.append("exit 0")
    return "\n".join(lines)


async def detect(server: Server, connections: Connections, root: str = "") -> Findings:
    """Read the server (nothing is written). `root` puts the paths under a folder (the
    tests lay out one family per folder on one machine)."""
    try:
        result = await connections.get(server.ssh).run(_script(root))
    except SshError as exc:
        return Findings(server, error=str(exc))
    files: list[str] = []
    markers: dict[str, list[str]] = collections.defaultdict(list)
    prefixes: dict[str, dict[str, tuple[int, int]]] = collections.defaultdict(dict)
    ports, lists, crons = [], [], []
    skipped = 0
    for line in result.stdout.splitlines():
        match = _LINE.fullmatch(line.strip())
        if match is None:
            skipped += 1
            continue
        kind, path, value = match["kind"], match["path"], match["value"]
        if kind == "file":
            files.append(path)
        elif kind == "marker" and value and MARKER.fullmatch(value):
            markers[path].append(value)
        elif kind == "prefix" and value and PREFIX.fullmatch(value) and match["count"]:
            prefixes[path][value] = (int(match["fields"]), int(match["count"]))
        elif kind == "port" and value:
            ports.append(value)
        elif kind == "list":
            lists.append(path)
        elif kind == "cron":
            crons.append(path)
        else:
            skipped += 1
    return Findings(server, files=tuple(files),
                    markers={k: tuple(v) for k, v in markers.items()},
                    prefixes=dict(prefixes), ports=tuple(sorted(set(ports))),
                    lists=tuple(lists), crons=tuple(crons), skipped=skipped)

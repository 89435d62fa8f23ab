"""The panel/api routes of 3x-ui, per version, answering in its `{success, msg, obj}` envelope.

Every handler failure is HTTP 200 with `success: false` and `msg` = translated text +
" (" + error + ")" (web/controller/util.go jsonMsgObj). Unknown routes are a bare 404
(web.go NoRoute: AbortWithStatus, no body).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import attrs

from qrisbot.testing.http import Request, Response
from qrisbot.testing.xui.links import share_link
from qrisbot.testing.xui.panel import Panel, PanelError
from qrisbot.testing.xui.version import Version

WENT_WRONG = "Something went wrong"
ADDED = "Inbound client(s) have been added."
DELETED = "Inbound client has been deleted."
UPDATED = "Inbound client has been updated."


@attrs.frozen
class Route:
    method: str
    path: str  # relative to panel/api/, {name} for a parameter
    since: str = "0"
    until: str | None = None  # first version without it

    @property
    def name(self) -> str:  # what fail() and count() call it: the path up to its parameters
        return "/".join(p for p in self.path.split("/") if not p.startswith("{"))

    def match(self, method: str, rel: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        pattern = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        m = re.fullmatch(pattern, rel)
        return {k: unquote(v) for k, v in m.groupdict().items()} if m else None


ROUTES = (
    Route("GET", "inbounds/list"),
    Route("GET", "inbounds/get/{id}"),
    Route("GET", "inbounds/getClientTraffics/{email}", until="3.1"),
    Route("POST", "inbounds/addClient", until="3.1"),
    Route("POST", "inbounds/updateClient/{clientId}", until="3.1"),
    Route("POST", "inbounds/{id}/delClient/{clientId}", until="3.1"),
    Route("POST", "inbounds/{id}/delClientByEmail/{email}", since="2.8", until="3.1"),
    Route("POST", "inbounds/{id}/resetClientTraffic/{email}", until="3.1"),
    Route("GET", "clients/list", since="3.1"),
    Route("GET", "clients/get/{email}", since="3.1"),
    Route("GET", "clients/traffic/{email}", since="3.1"),
    Route("GET", "clients/links/{email}", since="3.1"),
    Route("GET", "clients/subLinks/{subId}", since="3.1"),
    Route("POST", "clients/add", since="3.1"),
    Route("POST", "clients/update/{email}", since="3.1"),
    Route("POST", "clients/del/{email}", since="3.1"),
    Route("POST", "clients/resetTraffic/{email}", since="3.1"),
    Route("GET", "openapi.json", since="3.6"),
)


def find_route(version: Version, method: str, rel: str) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES:
        if not version.at_least(route.since):
            continue
        if route.until is not None and version.at_least(route.until):
            continue
        params = route.match(method, rel)
        if params is not None:
            return route, params
    return None


def ok(obj: Any = None, msg: str = "") -> Response:
    return Response.json({"success": True, "msg": msg, "obj": obj})


def failed(msg: str, error: str) -> Response:
    return Response.json({"success": False, "msg": f"{msg} ({error})", "obj": None})


class BadRequest(Exception):
    """A body gin could not bind: `msg` is the handler's own text before the Go error."""


Handler = Callable[[Panel, dict[str, str], Request, str], Response]


def answer(panel: Panel, route: Route, params: dict[str, str], request: Request,
           host: str) -> Response:
    try:
        return HANDLERS[route.name](panel, params, request, host)
    except BadRequest as exc:
        return failed(WENT_WRONG, str(exc))


def _traffic_error(panel: Panel) -> str:
    # en-US: 2.x and 3.0 say "traffics", 3.1 "traffic".
    return "Error getting traffic." if panel.version.clients_api else "Error getting traffics."


def _inbound_id(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise BadRequest(f"strconv.Atoi: parsing {json.dumps(value)}: invalid syntax")


def _inbound_body(request: Request) -> tuple[int, list[dict[str, Any]]]:
    """model.Inbound bound from JSON or a form: `id` and `settings` (a JSON string)."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = request.json()
        except ValueError:
            raise BadRequest("invalid character looking for beginning of value") from None
        if not isinstance(body, dict):
            raise BadRequest("json: cannot unmarshal into Go value of type model.Inbound")
        settings = body.get("settings", "")
        if not isinstance(settings, str):
            raise BadRequest("json: cannot unmarshal object into Go struct field "
                             "Inbound.settings of type string")
        inbound_id = _inbound_id(body.get("id", 0))
    else:
        fields, _ = request.form()
        settings, inbound_id = fields.get("settings", ""), _inbound_id(fields.get("id", "0"))
    try:
        decoded = json.loads(settings)
    except ValueError:
        raise BadRequest("unexpected end of JSON input" if not settings
                         else "invalid character looking for beginning of value") from None
    clients = decoded.get("clients") if isinstance(decoded, dict) else None
    if not isinstance(clients, list) or not all(isinstance(c, dict) for c in clients):
        raise BadRequest("settings holds no clients list")
    return inbound_id, clients


GO_TYPES = {str: "string", int: "int64", bool: "bool"}
CLIENT_FIELDS: dict[str, type] = {
    "id": str, "security": str, "password": str, "flow": str, "email": str, "subId": str,
    "comment": str, "limitIp": int, "totalGB": int, "expiryTime": int, "tgId": int,
    "reset": int, "enable": bool,
}


def _typed_client(value: Any, where: str) -> dict[str, Any]:
    """ShouldBindJSON into model.Client (3.1): a field of the wrong JSON type fails."""
    if not isinstance(value, dict):
        raise BadRequest(f"json: cannot unmarshal into Go struct field {where} of type "
                         "model.Client")
    for field, kind in CLIENT_FIELDS.items():
        if field not in value:
            continue
        item = value[field]
        good = isinstance(item, kind) and (kind is bool or not isinstance(item, bool))
        if not good:
            got = "number" if isinstance(item, int | float) and not isinstance(item, bool) \
                else type(item).__name__.replace("str", "string").replace("dict", "object")
            raise BadRequest(f"json: cannot unmarshal {got} into Go struct field "
                             f"{where}.{field} of type {GO_TYPES[kind]}")
    return value


def _json_body(request: Request) -> Any:
    try:
        return request.json()
    except ValueError:
        raise BadRequest("invalid character looking for beginning of value") from None


# --- handlers ----------------------------------------------------------------------------------

def _list(panel: Panel, params: dict[str, str], request: Request, host: str) -> Response:
    return ok([panel.inbound_json(ib) for ib in sorted(panel.inbounds.values(),
                                                       key=lambda i: i.id)])


def _get(panel: Panel, params: dict[str, str], request: Request, host: str) -> Response:
    try:
        return ok(panel.inbound_json(panel.inbound(_inbound_id(params["id"]))))
    except PanelError as exc:
        return failed("Obtain", exc.text)


def _traffic(panel: Panel, params: dict[str, str], request: Request, host: str) -> Response:
    try:
        return ok(panel.client_traffic(params["email"]))
    except PanelError as exc:
        return failed(_traffic_error(panel), exc.text)


def _add_client(panel: Panel, params: dict[str, str], request: Request, host: str) -> Response:
    inbound_id, clients = _inbound_body(request)
    try:
        panel.add_clients(inbound_id, clients)
    except PanelError as exc:
        return failed(WENT_WRONG, exc.text)
    return ok(msg=ADDED)


def _update_client(panel: Panel, params: dict[str, str], request: Request, host: str
                   ) -> Response:
    inbound_id, clients = _inbound_body(request)
    try:
        if not clients:
            raise PanelError("runtime error: index out of range [0] with length 0")
        panel.update_client(inbound_id, params["clientId"], clients[0])
    except PanelError as exc:
        return failed(WENT_WRONG, exc.text)
    return ok(msg=UPDATED)


def _del_client(panel: Panel, params: dict[str, str], request: Request, host: str) -> Response:
    try:
        panel.delete_client(_inbound_id(params["id"]), params["clientId"])
    except PanelError as exc:
        return failed(WENT_WRONG, exc.text)
    return ok(msg=DELETED)


def _del_by_email(panel: Panel, params: dict[str, str], request: Request, host: str
                  ) -> Response:
    try:
        panel.delete_by_email(_inbound_id(params["id"]), params["email"])
    except PanelError as exc:
        return failed("Failed to delete client by email", exc.text)
    return ok(msg="Client deleted successfully")


def _reset(panel: Panel, params: dict[str, str], request: Request, host: str) -> Response:
    try:
        if panel.version.clients_api:
            panel.record(params["email"])
        panel.reset_traffic(params["email"])
    except PanelError as exc:
        return failed(WENT_WRONG, exc.text)
    return ok(msg="Traffic has been reset.")


def _clients_list(panel: Panel, params: dict[str, str], request: Request, host: str
                  ) -> Response:
    emails = dict.fromkeys(str(c.get("email")) for ib in sorted(
        panel.inbounds.values(), key=lambda i: i.id) for c in ib.clients if c.get("email"))
    rows = []
    for email in emails:
        row = panel.record(email) | {"inboundIds": panel.inbound_ids(email)}
        if email in panel.traffic:
            row["traffic"] = panel.traffic_json(panel.traffic[email])
        rows.append(row)
    return ok(rows)


def _clients_get(panel: Panel, params: dict[str, str], request: Request, host: str
                 ) -> Response:
    try:
        record = panel.record(params["email"])
    except PanelError as exc:
        # I18nWeb(c, "get"): en-US.json has no "get" key, so the text before it is empty.
        return failed("", exc.text)
    return ok({"client": record, "inboundIds": panel.inbound_ids(params["email"])})


def _clients_links(panel: Panel, params: dict[str, str], request: Request, host: str
                   ) -> Response:
    try:
        panel.record(params["email"])
    except PanelError as exc:
        return failed("Obtain", exc.text)
    return ok([share_link(ib, c, host) for ib, c in panel.entries(params["email"])])


def _clients_sub_links(panel: Panel, params: dict[str, str], request: Request, host: str
                       ) -> Response:
    links = [share_link(ib, c, host) for ib in sorted(panel.inbounds.values(),
                                                      key=lambda i: i.id)
             for c in ib.clients if c.get("subId") == params["subId"]]
    return ok(links)


def _clients_add(panel: Panel, params: dict[str, str], request: Request, host: str
                 ) -> Response:
    body = _json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("json: cannot unmarshal into Go value of type "
                         "service.ClientCreatePayload")
    client = _typed_client(body.get("client", {}), "ClientCreatePayload.client")
    ids = body.get("inboundIds") or []
    if not isinstance(ids, list) or not all(type(i) is int for i in ids):
        raise BadRequest("json: cannot unmarshal into Go struct field "
                         "ClientCreatePayload.inboundIds of type []int")
    try:
        panel.create(client, ids)
    except PanelError as exc:
        return failed(WENT_WRONG, exc.text)
    return ok(msg=ADDED)


def _clients_update(panel: Panel, params: dict[str, str], request: Request, host: str
                    ) -> Response:
    client = _typed_client(_json_body(request), "Client")
    try:
        panel.update(params["email"], client)
    except PanelError as exc:
        return failed(WENT_WRONG, exc.text)
    return ok(msg=UPDATED)


def _clients_del(panel: Panel, params: dict[str, str], request: Request, host: str
                 ) -> Response:
    try:
        panel.delete(params["email"], keep_traffic=request.query.get("keepTraffic") == "1")
    except PanelError as exc:
        return failed(WENT_WRONG, exc.text)
    return ok(msg=DELETED)


def _openapi(panel: Panel, params: dict[str, str], request: Request, host: str) -> Response:
    # Served raw (not in the envelope), as the SPA build's dist/openapi.json.
    return Response.json({"openapi": "3.0.3", "info": {"title": "3x-ui panel API",
                                                       "version": str(panel.version)},
                          "paths": {f"/panel/api/{r.path}": {} for r in ROUTES}})


HANDLERS: dict[str, Handler] = {
    "inbounds/list": _list,
    "inbounds/get": _get,
    "inbounds/getClientTraffics": _traffic,
    "inbounds/addClient": _add_client,
    "inbounds/updateClient": _update_client,
    "inbounds/delClient": _del_client,
    "inbounds/delClientByEmail": _del_by_email,
    "inbounds/resetClientTraffic": _reset,
    "clients/list": _clients_list,
    "clients/get": _clients_get,
    "clients/traffic": _traffic,
    "clients/links": _clients_links,
    "clients/subLinks": _clients_sub_links,
    "clients/add": _clients_add,
    "clients/update": _clients_update,
    "clients/del": _clients_del,
    "clients/resetTraffic": _reset,
    "openapi.json": _openapi,
}

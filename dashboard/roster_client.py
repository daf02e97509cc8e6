"""The roster page's calls to the API's roster routes (wfm/api/roster_routes.py).

Thin functions over dashboard.client.ApiClient: they carry the visitor's
session cookie, and state changes carry the CSRF token (ApiClient._send), so
roles are enforced by the API's route table alone. Errors are
dashboard.client.ApiError with the API's plain-words detail.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import msgspec
import requests

from dashboard.client import ApiClient

# Forecasting a month, checking a roster or rendering its workbook takes seconds, not the
# floor pages' short API timeout (dashboard.api_timeout_s): the roster calls wait this long.
ROSTER_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class _PatientTransport:
    base: str
    http: requests.Session
    timeout_s: float


def patient(client: ApiClient) -> ApiClient:
    """The same visitor's client (same cookies, same pooled connections) with the roster timeout."""
    transport = _PatientTransport(client.transport.base, client.transport.http, ROSTER_TIMEOUT_S)
    return ApiClient(transport, client.cookies)  # type: ignore[arg-type]


def _q(text: str) -> str:
    return quote(str(text), safe="")


def _get(client: ApiClient, path: str) -> Any:
    return msgspec.json.decode(client._call("GET", path))


def sources(client: ApiClient) -> dict:
    return _get(client, "/api/roster/sources")


def demand(client: ApiClient, body: dict) -> dict:
    return client._send("POST", "/api/roster/demand", body)


def what_if(client: ApiClient, body: dict) -> dict:
    return client._send("POST", "/api/roster/whatif", body)


def start(client: ApiClient, body: dict) -> dict:
    return client._send("POST", "/api/roster/jobs", body)


def job(client: ApiClient, job_id: str) -> dict:
    return _get(client, f"/api/roster/jobs/{_q(job_id)}")


def versions(client: ApiClient, month: str) -> list[dict]:
    return _get(client, f"/api/roster/{_q(month)}/versions")["versions"]


def record(client: ApiClient, month: str, job_id: str, note: str = "") -> dict:
    return client._send("POST", f"/api/roster/{_q(month)}/versions", {"job_id": job_id, "note": note})


def view(client: ApiClient, month: str, version: int) -> dict:
    return _get(client, f"/api/roster/{_q(month)}/versions/{int(version)}")


def gate(client: ApiClient, month: str, version: int) -> dict:
    return _get(client, f"/api/roster/{_q(month)}/versions/{int(version)}/gate")


def diff(client: ApiClient, month: str, version: int) -> dict:
    return _get(client, f"/api/roster/{_q(month)}/versions/{int(version)}/diff")


def download(client: ApiClient, month: str, version: int, fmt: str) -> bytes:
    return client._call("GET", f"/api/roster/{_q(month)}/versions/{int(version)}/files/{_q(fmt)}")


def publish(client: ApiClient, month: str, version: int, reason: str, confirm: bool) -> dict:
    return client._send("POST", f"/api/roster/{_q(month)}/versions/{int(version)}/publish",
                        {"reason": reason, "confirm": confirm})


def edit_cell(client: ApiClient, month: str, version: int, agent: str, day: str, shift: str,
              meal_start: str | None) -> dict:
    return client._send("POST", f"/api/roster/{_q(month)}/versions/{int(version)}/cells",
                        {"agent": agent, "date": day, "shift": shift, "meal_start": meal_start})


def swap(client: ApiClient, month: str, agent_a: str, agent_b: str, day: str, day2: str | None) -> dict:
    return client._send("POST", f"/api/roster/{_q(month)}/swaps",
                        {"agent_a": agent_a, "agent_b": agent_b, "day": day, "day2": day2})


def month_requests(client: ApiClient, month: str) -> list[dict]:
    return _get(client, f"/api/roster/{_q(month)}/requests")["requests"]


def agent_requests(client: ApiClient, agent: str, month: str) -> list[dict]:
    return _get(client, f"/api/agents/{_q(agent)}/roster-requests/{_q(month)}")["requests"]


def submit_request(client: ApiClient, agent: str, month: str, kind: str, day: str, note: str = "") -> dict:
    return client._send("POST", f"/api/agents/{_q(agent)}/roster-requests/{_q(month)}",
                        {"kind": kind, "date": day, "note": note})


def withdraw_request(client: ApiClient, agent: str, month: str, request_id: str) -> dict:
    return client._send("DELETE", f"/api/agents/{_q(agent)}/roster-requests/{_q(month)}/{_q(request_id)}")

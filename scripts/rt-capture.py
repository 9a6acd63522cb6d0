#!/usr/bin/env python3
"""Capture the RT REST 2 payloads the connector tests replay (tests/fixtures/rt/).

Run against a disposable RT 5 seeded with the shared contract (queues `Support T1`..`T4`, the
ticket custom fields of connectors/rt.example.toml, the user field `Customer Tags`), e.g. the
one scripts/rt-up starts. It acts as three users, each with its own credentials:

    the bot       ESC_SYNC_RT_TOKEN (auth token of the profile's `email` user)
    an agent      --agent NAME:PASSWORD (privileged; HTTP Basic)
    a customer    --customer NAME:PASSWORD (unprivileged, with an Organization and Customer
                  Tags; Everyone needs CreateTicket, as for e-mail intake)

It creates one story (a customer ticket, an agent reply and note, a resolve, the customer's
reopening reply, the bot's escalation PUT, note, reply and follow-up task) plus a few refused
writes, and saves every response body byte for byte as `<name>.json`; MANIFEST.json records
each request (method, path, parameters, body), status, ETag/Location and the time.

    ESC_SYNC_RT_TOKEN=1-NN-... .venv/bin/python scripts/rt-capture.py \\
        --url http://127.0.0.1:8081 --agent agent1:agent1pass --customer alice@acme.test:pw
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from esc_sync.connectors.rt.client import ATTACHMENT_FIELDS, HISTORY_FIELDS, TICKET_FIELDS

KEEP_HEADERS = ("ETag", "Location", "Content-Type")


class Recorder:
    """Sends requests as one of the three users and keeps what RT answered."""

    def __init__(self, url: str, out: Path, token: str, agent: str, customer: str) -> None:
        self.api = url.rstrip("/") + "/REST/2.0"
        self.out = out
        self.auth: dict[str, dict[str, Any]] = {
            "bot": {"headers": {"Authorization": f"token {token}"}},
            "agent": {"auth": tuple(agent.split(":", 1))},
            "customer": {"auth": tuple(customer.split(":", 1))},
            "nobody": {"headers": {"Authorization": "token 1-1-00000000000000000000000000000000"}},
        }
        self.manifest: dict[str, Any] = {}

    def call(self, who: str, method: str, path: str, name: str | None = None, **kw: Any) -> Any:
        """One request; with a name, its body is saved as a fixture."""
        extra = dict(self.auth[who])
        headers = {"Accept": "application/json", **extra.pop("headers", {})}
        headers.update(kw.pop("headers", {}))
        response = requests.request(
            method, self.api + path, headers=headers, timeout=30, **extra, **kw
        )
        print(f"{who:8} {method:4} {path} -> {response.status_code}", file=sys.stderr)
        if name:
            (self.out / f"{name}.json").write_bytes(response.content)
            self.manifest[f"{name}.json"] = {
                "as": who,
                "method": method,
                "path": path,
                "params": kw.get("params"),
                "body": kw.get("json"),
                "status": response.status_code,
                "headers": {k: response.headers[k] for k in KEEP_HEADERS if k in response.headers},
                "captured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        try:
            return response.json()
        except ValueError:
            return response.text

    def etag(self, ticket_id: int) -> str:
        """The ticket's current ETag."""
        response = requests.get(f"{self.api}/ticket/{ticket_id}", timeout=30, **self.auth["bot"])
        return response.headers["ETag"]


def story(rec: Recorder) -> int:
    """The ticket's life, then the reads and writes the connector makes; the ticket id."""
    since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    created = rec.call(
        "customer",
        "POST",
        "/ticket",
        json={
            "Queue": "Support T1",
            "Requestor": rec.auth["customer"]["auth"][0],  # REST 2 does not default it
            "Subject": "Invoice shows the wrong amount",
            "Content": "My invoice INV-1042 charges 240 EUR instead of 120 EUR.\nPlease fix.",
            "ContentType": "text/plain",
        },
    )
    tid = int(created["id"])
    rec.call(
        "bot",
        "PUT",
        f"/ticket/{tid}",
        headers={"If-Match": rec.etag(tid)},
        json={
            "Priority": 30,
            "CustomFields": {"Tags": ["billing", "invoice"], "Refund Amount": "120.00"},
        },
    )
    agent_note = {"Content": "Checked billing: double charge.", "ContentType": "text/plain"}
    reply = {"Content": "Sorry about that, we are checking.", "ContentType": "text/plain"}
    rec.call("agent", "POST", f"/ticket/{tid}/correspond", json=reply)
    rec.call("agent", "POST", f"/ticket/{tid}/comment", json=agent_note)
    rec.call("agent", "PUT", f"/ticket/{tid}", json={"Status": "resolved"})
    again = {"Content": "It is still wrong on the new invoice!", "ContentType": "text/plain"}
    rec.call("customer", "POST", f"/ticket/{tid}/correspond", json=again)

    feed = {"query": f"LastUpdated >= '{since}'", "page": 1, "per_page": 100, **TICKET_FIELDS}
    feed |= {"orderby": ["LastUpdated", "id"], "order": ["ASC", "ASC"]}
    rec.call("bot", "GET", "/tickets", "tickets_search_page", params=feed)
    history = [{"field": "ObjectType", "value": "RT::Ticket"}, {"field": "ObjectId", "value": tid}]
    params = {"page": 1, "per_page": 100, "orderby": "id", **HISTORY_FIELDS}
    txns = rec.call(
        "bot", "POST", "/transactions", "transactions_search", params=params, json=history
    )
    wanted = [
        int(t["id"]) for t in txns["items"] if t["Type"] in ("Create", "Correspond", "Comment")
    ]
    query = [{"field": "TransactionId", "operator": "IN", "value": wanted}]
    params = {"page": 1, "per_page": 100, "orderby": "id", **ATTACHMENT_FIELDS}
    rec.call("bot", "POST", "/attachments", "attachments_search", params=params, json=query)
    rec.call("bot", "GET", "/user/agent1", "user_privileged")
    rec.call("bot", "GET", f"/user/{rec.auth['customer']['auth'][0]}", "user_unprivileged")
    rec.call("bot", "GET", f"/ticket/{tid}", "ticket_show")
    writes(rec, tid)
    return tid


def writes(rec: Recorder, tid: int) -> None:
    """The escalation write, its refusals, the messages and the follow-up task."""
    etag = rec.etag(tid)
    put = {
        "Queue": "Support T2",
        "Priority": 50,
        "Status": "open",
        "CustomFields": {
            "Escalation Status": "t2 escalated",
            "Respond By": "2026-11-23 10:00:00",
            "Resolve By": "2026-11-24 10:00:00",
            "Tags": ["billing", "invoice", "esc-repeat"],
        },
    }
    rec.call(
        "bot", "PUT", f"/ticket/{tid}", "put_escalation_ok", json=put, headers={"If-Match": etag}
    )
    rec.call(
        "bot", "PUT", f"/ticket/{tid}", "error_412_precondition_failed",
        json={"Priority": 75}, headers={"If-Match": etag},
    )  # fmt: skip
    refused = {
        "put_refused_queue": {"Queue": "No Such Queue"},
        "put_refused_owner": {"Owner": "no-such-user"},
        "put_refused_cf_value": {"CustomFields": {"Satisfaction": "meh"}},
        "put_refused_status": {"Status": "bogus"},
    }
    for name, body in refused.items():
        headers = {"If-Match": rec.etag(tid)}
        rec.call("bot", "PUT", f"/ticket/{tid}", name, json=body, headers=headers)
    note = f"Escalated to t2: repeat billing error.\n\nesc-sync:rt:{tid}:ep1:t2"
    rec.call("bot", "POST", f"/ticket/{tid}/comment", "comment_created",
             json={"Content": note, "ContentType": "text/plain"})  # fmt: skip
    message = {"Content": "We have escalated your ticket.", "ContentType": "text/plain"}
    rec.call("bot", "POST", f"/ticket/{tid}/correspond", "correspond_created", json=message)
    external = f"esc-sync:rt:{tid}:ep1:t2:call-customer"
    task = {
        "Queue": "Support T2",
        "Subject": "Call the customer",
        "Content": f"Call the customer back within the hour.\n\n{external}",
        "ContentType": "text/plain",
        "Parent": tid,
        "Due": "2026-11-23 12:00:00",
        "CustomFields": {"Task Id": external},
    }
    rec.call("bot", "POST", "/ticket", "ticket_created", json=task)
    find = {"query": f"'CF.{{Task Id}}' = '{external}'", "page": 1, "per_page": 100}
    rec.call("bot", "GET", "/tickets", "tickets_search_task", params={**find, **TICKET_FIELDS})
    rec.call("bot", "GET", "/tickets", "error_400_unknown_field", params={"query": "Foo = 1"})
    rec.call("nobody", "GET", "/rt", "error_401_unauthorized")


def smoke(url: str, tid: int, start: datetime) -> None:
    """The connector end to end on the story's ticket: feed, history, escalation, task."""
    from esc_sync.config import load_profile
    from esc_sync.connectors import build_connector
    from esc_sync.model import TaskCreate, TicketUpdate

    example = Path(__file__).resolve().parents[1] / "connectors" / "rt.example.toml"
    profile = load_profile(example, "rt").model_copy(update={"base_url": url.rstrip("/")})
    rt = build_connector(profile)
    rt.check_auth()
    pages = list(rt.iter_changes(None, start))
    ticket = next(t for p in pages for t in p.tickets if t.id == tid)
    ticket = rt.load_comments(ticket)
    print(f"read: ticket {tid} {ticket.status} {ticket.priority} {ticket.tier} {ticket.tags}")
    print(f"      {len(ticket.comments)} comments, reopens={ticket.reopens}, {ticket.version}")
    update = TicketUpdate(
        ticket_id=tid,
        version=ticket.version,
        tags=(*ticket.tags, "esc-smoke"),
        group=profile.groups["t3"],
        priority="urgent",
        custom_fields={"escalation_status": "t3 escalated", "respond_by": datetime.now(UTC)},
        note=f"Smoke escalation to t3.\n\nesc-sync:rt:{tid}:ep1:t3",
    )
    print(f"write: {rt.apply_update(update)}")
    external = f"esc-sync:rt:{tid}:ep1:t3:smoke"
    task = TaskCreate(external, "Smoke task", external, datetime.now(UTC), "Support T3", tid)
    task_id = rt.create_task(task)
    print(f"task: {task_id}, found again: {rt.find_task(external)}")
    print("calls:", dict(sorted(rt.calls.items())))


def main() -> int:
    """Parse the arguments, record the story, write the manifest."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="RT's base URL (without /REST/2.0)")
    parser.add_argument("--agent", required=True, help="NAME:PASSWORD of a privileged agent")
    parser.add_argument("--customer", required=True, help="NAME:PASSWORD of a customer")
    parser.add_argument("--out", default="tests/fixtures/rt", type=Path)
    parser.add_argument(
        "--smoke", action="store_true", help="then run the connector end to end on the ticket"
    )
    args = parser.parse_args()
    token = os.environ.get("ESC_SYNC_RT_TOKEN")
    if not token:
        parser.error("ESC_SYNC_RT_TOKEN must hold the bot's RT auth token")
    args.out.mkdir(parents=True, exist_ok=True)
    rec = Recorder(args.url, args.out, token, args.agent, args.customer)
    start = datetime.now(UTC).replace(microsecond=0)
    tid = story(rec)
    manifest = json.dumps(rec.manifest, indent=2, sort_keys=True) + "\n"
    (args.out / "MANIFEST.json").write_text(manifest)
    if args.smoke:
        smoke(args.url, tid, start)
    return 0


if __name__ == "__main__":
    sys.exit(main())

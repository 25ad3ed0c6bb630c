"""The Salesforce emulator answers as the fact sheet says Salesforce does: OAuth tokens,
SOQL paging with ``nextRecordsUrl``, ``queryAll``, getDeleted's horizon, describe, errors as a
JSON array, the 403 quota and injected faults; and the SOQL subset it parses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from pie.sources.salesforce import soql
from pie.sources.salesforce.emulator import SalesforceEmulator
from pie.sources.salesforce.org import Org, org_from_world

WORLD: dict[str, Any] = {
    "accounts": [
        {"id": f"A{i}", "name": f"Acme {i}", "domain": f"acme{i}.example", "country": "Spain",
         "employees": 50 * i, "created_at": "2025-01-01T00:00:00Z"}
        for i in range(1, 4)
    ],
    "contacts": [
        {"id": "C1", "account": "A1", "name": "Ada Lovelace", "created_at": "2025-01-02T00:00:00Z"}
    ],
    "deals": [
        {"id": f"D{i}", "name": f"Deal {i}", "account": "A1", "stage": "demo", "value": 1000 * i,
         "expected_close": "2025-09-30", "owner": "Casey Rivera",
         "created_at": f"2025-02-{i:02d}T10:00:00Z", "updated_at": f"2025-03-{i:02d}T10:00:00Z",
         "stage_history": [
             {"from": None, "to": "lead", "at": f"2025-02-{i:02d}T10:00:00Z", "value": 1000 * i},
             {"from": "lead", "to": "demo", "at": f"2025-03-{i:02d}T10:00:00Z", "value": 1000 * i},
         ],
         "stakeholders": [{"contact": "C1", "roles": ["champion"], "primary": True}],
         "activities": [{"id": f"D{i}-1", "type": "call", "at": f"2025-02-{i:02d}T11:00:00Z",
                         "participants": ["C1"], "subject": "Intro call"}]}
        for i in range(1, 6)
    ],
}  # fmt: skip


@pytest.fixture
def emulator() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator(org_from_world(WORLD), page_size=2) as em:
        yield em


def session(em: SalesforceEmulator) -> requests.Session:
    s = requests.Session()
    assert em.ca_file is not None
    s.verify = em.ca_file
    s.trust_env = False
    return s


def token(em: SalesforceEmulator, s: requests.Session, **form: str) -> dict[str, Any]:
    body = {
        "grant_type": "refresh_token",
        "client_id": em.client_id,
        "client_secret": em.client_secret,
        "refresh_token": em.refresh_token,
        **form,
    }
    answer = s.post(em.url + "/services/oauth2/token", data=body)
    return {"status": answer.status_code, **answer.json()}


def get(em: SalesforceEmulator, s: requests.Session, path: str, tok: str, **params: str) -> Any:
    return s.get(
        em.url + "/services/data/v62.0/" + path,
        params=params,
        headers={"Authorization": f"Bearer {tok}"},
    )


def test_tokens_come_from_both_grants_and_bad_ones_are_refused(
    emulator: SalesforceEmulator,
) -> None:
    s = session(emulator)
    good = token(emulator, s)
    assert good["status"] == 200 and good["instance_url"] == emulator.url
    assert good["token_type"] == "Bearer" and good["access_token"]
    assert token(emulator, s, grant_type="client_credentials")["status"] == 200
    bad = token(emulator, s, refresh_token="nope")
    assert (bad["status"], bad["error"]) == (400, "invalid_grant")


def test_queries_page_with_next_records_url_and_errors_are_json_arrays(
    emulator: SalesforceEmulator,
) -> None:
    s = session(emulator)
    tok = token(emulator, s)["access_token"]
    q = "SELECT Id, Name, Owner.Name FROM Opportunity ORDER BY SystemModstamp, Id"
    answer = get(emulator, s, "query/", tok, q=q)
    page = answer.json()
    assert answer.headers["Sforce-Limit-Info"].startswith("api-usage=")
    assert (page["totalSize"], page["done"], len(page["records"])) == (5, False, 2)
    first = page["records"][0]
    assert first["attributes"]["type"] == "Opportunity"
    assert first["Owner"]["Name"] == "Casey Rivera"
    names = [r["Name"] for r in page["records"]]
    while not page["done"]:
        nxt = s.get(
            emulator.url + page["nextRecordsUrl"], headers={"Authorization": f"Bearer {tok}"}
        )
        page = nxt.json()
        names += [r["Name"] for r in page["records"]]
    assert names == [f"Deal {i}" for i in range(1, 6)]

    malformed = get(emulator, s, "query/", tok, q="SELECT FROM Opportunity")
    assert malformed.status_code == 400 and malformed.json()[0]["errorCode"] == "MALFORMED_QUERY"
    field = get(emulator, s, "query/", tok, q="SELECT Nope FROM Opportunity")
    assert field.status_code == 400 and field.json()[0]["errorCode"] == "INVALID_FIELD"
    expired = get(emulator, s, "query/", "not-a-token", q=q)
    assert expired.status_code == 401
    assert expired.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_filters_deletes_query_all_and_the_recycle_bin_horizon(
    emulator: SalesforceEmulator,
) -> None:
    org: Org = emulator.org
    s = session(emulator)
    tok = token(emulator, s)["access_token"]
    opportunities = sorted(org.live("Opportunity"), key=lambda o: o["Id"])
    org.update(opportunities[0]["Id"], {"StageName": "Closed Won"})
    org.delete(opportunities[1]["Id"])
    changed = org.get(opportunities[0]["Id"])
    assert changed is not None and changed["IsWon"] and changed["Probability"] == 100
    history = [h for h in org.live("OpportunityHistory") if h["OpportunityId"] == changed["Id"]]
    assert [h["StageName"] for h in history][-1] == "Closed Won"

    since = soql.soql_datetime(soql.parse_sf_datetime(changed["SystemModstamp"]))
    q = f"SELECT Id FROM Opportunity WHERE SystemModstamp >= {since} ORDER BY Id"
    assert [r["Id"] for r in get(emulator, s, "query/", tok, q=q).json()["records"]] == [
        changed["Id"]
    ]
    q = "SELECT Id FROM Opportunity WHERE IsDeleted = true"
    assert get(emulator, s, "query/", tok, q=q).json()["totalSize"] == 0
    gone = get(emulator, s, "queryAll/", tok, q=q).json()["records"]
    assert [r["Id"] for r in gone] == [opportunities[1]["Id"]]
    window = {"start": "2020-01-01T00:00:00+00:00", "end": "2099-01-01T00:00:00+00:00"}
    deleted = get(emulator, s, "sobjects/Opportunity/deleted/", tok, **window).json()
    assert [d["id"] for d in deleted["deletedRecords"]] == [opportunities[1]["Id"]]
    before = deleted["earliestDateAvailable"]
    org.purge_recycle_bin()
    after = get(emulator, s, "sobjects/Opportunity/deleted/", tok, **window).json()
    assert after["deletedRecords"] == [] and after["earliestDateAvailable"] > before
    described = get(emulator, s, "sobjects/Opportunity/describe", tok).json()
    assert {f["name"] for f in described["fields"] if f["custom"]} == {
        "Loss_Reason__c", "Product_Line__c", "Region__c"
    }  # fmt: skip


def test_the_quota_and_injected_faults(emulator: SalesforceEmulator) -> None:
    s = session(emulator)
    tok = token(emulator, s)["access_token"]
    q = "SELECT Id FROM Account"
    emulator.fail(429, at=1)
    emulator.fail(503, at=2)
    assert get(emulator, s, "query/", tok, q=q).status_code == 429
    assert get(emulator, s, "query/", tok, q=q).status_code == 503
    assert get(emulator, s, "query/", tok, q=q).status_code == 200
    emulator.set_limit(emulator.used)
    quota = get(emulator, s, "query/", tok, q=q)
    assert quota.status_code == 403 and "Retry-After" not in quota.headers
    assert quota.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    emulator.expire_tokens()
    emulator.set_limit(10**6)
    assert get(emulator, s, "query/", tok, q=q).status_code == 401


def test_the_soql_subset() -> None:
    q = soql.parse(
        "select Id, Owner.Name from Opportunity where SystemModstamp >= 2025-05-01T00:00:00Z "
        "and IsDeleted = false and Id in ('a', 'b') order by SystemModstamp desc, Id limit 5"
    )
    assert q.fields == ("Id", "Owner.Name") and q.sobject == "Opportunity"
    assert [(c.field, c.op, c.value) for c in q.where] == [
        ("SystemModstamp", ">=", "2025-05-01T00:00:00.000+0000"),
        ("IsDeleted", "=", False),
        ("Id", "IN", ("a", "b")),
    ]
    assert q.order_by == (("SystemModstamp", True), ("Id", False)) and q.limit == 5
    keep = q.predicate(lambda r, f: r.get(f))
    assert keep({"SystemModstamp": "2025-06-01T00:00:00.000+0000", "IsDeleted": False, "Id": "a"})
    assert not keep(
        {"SystemModstamp": "2025-04-01T00:00:00.000+0000", "IsDeleted": False, "Id": "a"}
    )
    for bad in ("SELECT Id", "SELECT Id FROM X WHERE", "SELECT Id FROM X LIMIT x", "DELETE X"):
        with pytest.raises(soql.SoqlError):
            soql.parse(bad)
    assert soql.quote("O'Brien") == "'O\\'Brien'"
    assert soql.parse(f"SELECT Id FROM X WHERE Name = {soql.quote(chr(39))}").where[0].value == "'"


def test_activities_older_than_a_year_are_archived_and_only_query_all_has_them(
    emulator: SalesforceEmulator,
) -> None:
    org: Org = emulator.org
    s = session(emulator)
    tok = token(emulator, s)["access_token"]
    old = org.create("Task", {"Subject": "Old call", "ActivityDate": "2001-02-03"})
    new = org.create("Task", {"Subject": "New call", "ActivityDate": org.now()[:10]})
    assert org.archive_activities() >= 1
    assert org.get(old["Id"]) == {**old, "IsArchived": True}  # its SystemModstamp stays
    ids = ", ".join(soql.quote(r["Id"]) for r in (old, new))
    q = f"SELECT Id, IsArchived FROM Task WHERE IsDeleted = false AND Id IN ({ids})"
    queried = {r["Id"] for r in get(emulator, s, "query/", tok, q=q).json()["records"]}
    answer = get(emulator, s, "queryAll/", tok, q=q).json()
    every = {r["Id"]: r["IsArchived"] for r in answer["records"]}
    assert new["Id"] in queried and old["Id"] not in queried
    assert every[old["Id"]] is True and every[new["Id"]] is not True

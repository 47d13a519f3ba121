"""Medical records read through the core's GraphQL endpoint: the same isolation as REST (another
department's doctor gets none), the same values, and each GraphQL read (GET or POST) is one read
audit entry with the path ``graphql``, as each REST read is; a query of the counts only reads no
record and is not audited."""

from __future__ import annotations

from medical_testlib import read_audit, register_patient, write_record

M = "/api/v1/medical"
QUERY = "{ medical_records { total items { id visit_no customer_id custom { diagnosis } } } }"


def test_graphql_reads_are_isolated_and_audited(client, admin_headers, clinic):
    doctor = clinic.staff[("internal", "medical_doctor")]
    patient = register_patient(client, doctor, admin_headers=admin_headers)
    record = write_record(client, doctor, patient)
    rest = client.get(f"{M}/records", headers=doctor).get_json()
    by_get = client.get("/api/v1/graphql", query_string={"query": QUERY}, headers=doctor).get_json()
    by_post = client.post("/api/v1/graphql", json={"query": QUERY}, headers=doctor).get_json()
    for answer in (by_get, by_post):
        items = answer["data"]["medical_records"]["items"]
        assert items == [
            {
                "id": r["id"],
                "visit_no": r["visit_no"],
                "customer_id": r["customer_id"],
                "custom": {"diagnosis": r["custom"]["diagnosis"]},
            }
            for r in rest
        ]
        assert items[0]["id"] == record["id"]
    surgeon = clinic.staff[("surgery", "medical_doctor")]
    other = client.post("/api/v1/graphql", json={"query": QUERY}, headers=surgeon).get_json()
    assert other["data"]["medical_records"] == {"total": 0, "items": []}
    counts = client.post("/api/v1/graphql", json={"query": "{ medical_records { total } }"}, headers=doctor)
    assert counts.get_json()["data"]["medical_records"]["total"] == 1
    entries = [e for e in read_audit(client, admin_headers) if e["action"] == "read"]
    assert [e["after"]["path"] for e in entries] == ["list", "graphql", "graphql"]
    assert entries[-1]["after"]["records"] == [record["id"]] and "diabetes" not in str(entries)

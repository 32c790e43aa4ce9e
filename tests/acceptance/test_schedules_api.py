"""The schedules API (DESIGN.md "Schedules and deliveries") against a real web process."""

from __future__ import annotations

import datetime as dt
import uuid

from tests.support.schedules import make_template


def test_create_read_edit_pause_run_now_and_delete(database_url, services):
    web = services("web", database_url)
    template = make_template(database_url)
    with web.client() as client:
        made = client.post("/api/schedules", json={
            "template_id": template, "parameters": {"region": "east"}, "cron": "@daily",
            "timezone": "Europe/Berlin", "emails": ["a@example.com"], "webhooks": ["https://hooks.example/x"]})
        assert made.status_code == 201, made.text
        schedule = made.json()
        assert schedule["webhook_secret"].startswith("whsec_") and schedule["cron"] == "0 0 * * *"
        assert schedule["formats"] == ["pdf"] and schedule["enabled"] is True
        first = dt.datetime.fromisoformat(schedule["next_fire_at"]).astimezone(dt.UTC)
        assert first.hour in (22, 23) and first.minute == 0, "midnight in Berlin"
        sid = schedule["id"]
        assert schedule["links"]["page"] == f"/schedules/{sid}"
        assert client.get(schedule["links"]["page"]).status_code == 200
        read = client.get(f"/api/schedules/{sid}").json()
        assert "webhook_secret" not in read and read["template_name"] == "Weekly sales" and read["fires"] == []
        listed = client.get("/api/schedules", params={"template_id": template}).json()["schedules"]
        assert [s["id"] for s in listed] == [sid]
        paused = client.patch(f"/api/schedules/{sid}", json={"enabled": False, "cron": "30 2 * * 1"})
        assert paused.status_code == 200, paused.text
        assert paused.json()["enabled"] is False and paused.json()["cron"] == "30 2 * * 1"
        fired = client.post(f"/api/schedules/{sid}/run-now")
        assert fired.status_code == 202, fired.text
        run = client.get(f"/api/runs/{fired.json()['run_id']}").json()
        assert run["parameters"] == {"region": "east"}
        fires = client.get(f"/api/schedules/{sid}").json()["fires"]
        assert [(f["outcome"], f["manual"]) for f in fires] == [("RUN", True)]
        assert client.get(f"/api/schedules/{sid}/deliveries").json() == {"deliveries": []}
        assert client.delete(f"/api/schedules/{sid}").status_code == 204
        assert client.get(f"/api/schedules/{sid}").status_code == 404


def test_bad_input_is_a_named_4xx_and_unknown_ids_are_404(database_url, services):
    web = services("web", database_url)
    template = make_template(database_url)
    with web.client() as client:
        bad = client.post("/api/schedules", json={"template_id": template, "cron": "61 * * * *",
                                                  "timezone": "Mars/Base", "emails": ["not-an-address"]})
        assert bad.status_code == 422
        assert set(bad.json()["error"]["details"]) == {"cron", "timezone", "emails"}
        wrong = client.post("/api/schedules", json={"template_id": template, "cron": "@hourly",
                                                    "parameters": {"nope": 1}, "emails": ["a@example.com"]})
        assert wrong.status_code == 422, wrong.text
        # URLs that look like http(s) at a glance but that no delivery could ever open (before: stored, 201).
        for url in ("http://[::1", "http://example.com:99999/hook", "http://example.com:port/hook", "https://:443/x"):
            hook = client.post("/api/schedules", json={"template_id": template, "cron": "@daily",
                                                       "webhooks": [url]})
            assert hook.status_code == 422 and set(hook.json()["error"]["details"]) == {"webhooks"}, (url, hook.text)
        assert client.get("/api/schedules").json()["schedules"] == []
        for path in (f"/api/schedules/{uuid.uuid4()}", "/api/schedules/not-a-uuid",
                     f"/api/schedules/{uuid.uuid4()}/deliveries"):
            assert client.get(path).status_code == 404
        assert client.post(f"/api/schedules/{uuid.uuid4()}/run-now").status_code == 404


def test_preview_gives_the_next_five_fire_times_in_the_zone(database_url, services):
    web = services("web", database_url)
    with web.client() as client:
        answer = client.get("/api/schedules/preview", params={"cron": "30 2 * * *", "timezone": "America/New_York"})
        assert answer.status_code == 200, answer.text
        times = [dt.datetime.fromisoformat(t["local"]) for t in answer.json()["next"]]
        assert len(times) == 5 and all((t.hour, t.minute) == (2, 30) for t in times)
        assert client.get("/api/schedules/preview", params={"cron": "nope"}).status_code == 422

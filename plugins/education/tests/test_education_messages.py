"""Trial and lesson-hour reminders reach the guardian through the core's messaging
(send_message on EDUCATION_MESSAGE_CHANNEL, purpose service), once each however often the jobs
run; the events name the delivery."""

from __future__ import annotations

import datetime as dt

import pytest
from education_testlib import E, School, events, ok

from crm_core import hookimpl
from crm_core.plugin_api import MessageChannel, SendResult, delivery_status, utcnow
from crm_core.testing import run_cli


class Texter:
    """A message channel of a throwaway plugin: what it was asked to send, to whom."""

    def __init__(self):
        self.sent = []

    def send(self, recipient, message):
        self.sent.append((recipient.get("phone"), recipient.get("customer_id"), message["text"]))
        return SendResult(True, "ok")

    @hookimpl
    def crm_message_channels(self):
        return [MessageChannel(name="school-text", kinds=("text",), send=self.send)]


@pytest.fixture
def app_config(app_config):
    return {**app_config, "EDUCATION_MESSAGE_CHANNEL": "school-text"}


# one database (CI time): the reminders' queries are the jobs' own, run on both by the other tests
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_trial_and_low_hours_reminders_go_to_the_guardian_once(register_plugin, admin_headers):
    texter = Texter()
    app = register_plugin(texter, "texter")
    with app.app_context():
        client = app.test_client()
        school = School(client, admin_headers)
        course = school.course("少儿英语")
        klass = school.klass(course, None, None)
        soon = utcnow() + dt.timedelta(hours=5)
        session = school.session(
            klass, soon.isoformat() + "Z", (soon + dt.timedelta(hours=1)).isoformat() + "Z"
        )["id"]
        lead = school.student("小明", custom={"education_guardian_phone": "13800138000"})
        school.post("/trials", {"customer_id": lead, "kind": "class_session", "session_id": session})
        student = school.student("小红")
        school.enrol(student, klass)
        school.package(student, course, hours="3", price="300")
        for _ in range(2):
            for job in ("education:remind_trials", "education:remind_hours", "core.messaging:send"):
                assert run_cli(app, "jobs", "run", job).exit_code == 0
        [trial] = events(client, admin_headers, "trial.reminder")
        [low] = events(client, admin_headers, "hours.low")
        assert delivery_status(trial["delivery_id"])["purpose"] == "service"
        assert ok(client.get(f"{E}/students/{student}/hours", headers=admin_headers))["balance"] == "3.00"
    sent = sorted(texter.sent, key=lambda s: s[1])  # the lead, then the student
    assert len(sent) == 2
    assert sent[0][:2] == ("+8613800138000", lead) and "小明" in sent[0][2]
    assert sent[1][:2] == (None, student) and "小红" in sent[1][2] and "3.00" in sent[1][2]
    assert low["delivery_id"]

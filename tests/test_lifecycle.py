"""The lifecycle of findings and gaps from run to run: new once, quiet, reminded, resolved, reopened."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from driftwatch.lifecycle import AlertState, Update, from_document, to_document, update
from driftwatch.model import Change, CoverageGap, Finding, ResourceId, RunReport, Scope, Severity

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
BUCKET = ResourceId("aws", "111122223333", "global", "s3/bucket", "exports", "arn:aws:s3:::exports")
PUBLIC = Finding(
    "s3-bucket-public",
    Severity.CRITICAL,
    BUCKET,
    "bucket exports is public (read)",
    "baseline",
    (Change(BUCKET, "Policy", None, {"Statement": [{"Principal": "*"}]}, "baseline"),),
    subject="public read",
)
TAG = Finding(
    "baseline-drift",
    Severity.MEDIUM,
    BUCKET,
    "1 setting(s) differ from the approved baseline: Tags.owner",
    "baseline",
    (Change(BUCKET, "Tags.owner", "alice", "bob", "baseline"),),
)
GAP = CoverageGap(
    Scope("aws", "111122223333", "eu-west-1", "ec2/security-group"), "ec2:Describe", "denied", "X", ""
)


def report(*findings: Finding, gaps: tuple[CoverageGap, ...] = ()) -> RunReport:
    return RunReport("run", T0, T0, "/state", "c0ffee", 1, 0, findings, gaps)


def run(state: AlertState, at: datetime, *findings: Finding, **kwargs: object) -> Update:
    return update(state, report(*findings), at, DAY, **kwargs)  # type: ignore[arg-type]


def told(news: Update) -> list[tuple[str, str]]:
    return [(a.kind, a.finding.rule) for a in news.alerts]


def test_a_finding_is_told_once_then_reminded_after_the_interval_then_resolved() -> None:
    first = run(AlertState(), T0, PUBLIC)
    assert told(first) == [("new", "s3-bucket-public")]
    state = first.delivered(T0)

    second = run(state, T0 + DAY / 2, PUBLIC)
    assert told(second) == [] and second.quiet == (PUBLIC,)
    state = second.delivered(T0 + DAY / 2)

    third = run(state, T0 + DAY, PUBLIC)
    assert told(third) == [("reminder", "s3-bucket-public")]
    assert third.alerts[0].first_seen == T0
    state = third.delivered(T0 + DAY)
    assert run(state, T0 + DAY + DAY / 2, PUBLIC).alerts == ()  # the next reminder is a day later

    gone = run(state, T0 + DAY + DAY / 2, resolution=lambda r: f"{r.id} changed back")
    assert [(a.kind, a.resolution, a.first_seen) for a in gone.alerts] == [
        ("resolved", "exports changed back", T0)
    ]
    state = gone.delivered(T0 + 2 * DAY)
    assert run(state, T0 + 3 * DAY).alerts == ()  # resolved once


def test_a_finding_that_comes_back_is_reopened() -> None:
    state = run(AlertState(), T0, PUBLIC).delivered(T0)
    state = run(state, T0 + timedelta(hours=1)).delivered(T0 + timedelta(hours=1))
    back = run(state, T0 + timedelta(hours=2), PUBLIC)
    assert told(back) == [("reopened", "s3-bucket-public")]
    assert back.alerts[0].first_seen == T0 + timedelta(hours=2)
    assert back.state.findings[PUBLIC.id].reopened == 1


def test_notices_not_delivered_are_told_again_at_the_next_run() -> None:
    failed = run(AlertState(), T0, PUBLIC)
    assert told(run(failed.state, T0 + timedelta(minutes=15), PUBLIC)) == [("new", "s3-bucket-public")]
    state = run(AlertState(), T0, PUBLIC).delivered(T0)
    resolved_but_failed = run(state, T0 + timedelta(hours=1)).state
    again = run(resolved_but_failed, T0 + timedelta(hours=2))
    assert told(again) == [("resolved", "s3-bucket-public")]


def test_an_acknowledged_finding_stays_open_without_reminders_until_the_ack_expires() -> None:
    state = run(AlertState(), T0, PUBLIC).delivered(T0)
    later = run(state, T0 + 3 * DAY, PUBLIC, acknowledged={PUBLIC.id})
    assert later.alerts == () and later.quiet == (PUBLIC,)
    state = later.delivered(T0 + 3 * DAY)
    assert told(run(state, T0 + 4 * DAY, PUBLIC)) == [("reminder", "s3-bucket-public")]  # ack expired
    fresh = run(AlertState(), T0, TAG, acknowledged={TAG.id})
    assert fresh.alerts == () and fresh.state.findings[TAG.id].status == "open"


def test_a_drift_finding_growing_to_more_paths_replaces_the_old_one_without_a_resolved_notice() -> None:
    state = run(AlertState(), T0, TAG).delivered(T0)
    more = Finding(
        TAG.rule,
        TAG.severity,
        BUCKET,
        "2 setting(s) differ",
        "baseline",
        (*TAG.changes, Change(BUCKET, "Versioning", "Enabled", "Suspended", "baseline")),
    )
    news = run(state, T0 + timedelta(hours=1), more)
    assert told(news) == [("new", "baseline-drift")]
    assert news.state.findings[TAG.id].resolution == "superseded by a finding on more settings"


def test_a_change_seen_only_against_the_previous_run_is_an_event_not_resolved_later() -> None:
    event = Finding("s3-acls-reenabled", Severity.MEDIUM, BUCKET, "ACLs re-enabled", "previous")
    state = run(AlertState(), T0, event).delivered(T0)
    assert run(state, T0 + timedelta(hours=1)).alerts == ()


def test_a_gap_is_told_when_it_starts_and_when_it_ends() -> None:
    started = update(AlertState(), report(gaps=(GAP,)), T0, DAY)
    assert [(g.change, g.gap.scope) for g in started.gaps] == [("started", GAP.scope)]
    state = started.delivered(T0)
    assert update(state, report(gaps=(GAP,)), T0 + 3 * DAY, DAY).gaps == ()
    ended = update(state, report(), T0 + 4 * DAY, DAY)
    assert [(g.change, g.since) for g in ended.gaps] == [("ended", T0)]
    assert update(ended.delivered(T0 + 4 * DAY), report(), T0 + 5 * DAY, DAY).gaps == ()


def test_the_state_file_round_trips_and_a_bad_one_is_named() -> None:
    news = update(AlertState(), report(PUBLIC, TAG, gaps=(GAP,)), T0, DAY)
    document = json.loads(json.dumps(to_document(news.delivered(T0))))
    assert from_document(document, "alert-state.json") == news.delivered(T0)
    assert set(document["findings"]) == {PUBLIC.id, TAG.id}
    assert document["findings"][PUBLIC.id]["status"] == "open"
    assert document["findings"][PUBLIC.id]["opened"] == "2026-12-01T08:00:00+00:00"
    del document["findings"][TAG.id]["opened"]
    with pytest.raises(ValueError, match=rf"^alert-state.json: findings.{TAG.id}: KeyError: 'opened'"):
        from_document(document, "alert-state.json")


def test_each_notifier_gets_each_notice_once_and_its_own_resolved_notice() -> None:
    both = ("slack #ok", "slack #broken")
    first = update(AlertState(), report(PUBLIC), T0, DAY, notifiers=both)
    assert [(a.kind, a.finding.rule) for a in first.for_notifier("slack #ok")[0]] == [("new", PUBLIC.rule)]
    state = first.delivered(T0, ["slack #ok"])  # #broken failed
    second = update(state, report(PUBLIC), T0 + DAY / 4, DAY, notifiers=both)
    assert second.for_notifier("slack #ok") == ((), (PUBLIC,), ())
    assert [a.kind for a in second.for_notifier("slack #broken")[0]] == ["new"]
    gone = update(second.delivered(T0 + DAY / 4, ["slack #ok"]), report(), T0 + DAY / 2, DAY, notifiers=both)
    for key in both:  # the one told "new" and the one never told both hear how it ended
        assert [(a.kind, a.first_seen) for a in gone.for_notifier(key)[0]] == [("resolved", T0)]
    state = gone.delivered(T0 + DAY / 2, ["slack #ok"])
    later = update(state, report(), T0 + DAY, DAY, notifiers=both)
    assert later.for_notifier("slack #ok")[0] == () and len(later.for_notifier("slack #broken")[0]) == 1
    dropped = update(
        state, report(), T0 + DAY, DAY, notifiers=["slack #ok"]
    )  # #broken removed from the config
    assert dropped.alerts == () and dropped.state.findings[PUBLIC.id].pending == {}


def test_a_state_file_of_schema_1_holds_its_notices_for_every_notifier() -> None:
    document = to_document(update(AlertState(), report(PUBLIC), T0, DAY).state)
    old = {**document, "schema": "driftwatch.alert-state/1"}
    old["findings"][PUBLIC.id] |= {"pending": "new", "notified": None}
    state = from_document(old, "alert-state.json")
    news = update(state, report(PUBLIC), T0 + DAY / 4, DAY, notifiers=("console", "slack #drift"))
    assert news.state.findings[PUBLIC.id].pending == {"console": "new", "slack #drift": "new"}

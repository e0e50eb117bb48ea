"""Routing, as pure functions: every matching route once, under its most specific group, never twice."""

from datetime import datetime, timedelta, timezone

from monitor.alerts.routes import destinations, queue
from monitor.config import RouteConfig

NOW = datetime(2026, 1, 15, 12, tzinfo=timezone.utc)
CHANGE = {"id": "chg-1", "kind": "license_slowdown", "severity": "medium", "title": "t", "source": "news-en",
          "regions": ["gulf", "middle-east"], "countries": ["AE", "SA"], "companies": ["nvidia", "amd"]}


def name(kind, slug):
    return {"middle-east": "Middle East", "gulf": "Gulf", "nvidia": "Nvidia", "amd": "AMD"}.get(slug, slug)


def route(**values):
    return RouteConfig(**{"tag": "compliance", **values})


def breadth(kind, slug):
    return {"gulf": 6, "middle-east": 15}.get(slug, 0)


def test_a_region_route_hears_of_a_change_once_under_its_narrowest_region_naming_the_others():
    (found,) = destinations(CHANGE, [route(group_by="region")], name, breadth)
    assert (found.group, found.group_label, found.also) == ("gulf", "Gulf", ("Middle East",))
    (wide_first,) = destinations({**CHANGE, "regions": ["middle-east", "gulf"]}, [route(group_by="region")], name,
                                 breadth)
    assert wide_first.group == "gulf"


def test_filters_narrow_and_every_matching_route_gets_the_change():
    routes = [route(group_by="region", regions=["middle-east"]), route(tag="chips", group_by="company"),
              route(tag="high-only", min_severity="high"), route(tag="cn", countries=["CN"]),
              route(tag="rules", kinds=["new_rule"]), route(tag="news", sources=["news-en"])]
    found = [(d.route, d.group) for d in destinations(CHANGE, routes, name)]
    assert found == [("compliance", "middle-east"), ("chips", "amd"), ("news", "all")]


def test_a_change_without_the_grouping_field_goes_to_other_only_where_the_route_wants_it():
    change = {**CHANGE, "regions": [], "companies": []}
    assert destinations(change, [route(group_by="company")], name) == []  # no "Other" digest of companies
    assert [d.group for d in destinations(change, [route(group_by="company", other=True)], name)] == ["other"]
    assert [d.group for d in destinations(change, [route(group_by="region")], name)] == ["other"]
    assert destinations(change, [route(group_by="region", other=False)], name) == []


def test_alert_ids_are_stable_so_an_incident_is_queued_once_per_route_and_status():
    routes = [route(group_by="region"), route(tag="all")]
    status = {"incident": "inc-1", "incident_status": "published"}
    first = queue(CHANGE, routes, name, now=NOW, window=timedelta(minutes=15), high_now=True, incident=status)
    again = queue({**CHANGE, "id": "chg-2", "regions": ["middle-east"]}, routes, name, now=NOW + timedelta(hours=1),
                  window=timedelta(minutes=15), high_now=True, incident=status)
    assert [e.event_id for e in first] == [e.event_id for e in again]  # another item, same status: the same alert
    assert len({e.data["alert_id"] for e in first}) == 2
    moved = queue(CHANGE, routes, name, now=NOW, window=timedelta(0), high_now=True,
                  incident={**status, "incident_status": "effective"})
    assert not {e.event_id for e in moved} & {e.event_id for e in first}


def test_the_digest_window_and_the_high_severity_bypass():
    window = timedelta(minutes=15)
    (medium,) = queue(CHANGE, [route()], name, now=NOW, window=window, high_now=True)
    (high,) = queue({**CHANGE, "severity": "high"}, [route()], name, now=NOW, window=window, high_now=True)
    (held,) = queue({**CHANGE, "severity": "high"}, [route()], name, now=NOW, window=window, high_now=False)
    assert medium.data["due_at"] == "2026-01-15T12:15:00.000000Z"
    assert high.data["due_at"] == "2026-01-15T12:00:00.000000Z"
    assert held.data["due_at"] == "2026-01-15T12:15:00.000000Z"


def test_a_deadline_reminder_is_its_own_alert():
    reminder = {"deadline": "comments_close", "date": "2026-01-18", "days_left": 3, "days_before": 3}
    (change_alert,) = queue(CHANGE, [route()], name, now=NOW, window=timedelta(0), high_now=True)
    (reminder_alert,) = queue(CHANGE, [route()], name, now=NOW, window=timedelta(0), high_now=True, reminder=reminder)
    assert reminder_alert.data["alert_id"] != change_alert.data["alert_id"]
    assert reminder_alert.data["cause"] == "deadline" and reminder_alert.data["days_left"] == 3

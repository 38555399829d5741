"""Server time and queries of the list pages at scale, beside the Django admin and the SQL floor.

    DATABASE_URL=postgres://... .venv/bin/python -m bench.list_bench [--repeat 20] [--case NAME ...]

Run it on PostgreSQL filled by ``manage.py seed_bulk`` (issue 8: 1M leads, 50k clients,
100k contacts). Every case is a real request through the whole Django stack, in-process
with the test Client (DEBUG off, a superuser signed in; My Work as a rep), against the
configured database, not a test database:

- **ours**: after two warm-up requests, N timed requests; median and p95 of the time
  ``client.get`` takes, and the number of queries one request runs. The totals of the
  list (count, total, weighted) are cached as the application caches them.
- **cold**: the same request with the cache emptied before each one, so the count and
  the totals are computed every time: what the first visitor after a change pays.
- **admin**: the Django admin changelist (or change page) asked for the same search,
  filters and sort, timed the same way. Our LeadAdmin is tuned for a million rows: it
  searches with the list's search, counts at most 10,000 rows, and shows no full count.
- **stock admin**: the same changelist as Django runs it without that tuning: Django's
  own ``get_search_results`` over the original search fields (title, category, client
  name, contact name), Django's ``Paginator`` (a full ``COUNT(*)``) and the "N total"
  line (a second count), i.e. what a Django team gets from the admin out of the box,
  with ``list_select_related`` kept.
- **after a write**: the same request right after a teammate's write before each one,
  through the services as the pages write: in turn a note on a lead and a move of it to
  the next open stage and back (``teammate_write``). Every cache of figures is then
  stale, and the running totals (``leads.tally``) hold fresh differences: this is what
  the first visitor after any change pays. Every case has it.
- **floor**: the queries of an uncached request that read the lead table (the page's
  rows and the totals), each run alone in PostgreSQL with ``EXPLAIN (ANALYZE, BUFFERS)``
  (median of three); the sum of their execution times. No Python, no network, no
  template: what the database alone needs for the page. ``ours/floor`` below 1 means the
  cached totals saved more than everything else cost; ``cold/floor`` is the overhead of
  Django over the database when nothing is cached.

The board (``leads:board_default``) is a case once that URL exists. The win/loss report
(``leads:win_loss``, issue 14), the calibration report (``leads:calibration``, issue 15),
the forecast, pipeline, source, aging and team reports (issue 17) have no admin
equivalent: their admin columns say so. The pipeline report's floor counts its query of
the stage moves too (``floor_tables``). A database filled before the teams' migration
(``leads 0018``) gets empty temporary tables in their place for the run (``STAND_INS``),
and is not migrated. The setup is
idempotent: a superuser ``bench_admin``; a rep ``bench_mywork`` who is given exactly
2,000 open leads (taken from the bulk users) for My Work; 30 notes on the lead of the
detail case; then ``VACUUM (ANALYZE)`` of every table, as autovacuum would do after a
bulk load or the other benchmarks' writes (``bench.database.vacuum``).
It prints a Markdown table; --json writes every figure to a file as well.
"""

import argparse
import contextlib
import itertools
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib import admin  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.paginator import Paginator  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.http import QueryDict  # noqa: E402
from django.test import Client, RequestFactory  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import NoReverseMatch, reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.database import vacuum  # noqa: E402
from leads.admin import LeadAdmin  # noqa: E402
from leads.filters import LeadFilter  # noqa: E402
from leads.models import Lead, LeadEvent, LeadSource, LossReason  # noqa: E402
from leads.paging import LeadPaginator  # noqa: E402
from leads.reports import add_months  # noqa: E402
from leads.services import lead_add_note, lead_move_stage  # noqa: E402
from pipelines.models import Pipeline, PipelineStage  # noqa: E402

MY_WORK_OPEN_LEADS = 2_000
DETAIL_EVENTS = 30
#: Stop timing a case after this many seconds once it has MIN_SAMPLES (the stock admin
#: can take seconds a request; twenty of those add nothing but waiting).
TIME_BUDGET = 30.0
MIN_SAMPLES = 5


@dataclass
class Case:
    name: str
    url: str
    params: dict = field(default_factory=dict)
    admin_url: str | None = None
    admin_params: dict = field(default_factory=dict)
    user: str = "admin"  # which signed-in client asks
    headers: dict = field(default_factory=dict)
    note: str = ""
    cached: bool = False  # its figures are cached: time it cold and after a write too
    no_admin: bool = False  # the admin has nothing like it
    #: The tables whose queries make the floor (a report that reads the events adds them).
    floor_tables: tuple = ("leads_lead",)


@dataclass
class Timing:
    median: float  # ms
    p95: float  # ms
    samples: int
    queries: int = 0


@dataclass
class Result:
    case: str
    ours: Timing
    cold: Timing | None = None
    admin: Timing | None = None
    stock_admin: Timing | None = None
    after_write: Timing | None = None
    floor: float | None = None  # ms
    floor_parts: list = field(default_factory=list)
    note: str = ""
    no_admin: bool = False


def p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def time_requests(
    client: Client,
    url: str,
    params: dict,
    repeat: int,
    *,
    headers: dict | None = None,
    before: Callable[[], None] | None = None,
) -> Timing:
    for _ in range(2):  # warm-up: connection pool, template loading, caches
        if before:
            before()
        check(client.get(url, params, headers=headers), url)
    samples = []
    started = time.perf_counter()
    while len(samples) < repeat:
        if before:
            before()
        begin = time.perf_counter()
        response = client.get(url, params, headers=headers)
        samples.append((time.perf_counter() - begin) * 1000)
        check(response, url)
        if len(samples) >= MIN_SAMPLES and time.perf_counter() - started > TIME_BUDGET:
            break
    if before:
        before()
    with CaptureQueriesContext(connection) as queries:
        client.get(url, params, headers=headers)
    return Timing(statistics.median(samples), p95(samples), len(samples), len(queries))


def check(response, url: str) -> None:
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")


def lead_queries(
    client: Client, url: str, params: dict, headers: dict, tables=("leads_lead",)
) -> list[str]:
    """The SQL of one uncached request that reads the lead table (or the other
    ``tables``), but the newest event's id that the caches ask for."""
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        client.get(url, params, headers=headers)
    return [
        q["sql"]
        for q in queries.captured_queries
        if any(f'"{table}"' in q["sql"] for table in tables)
        and not q["sql"].startswith('SELECT MAX("leads_leadevent"."id")')
    ]


def explain_ms(sql: str, runs: int = 3) -> float:
    """Median execution time PostgreSQL reports for the statement, over a few runs."""
    times = []
    with connection.cursor() as cursor:
        for _ in range(runs):
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}")
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            times.append(plan[0]["Execution Time"])
    return statistics.median(times)


def describe(sql: str) -> str:
    head = sql.lstrip()[:200].upper()
    if "COUNT(" in head or "SUM(" in head:
        return "totals"
    if "LIMIT" in sql.upper():
        return "rows"
    return "other"


# --- setup -------------------------------------------------------------------------------


def bench_users():
    """The superuser for every page and the admin; a rep with exactly 2,000 open leads."""
    User = get_user_model()
    admin, _ = User.objects.get_or_create(
        username="bench_admin", defaults={"is_staff": True, "is_superuser": True}
    )
    rep, _ = User.objects.get_or_create(
        username="bench_mywork", defaults={"first_name": "Bench", "last_name": "My Work"}
    )
    group = Group.objects.filter(name="Sales rep").first()
    if group is not None:
        rep.groups.add(group)
    open_leads = Lead.objects.open().filter(assignee=rep)
    have = open_leads.count()
    if have != MY_WORK_OPEN_LEADS:
        donor = User.objects.filter(username__startswith="bulk_user_").order_by("username").first()
        if have > MY_WORK_OPEN_LEADS:
            extra = open_leads.order_by("id").values("id")[MY_WORK_OPEN_LEADS:]
            Lead.objects.filter(id__in=list(extra.values_list("id", flat=True))).update(
                assignee=donor
            )
        else:
            wanted = MY_WORK_OPEN_LEADS - have
            ids = list(
                Lead.objects.open()
                .filter(assignee=donor)
                .order_by("id")
                .values_list("id", flat=True)[:wanted]
            )
            Lead.objects.filter(id__in=ids).update(assignee=rep)
        print(f"setup: {rep.username} now has {open_leads.count():,} open leads", file=sys.stderr)
    return admin, rep


def detail_lead(admin) -> Lead:
    """A lead in the middle of the table, with a timeline longer than one page."""
    lead = Lead.objects.order_by("id").only("id")[Lead.objects.count() // 2]
    missing = DETAIL_EVENTS - lead.events.count()
    if missing > 0:
        LeadEvent.objects.bulk_create(
            LeadEvent(lead=lead, actor=admin, kind=LeadEvent.Kind.NOTE, data={"text": f"Note {n}"})
            for n in range(missing)
        )
    return lead


#: Tables of migrations newer than the benchmark database (a 1M-lead database filled
#: before ``leads 0018``, the teams, which the reports' owner choices read): stood in for
#: by empty temporary tables, which live in this process's session alone. The database
#: itself is neither migrated nor changed. The test Client keeps one connection for the
#: whole run, so they last as long as the run.
STAND_INS = {
    "leads_team": "id bigint PRIMARY KEY, name varchar(100) NOT NULL, turns integer NOT NULL",
    "leads_membership": (
        "id bigint PRIMARY KEY, paused boolean NOT NULL, capacity integer, "
        "last_turn integer NOT NULL, user_id integer NOT NULL, team_id bigint NOT NULL"
    ),
}


def stand_in_for_missing_tables() -> list[str]:
    """Empty temporary tables for those the database lacks (STAND_INS); their names."""
    if connection.vendor != "postgresql":
        return []
    existing = set(connection.introspection.table_names())
    missing = [table for table in STAND_INS if table not in existing]
    with connection.cursor() as cursor:
        for table in missing:
            cursor.execute(f"CREATE TEMPORARY TABLE {table} ({STAND_INS[table]})")
    return missing


def next_cursor(user, *, page: int) -> str:
    """What the list's "Next" link on page ``page - 1`` names: the page's last lead."""
    request = RequestFactory().get("/leads/")
    request.user = user
    filterset = LeadFilter(QueryDict(), queryset=Lead.objects.all(), request=request)
    paginator = LeadPaginator(filterset.for_pages(filterset.qs), 25, count=None, rows=Lead.objects)
    last = filterset.for_pages(filterset.qs)[(page - 1) * 25 - 1]
    return paginator.cursor(last)


def make_cases(admin, rep) -> tuple[list[Case], list[str]]:
    admin_list = reverse("admin:leads_lead_changelist")
    stage = PipelineStage.objects.filter(pipeline__is_default=True, name="Qualified").first()
    source = LeadSource.objects.get(slug="website")
    columns = ["action_checkbox", *LeadAdmin.list_display]
    by_value_desc = f"-{columns.index('value')}"
    by_closed_desc = f"-{columns.index('actual_close_date')}"
    reason = LossReason.objects.get(slug="price-too-high")
    lead = detail_lead(admin)
    htmx = {"HX-Request": "true", "HX-Target": "lead-results"}
    three_filters = {"status": "open", "priority": "high", "source": "website", "sort": "-value"}
    cases = [
        Case("default list (open, newest change first)", "/leads/", {}, admin_list,
             {"status": "open"}),
        Case("search common word “software”", "/leads/", {"q": "software"}, admin_list,
             {"status": "open", "q": "software"}),
        Case("search rare word “zeppelin”", "/leads/", {"q": "zeppelin"}, admin_list,
             {"status": "open", "q": "zeppelin"}),
        Case("3 filters (open, high, website) by value", "/leads/", three_filters, admin_list,
             {"status": "open", "priority__exact": "high", "source__id__exact": source.pk,
              "o": by_value_desc}),
        Case("stage filter (Qualified)", "/leads/", {"stage": stage.pk}, admin_list,
             {"stage__id__exact": stage.pk}),
        Case("deep page (page 2000)", "/leads/", {"page": 2000}, admin_list, {"p": 501},
             note="admin: rows 50,001–50,100 of all leads (page 501 of 100); its capped "
                  "count stops a filtered changelist at 10,000 rows"),
        # Issue 18: how a rep gets to page 2,000 (by "Next", which seeks from the lead
        # before it) and the last page (counted off from the end), by the list's paging.
        Case("deep page 2000 reached by Next (seek)", "/leads/",
             {"page": 2000, "after": next_cursor(rep, page=2000)}, admin_list, {"p": 501},
             note="admin: page 501 again; it has no other way to get there"),
        Case("last page of the open leads", "/leads/", {"page": 10**6}, admin_list,
             {"p": 10_000}, note="admin: the last page of all leads, 100 to a page"),
        Case("page 2, htmx results region", "/leads/", {"page": 2}, admin_list,
             {"status": "open", "p": 2}, headers=htmx),
        Case("detail page", lead.get_absolute_url(), {},
             reverse("admin:leads_lead_change", args=[lead.pk]), {}),
        Case("My Work (2,000 open leads)", reverse("leads:my_work"), {}, admin_list,
             {"status": "open", "assignee__id__exact": rep.pk}, user="rep",
             note="admin: the same leads, 100 to a page"),
        # Issue 14: the closed leads, by the day they closed and by why they were lost.
        Case("lost, by close date (newest)", "/leads/",
             {"status": "lost", "sort": "-actual_close_date"}, admin_list,
             {"status": "lost", "o": by_closed_desc}),
        # Issue 15: the open leads by score, highest first, and the hot ones.
        Case("open leads by score (highest first)", "/leads/", {"sort": "-score"},
             note="the admin shows no score"),
        Case("hot leads by score", "/leads/", {"rating": "hot", "sort": "-score"},
             note="the admin shows no score"),
        Case("lost for one reason, by close date", "/leads/",
             {"status": "lost", "lost_reason": reason.pk, "sort": "-actual_close_date"},
             admin_list,
             {"status": "lost", "lost_reason__id__exact": reason.pk, "o": by_closed_desc}),
    ]  # fmt: skip
    # The client and contact pages (issue 4): 50,000 clients, 100,000 contacts.
    biggest = Lead.objects.values("client").annotate(n=Count("pk")).order_by("-n").first()["client"]
    client_admin = reverse("admin:crm_client_changelist")
    contact_admin = reverse("admin:crm_contact_changelist")
    cases += [
        Case("client list (by name)", reverse("crm:client_list"), {}, client_admin, {}),
        Case("client list, search “tech”", reverse("crm:client_list"), {"q": "tech"},
             client_admin, {"q": "tech"}),
        Case("client list by open leads", reverse("crm:client_list"), {"sort": "-open_leads"},
             note="the admin has no open-lead count"),
        Case("client detail (the largest client)", reverse("crm:client_detail", args=[biggest]),
             {}, reverse("admin:crm_client_change", args=[biggest]), {}),
        Case("contact list (by name)", reverse("crm:contact_list"), {}, contact_admin, {}),
        Case("contact list, search “tech”", reverse("crm:contact_list"), {"q": "tech"},
             contact_admin, {"q": "tech"}),
    ]  # fmt: skip
    # The win/loss report (issue 14): the closed leads of a period, grouped by month.
    report = reverse("leads:win_loss")
    this_month = timezone.localdate().replace(day=1)
    three_years = (add_months(this_month, -35), this_month)
    owner = get_user_model().objects.filter(username__startswith="bulk_user_").order_by("username")
    no_admin = "no admin equivalent: the admin has no report"
    cases += [
        Case("win/loss report (last 12 months)", report, {}, cached=True, no_admin=True,
             note=no_admin),
        Case("win/loss report (36 months)", report,
             {"from": f"{three_years[0]:%Y-%m}", "to": f"{three_years[1]:%Y-%m}"},
             cached=True, no_admin=True, note=no_admin),
        Case("win/loss report (12 months, one owner)", report,
             {"assignee": owner.values_list("pk", flat=True).first() or ""}, cached=True,
             no_admin=True, note=no_admin),
    ]  # fmt: skip
    # The calibration report (issue 15): the same closed leads by score, and their stage moves.
    calibration = reverse("leads:calibration")
    cases += [
        Case("calibration report (last 12 months)", calibration, {}, cached=True,
             no_admin=True, note=no_admin),
        Case("calibration report (12 months, one pipeline)", calibration,
             {"pipeline": Pipeline.objects.order_by("-is_default", "pk").values_list(
                 "pk", flat=True).first() or ""}, cached=True, no_admin=True, note=no_admin),
    ]  # fmt: skip
    # The forecast and pipeline reports (issue 17): the open leads now, by expected close
    # month and by stage; the pipeline's conversion reads the period's stage moves.
    forecast = reverse("leads:forecast")
    pipeline = reverse("leads:pipeline")
    one_owner = {"assignee": owner.values_list("pk", flat=True).first() or ""}
    events = ("leads_lead", "leads_leadevent")
    cases += [
        Case("forecast report (6 months)", forecast, {}, cached=True, no_admin=True, note=no_admin),
        Case(
            "forecast report (24 months)",
            forecast,
            {"months": "24"},
            cached=True,
            no_admin=True,
            note=no_admin,
        ),
        Case(
            "forecast report (one owner)",
            forecast,
            one_owner,
            cached=True,
            no_admin=True,
            note=no_admin,
        ),
        Case(
            "pipeline report (last 12 months)",
            pipeline,
            {},
            cached=True,
            no_admin=True,
            floor_tables=events,
            note=no_admin,
        ),
        Case(
            "pipeline report (12 months, one owner)",
            pipeline,
            one_owner,
            cached=True,
            no_admin=True,
            floor_tables=events,
            note=no_admin,
        ),
    ]
    # The source, aging and team reports (issue 17): everyone's figures, one owner's,
    # and a rep's own (who sees nothing else).
    sources = reverse("leads:sources_report")
    aging = reverse("leads:aging_report")
    team = reverse("leads:team_report")
    cases += [
        Case("sources report (last 12 months)", sources, {}, cached=True, no_admin=True,
             note=no_admin),
        Case("sources report (12 months, one owner)", sources, one_owner, cached=True,
             no_admin=True, note=no_admin),
        Case("sources report (36 months)", sources,
             {"from": f"{three_years[0]:%Y-%m}", "to": f"{three_years[1]:%Y-%m}"},
             cached=True, no_admin=True, note=no_admin),
        Case("aging report (all open leads)", aging, {}, cached=True, no_admin=True,
             note=no_admin),
        Case("aging report (a rep's own, 2,000 open leads)", aging, {}, user="rep",
             cached=True, no_admin=True, note=no_admin),
        Case("team report (last 12 months)", team, {}, cached=True, no_admin=True,
             note=no_admin),
        Case("team report (36 months)", team,
             {"from": f"{three_years[0]:%Y-%m}", "to": f"{three_years[1]:%Y-%m}"},
             cached=True, no_admin=True, note=no_admin),
    ]  # fmt: skip
    pending = []
    try:
        cases.append(Case("board", reverse("leads:board_default"), {}))
    except NoReverseMatch:
        pending.append("board (/board/): leads:board_default does not resolve yet")
    return cases, pending


# --- run ---------------------------------------------------------------------------------


STOCK_ADMIN = {
    "get_search_results": admin.ModelAdmin.get_search_results,
    "search_fields": ["title", "category", "client__name", "contact__name"],
    "paginator": Paginator,
    "show_full_result_count": True,
}


@contextlib.contextmanager
def stock_admin():
    """The lead admin searching, paging and counting as Django does by itself."""
    saved = {name: LeadAdmin.__dict__[name] for name in STOCK_ADMIN}
    for name, value in STOCK_ADMIN.items():
        setattr(LeadAdmin, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(LeadAdmin, name, value)


def teammate_write(admin, lead_id: int) -> Callable[[], None]:
    """A write as a teammate makes one, through the services: in turn a note on a lead,
    and a move of it to the next open stage of its pipeline and back. A note changes no
    total (the caches still go stale); a move changes two stages' counts and values."""
    lead = Lead.objects.select_related("stage").get(pk=lead_id)
    stages = list(lead.stage.pipeline.stages.filter(kind=PipelineStage.Kind.OPEN).order_by("order"))
    here = next((n for n, stage in enumerate(stages) if stage.pk == lead.stage_id), 0)
    there = stages[(here + 1) % len(stages)] if len(stages) > 1 else stages[here]
    turns = itertools.cycle(["note", there, "note", stages[here]])

    def write() -> None:
        turn = next(turns)
        if turn == "note":
            lead_add_note(lead_id=lead_id, text="Called back; bench", by=admin)
        else:
            lead_move_stage(lead_id=lead_id, stage=turn, by=admin)

    return write


def run(cases: list[Case], clients: dict, options, *, write: Callable[[], None]) -> list[Result]:
    results = []
    for case in cases:
        client, params, headers = clients[case.user], case.params, case.headers
        ours = time_requests(client, case.url, params, options.repeat, headers=headers)
        result = Result(case.name, ours, note=case.note, no_admin=case.no_admin)
        cached = case.cached or case.url == "/leads/"
        if not options.no_cold and cached:
            result.cold = time_requests(
                client, case.url, params, options.repeat, headers=headers, before=cache.clear
            )
        if not options.no_after_write:
            result.after_write = time_requests(
                client, case.url, params, options.repeat, headers=headers, before=write
            )
        if case.admin_url and not options.no_admin:
            result.admin = time_requests(
                clients["admin"], case.admin_url, case.admin_params, options.repeat
            )
            if case.admin_url.endswith("/leads/lead/"):  # the changelist, not a change page
                with stock_admin():
                    result.stock_admin = time_requests(
                        clients["admin"], case.admin_url, case.admin_params, options.repeat
                    )
        if not options.no_floor and connection.vendor == "postgresql":
            for sql in lead_queries(client, case.url, params, headers, case.floor_tables):
                result.floor_parts.append((describe(sql), explain_ms(sql)))
            result.floor = sum(ms for _, ms in result.floor_parts) if result.floor_parts else None
        results.append(result)
        print(f"done: {case.name}", file=sys.stderr)
    return results


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}"


def table(results: list[Result]) -> str:
    lines = [
        "| case | ours median | ours p95 | queries | admin median | ours/admin | floor (ms) "
        "| ours/floor | cold median | cold/floor | after a write (queries) | stock admin "
        "| ours/stock admin |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        admin = r.admin.median if r.admin else None
        stock = r.stock_admin.median if r.stock_admin else None
        cold = r.cold.median if r.cold else None
        written = f"{ms(r.after_write.median)} ({r.after_write.queries})" if r.after_write else "—"
        none = "none (no admin report)"
        lines.append(
            f"| {r.case} | {ms(r.ours.median)} | {ms(r.ours.p95)} | {r.ours.queries} "
            f"| {none if r.no_admin else ms(admin)} | {ratio(r.ours.median, admin)} "
            f"| {'—' if r.floor is None else f'{r.floor:.1f}'} | {ratio(r.ours.median, r.floor)} "
            f"| {ms(cold)} | {ratio(cold, r.floor)} | {written} "
            f"| {none if r.no_admin else ms(stock)} | {ratio(r.ours.median, stock)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="Timed requests per case.")
    parser.add_argument("--case", nargs="*", help="Run only the cases whose name contains one.")
    parser.add_argument("--no-admin", action="store_true")
    parser.add_argument("--no-cold", action="store_true")
    parser.add_argument("--no-after-write", action="store_true")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--no-vacuum", action="store_true")
    parser.add_argument("--json", help="Also write the results to this file.")
    options = parser.parse_args(argv)

    settings.DEBUG = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    leads = Lead.objects.count()
    if connection.vendor != "postgresql" or leads < 100_000:
        print(
            f"Run this on PostgreSQL filled by seed_bulk (found {connection.vendor}, "
            f"{leads:,} leads); see docs/PERFORMANCE.md.",
            file=sys.stderr,
        )
    admin, rep = bench_users()
    cases, pending = make_cases(admin, rep)
    if options.case:
        cases = [c for c in cases if any(part in c.name for part in options.case)]
    if not options.no_vacuum:
        vacuum()
    stood_in = stand_in_for_missing_tables()
    if stood_in:
        print(
            f"setup: {', '.join(stood_in)} missing (the database predates their migration): "
            "empty temporary tables of this session stand in for them",
            file=sys.stderr,
        )
    clients = {}
    for name, user in (("admin", admin), ("rep", rep)):
        clients[name] = Client(raise_request_exception=True)
        clients[name].force_login(user)

    results = run(cases, clients, options, write=teammate_write(admin, detail_lead(admin).pk))

    version = (
        connection.cursor().connection.info.server_version
        if connection.vendor == "postgresql"
        else ""
    )
    print(
        f"Database: {connection.vendor} {version}, {leads:,} leads; "
        f"Python {sys.version.split()[0]}; {options.repeat} timed requests a case\n"
    )
    print(table(results))
    for r in results:
        if r.note:
            print(f"\n- {r.case}: {r.note}")
    for line in pending:
        print(f"\n- pending: {line}")
    print("\nFloor, per query (ms):")
    for r in results:
        parts = ", ".join(f"{name} {value:.1f}" for name, value in r.floor_parts)
        print(f"- {r.case}: {parts or '—'}")
    if options.json:
        with open(options.json, "w") as out:
            json.dump([asdict(r) for r in results], out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Load test: two app servers on one PostgreSQL, 50 reps and managers at work, and proof
that a write on one server is seen on the other at once.

    make loadtest DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench
    # or, with Locust installed elsewhere:
    DATABASE_URL=... .venv/bin/python -m bench.load_test --locust /path/to/bin/locust

The database must be PostgreSQL filled by ``manage.py seed_bulk`` (its reps
``bulk_user_NN`` own the leads the simulated reps work on). What it does:

1. **Accounts**: the seeded reps (Sales rep) sign in with a password set for this run,
   and ``loadtest_manager_NN`` plus ``loadtest_checker`` (Sales manager) are created or
   put right. Nothing else is added; the writes are notes, moves among open stages,
   edits of priority and close date, and assignments to the seeded reps.
2. **Two app servers**: ``gunicorn crm.wsgi`` on two ports, ``--workers`` each, with
   production settings (DEBUG off, one shared random SECRET_KEY, static files from
   ``collectstatic``); requests say ``X-Forwarded-Proto: https`` as the TLS proxy would.
3. **Locust, headless** (``bench/loadtest/locustfile.py``): the reps and managers split
   over both servers, 80 % reads and 20 % writes (``bench/loadtest/scenario.py``),
   measured for ``--seconds`` once all have signed in.
4. **Across servers** (``cross_check``), once the load is over: signed in on A, the same
   session cookie works on B; a stage move, a note, an assignment made on A show on B's
   next page, and B's list totals (from the running totals, and from its own cache for a
   filter they cannot answer) move by exactly that lead; an edit saved on B makes A's
   form, loaded before it, answer 409. Then everything is put back through the pages.
5. The figures per request kind, and the servers stopped. Exits 1 on any failed request
   or failed check.

Only a run that holds ``/tmp/bench.lock`` should measure a shared machine:
``flock /tmp/bench.lock make loadtest ...``.
"""

import argparse
import csv
import http.client
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import translation  # noqa: E402

from bench.database import vacuum  # noqa: E402
from bench.loadtest import scenario  # noqa: E402
from crm.web.templatetags.formatting import format_money  # noqa: E402
from leads.models import Lead  # noqa: E402
from leads.totals import latest_event_id  # noqa: E402
from pipelines.models import PipelineStage  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "bench" / "loadtest" / "locustfile.py"
OUT = ROOT / "bench" / "out"
CHECKER = "loadtest_checker"
#: "… of 97,418 · Total €1.2M · …": the count, and the total's exact amount (a rounded
#: one carries it in its title) or the amount as shown.
SUMMARY = re.compile(
    r"of (\d[\d,]*)\s*· Total (?:<span class=\"money-compact\" title=\"([^\"]*)\"|([^\n<·]*))"
)


# --- accounts ----------------------------------------------------------------------------


def prepare_accounts(*, managers: int, reps: int, password: str) -> tuple[list[str], list[str]]:
    """The seeded reps to sign in as, and the load test's managers (created once); all
    get ``password`` (one hash: hashing is slow on purpose). Idempotent."""
    User = get_user_model()
    rep_group = Group.objects.get(name="Sales rep")
    manager_group = Group.objects.get(name="Sales manager")
    rep_names = list(
        User.objects.filter(groups=rep_group, is_active=True, username__startswith="bulk_user_")
        .order_by("username")[:reps]
        .values_list("username", flat=True)
    )
    if not rep_names:
        sys.exit("No seeded reps (bulk_user_NN): fill the database with manage.py seed_bulk.")
    manager_names = [f"loadtest_manager_{n:02}" for n in range(1, managers + 1)]
    for name in [*manager_names, CHECKER]:
        user, _ = User.objects.get_or_create(
            username=name,
            defaults={"first_name": "Load", "last_name": name.removeprefix("loadtest_")},
        )
        user.groups.add(manager_group)
    hashed = make_password(password)
    User.objects.filter(username__in=[*rep_names, *manager_names, CHECKER]).update(
        password=hashed, is_active=True
    )
    return rep_names, manager_names


# --- servers -----------------------------------------------------------------------------


def server_environment(secret_key: str) -> dict[str, str]:
    """Production settings, one SECRET_KEY for every server (sessions and CSRF tokens
    signed on one are read on the other)."""
    return os.environ | {
        "DEBUG": "0",
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
    }


def start_servers(ports, *, workers: int, env: dict, logs: Path) -> list[subprocess.Popen]:
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    servers = []
    for port in ports:
        log = open(logs / f"gunicorn-{port}.log", "w")  # noqa: SIM115 (lives with the server)
        servers.append(
            subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("gunicorn")),
                    "crm.wsgi",
                    f"--bind=127.0.0.1:{port}",
                    f"--workers={workers}",
                    "--timeout=60",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    for port in ports:
        wait_until_up(port)
    return servers


def wait_until_up(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if UrlBrowser(f"http://127.0.0.1:{port}", {}).status("/accounts/login/") == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"The server on port {port} did not answer within {seconds:.0f} s.")
        time.sleep(0.3)


def stop_servers(servers: list[subprocess.Popen]) -> None:
    for server in servers:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
    for server in servers:
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


class UrlBrowser:
    """``scenario.Browser`` over the standard library, for the cross-server check. Its
    cookies are a dict that several browsers may share: one session on several servers."""

    def __init__(self, host: str, cookies: dict[str, str]):
        self.host = host
        self.netloc = urlsplit(host).netloc
        self.cookies = cookies

    def get(self, path, *, name, expect=(200,), contains="", htmx_target=""):
        return self.send("GET", path, None, name, expect, contains, htmx_target)

    def post(self, path, data, *, name, expect=(200,), contains="", htmx_target=""):
        return self.send("POST", path, data, name, expect, contains, htmx_target)

    def status(self, path: str) -> int:
        return self.request("GET", path, None, {})[0]

    def send(self, method, path, data, name, expect, contains, htmx_target):
        headers = {"Referer": f"https://{self.netloc}{path}"}
        if htmx_target:
            headers |= {"HX-Request": "true", "HX-Target": htmx_target}
        status, location, text = self.request(method, path, data, headers)
        while status in (301, 302, 303) and location:  # as a browser: GET the new page
            method, path, data = "GET", location, None
            status, location, text = self.request(method, path, None, {})
        if status not in expect:
            raise AssertionError(f"{name}: {status} for {method} {path} on {self.host}")
        if contains and contains not in text:
            raise AssertionError(f"{name}: no {contains!r} in {path} on {self.host}")
        return scenario.Page(status, text)

    def request(self, method, path, data, headers):
        headers = headers | {"X-Forwarded-Proto": "https"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if data is not None:
            body = urlencode(data, doseq=True)
            headers |= {
                "Origin": f"https://{self.netloc}",
                "Content-Type": "application/x-www-form-urlencoded",
            }
        conn = http.client.HTTPConnection(self.netloc, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                value = rest.split(";", 1)[0]
                if value and "Max-Age=0" not in header:
                    self.cookies[name] = value
                else:
                    self.cookies.pop(name, None)
            return response.status, response.headers.get("Location", ""), text
        finally:
            conn.close()


class Timed:
    """A ``scenario.Browser`` that times each request it passes on, by kind."""

    def __init__(self, browser):
        self.browser = browser
        self.times: dict[str, list[float]] = defaultdict(list)

    def get(self, path, **kwargs):
        return self.timed("GET", self.browser.get, path, **kwargs)

    def post(self, path, data, **kwargs):
        return self.timed("POST", self.browser.post, path, data, **kwargs)

    def timed(self, method, send, *args, name, **kwargs):
        started = time.perf_counter()
        page = send(*args, name=name, **kwargs)
        self.times[f"{method} {name}"].append((time.perf_counter() - started) * 1000)
        return page


def alone(host: str, *, username: str, password: str, rounds: int) -> dict[str, float]:
    """Each request kind's median time with nothing else running: one rep doing every
    action ``rounds`` times in turn, before the load. What a request costs, against
    which the times under load show the wait for a free worker and CPU."""
    browser = Timed(UrlBrowser(host, {}))
    rep = scenario.Visit(browser, username, password, False, [username])
    rep.sign_in()
    for _ in range(rounds):
        for action in scenario.MIX:
            rep.act(action)
    return {name: statistics.median(times) for name, times in browser.times.items()}


# --- load --------------------------------------------------------------------------------


def run_locust(args, *, hosts, reps, managers, password) -> int:
    OUT.mkdir(exist_ok=True)
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "LOADTEST_HOSTS": ",".join(hosts),
        "LOADTEST_REPS": str(args.reps),
        "LOADTEST_MANAGERS": str(args.managers),
        "LOADTEST_REP_ACCOUNTS": ",".join(reps),
        "LOADTEST_MANAGER_ACCOUNTS": ",".join(managers),
        "LOADTEST_PASSWORD": password,
        "LOADTEST_SECONDS": str(args.seconds),
        "LOADTEST_WAIT": args.wait,
        "LOADTEST_SKIP": ",".join(args.skip),
    }
    users = args.reps + args.managers
    command = [
        args.locust,
        "-f",
        str(LOCUSTFILE),
        "--headless",
        f"--users={users}",
        f"--spawn-rate={args.spawn_rate}",
        # The locustfile stops the run --seconds after the last sign-in; this is a bound.
        f"--run-time={int(args.seconds + users / args.spawn_rate + 120)}s",
        f"--csv={OUT / 'load'}",
        "--only-summary",
        "--loglevel=WARNING",
    ]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


def figures_table(path: Path, quiet: dict[str, float]) -> tuple[str, int]:
    """The Markdown table of Locust's stats CSV beside the times alone (``quiet``), and
    the number of failed requests."""
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    lines = [
        "| request | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | alone ms |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in sorted(rows, key=lambda r: (r["Name"] == "Aggregated", r["Name"])):
        if row["Request Count"] == "0":  # the sign-ins, before the figures were reset
            continue
        name = "**all**" if row["Name"] == "Aggregated" else f"{row['Type']} {row['Name']}"
        alone_ms = f"{quiet[name]:.0f}" if name in quiet else ""
        lines.append(
            f"| {name} | {row['Request Count']} | {float(row['Requests/s']):.1f}"
            f" | {row['50%']} | {row['95%']} | {row['99%']}"
            f" | {float(row['Max Response Time']):.0f} | {row['Failure Count']} | {alone_ms} |"
        )
    total = next(r for r in rows if r["Name"] == "Aggregated")
    return "\n".join(lines), int(total["Failure Count"])


# --- across servers ----------------------------------------------------------------------


def summary(page: scenario.Page) -> tuple[int, str]:
    """The list's count and exact total value (0 and "" for no lead)."""
    found = SUMMARY.search(page.text)
    if not found:
        return 0, ""
    return int(found.group(1).replace(",", "")), (found.group(2) or found.group(3)).strip()


def current_stage(text: str) -> str:
    """The stage the lead's tracker marks as its current one."""
    found = re.search(r'aria-current="step">.*?tracker-label">([^<]+)<', text, re.S)
    return found.group(1) if found else ""


def wait_for_quiet(seconds: float = 3, timeout: float = 120) -> None:
    """Until no lead was written for ``seconds``: the servers finish the requests they
    had queued when Locust stopped, writes among them."""
    deadline = time.monotonic() + timeout
    last, quiet_since = latest_event_id(), time.monotonic()
    while time.monotonic() - quiet_since < seconds and time.monotonic() < deadline:
        time.sleep(0.5)
        if (newest := latest_event_id()) != last:
            last, quiet_since = newest, time.monotonic()
    connection.close()


def cross_check(host_a: str, host_b: str, *, password: str) -> list[str]:
    """Writes on A, read at once on B (the same session); the failed checks, if any."""
    lead = (
        Lead.objects.open()
        .filter(stage__pipeline__is_default=True, value__isnull=False, value__gt=0)
        .exclude(assignee__username=CHECKER)
        .select_related("stage", "assignee")
        .order_by("-pk")
        .first()
    )
    if lead is None:
        return ["no open lead with a value to check with"]
    here = lead.stage
    there = (
        PipelineStage.objects.filter(pipeline_id=here.pipeline_id, kind="open")
        .exclude(pk=here.pk)
        .order_by("order")
        .first()
    )
    owner = lead.assignee.username if lead.assignee else ""
    cookies: dict[str, str] = {}
    a = scenario.Visit(UrlBrowser(host_a, cookies), CHECKER, password, True, [])
    b = scenario.Visit(UrlBrowser(host_b, cookies), CHECKER, password, True, [])
    failures = []

    def check(ok: bool, what: str) -> None:
        print(f"  {'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failures.append(what)

    a.sign_in()
    page = b.read("/my-work/", name="session", expect=(200,))
    check("My Work" in page.text, "signed in on A, the same session cookie is signed in on B")
    b.csrf = a.csrf

    lists = {
        "from": f"/leads/?stage={here.pk}",
        "to": f"/leads/?stage={there.pk}",
        # Not a filter the running totals answer: counted, and cached per process. The
        # page leaves a set this large to be counted after its rows (/leads/totals/, by
        # htmx); count=1 asks the page to count it, as a browser without JavaScript does.
        "to, valued": f"/leads/?stage={there.pk}&value_min=0&count=1",
        "mine": "/leads/?assignee=me",
    }

    def totals_on_b() -> dict[str, tuple[int, str]]:
        # Several times, so that each of B's workers has its cache filled.
        return {
            key: [summary(b.read(url, name="list")) for _ in range(4)][-1]
            for key, url in lists.items()
        }

    for url in lists.values():
        a.read(url, name="list")
    before = totals_on_b()

    note = f"Cross-server note {secrets.token_hex(4)}"
    a.write(
        f"/leads/{lead.pk}/stage/",
        {"stage": str(there.pk)},
        name="move",
        htmx_target="lead-stage",
    )
    a.write(
        f"/leads/{lead.pk}/notes/",
        {"text": note},
        name="note",
        htmx_target="lead-timeline",
        contains=note,
    )
    a.write(
        f"/leads/{lead.pk}/assign/",
        {"assignee": CHECKER},
        name="assign",
        htmx_target="lead-stage",
    )

    detail = b.read(f"/leads/{lead.pk}/", name="detail").text
    check(note in detail, "B shows the note added on A")
    check(
        current_stage(detail) == there.name, f"B shows the lead in {there.name}, where A moved it"
    )
    after = totals_on_b()
    fresh = {
        "from": Lead.objects.filter(stage=here).count(),
        "to": Lead.objects.filter(stage=there).count(),
    }
    check(
        after["from"][0] == before["from"][0] - 1 == fresh["from"],
        f"B's list of {here.name}: {before['from'][0]} → {after['from'][0]} leads"
        f" (a fresh count: {fresh['from']})",
    )
    check(
        after["to"][0] == before["to"][0] + 1 == fresh["to"],
        f"B's list of {there.name}: {before['to'][0]} → {after['to'][0]} leads"
        f" (a fresh count: {fresh['to']})",
    )
    check(
        after["to, valued"][0] == before["to, valued"][0] + 1,
        f"B's cached totals of {there.name} with a value ≥ 0: {before['to, valued'][0]}"
        f" → {after['to, valued'][0]}",
    )
    mine = after["mine"][0] == before["mine"][0] + 1
    if before["mine"][0] == 0:  # the lead alone: its value is the total
        mine = mine and after["mine"][1] == format_money(lead.value)
    check(
        mine,
        f"B's list of the checker's leads: {before['mine']} → {after['mine']}"
        f" (the lead's value: {format_money(lead.value)})",
    )

    # Optimistic locking across servers: a form loaded on A, then a save on B.
    form_a = scenario.form_fields(
        a.read(f"/leads/{lead.pk}/edit/", name="edit (form)").text, action_contains='id="id_title"'
    )
    form_b = scenario.form_fields(
        b.read(f"/leads/{lead.pk}/edit/", name="edit (form)").text, action_contains='id="id_title"'
    )
    other = "urgent" if lead.priority != "urgent" else "high"
    b.write(
        f"/leads/{lead.pk}/edit/",
        form_b | {"priority": other},
        name="edit",
        htmx_target="lead-form",
    )
    stale = a.write(
        f"/leads/{lead.pk}/edit/",
        form_a | {"priority": "low"},
        name="edit",
        htmx_target="lead-form",
        expect=(200, 409),
    )
    check(stale.status == 409, "A's form loaded before B's save answers 409 (edited meanwhile)")

    # Put it back, through the pages.
    a.write(
        f"/leads/{lead.pk}/stage/",
        {"stage": str(here.pk)},
        name="move",
        htmx_target="lead-stage",
    )
    a.write(
        f"/leads/{lead.pk}/assign/", {"assignee": owner}, name="assign", htmx_target="lead-stage"
    )
    form = scenario.form_fields(
        a.read(f"/leads/{lead.pk}/edit/", name="edit (form)").text, action_contains='id="id_title"'
    )
    a.write(
        f"/leads/{lead.pk}/edit/",
        form | {"priority": lead.priority},
        name="edit",
        htmx_target="lead-form",
    )
    back = totals_on_b()
    check(back == before, "after putting the lead back, B's totals are what they were")
    return failures


# --- main --------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locust", default=str(ROOT / ".venv-load" / "bin" / "locust"))
    parser.add_argument("--ports", type=int, nargs="+", default=[8101, 8102])
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers per server")
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--managers", type=int, default=10)
    parser.add_argument(
        "--rep-accounts", type=int, default=20, help="seeded reps to sign in as, in turn"
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--spawn-rate", type=float, default=5)
    parser.add_argument(
        "--alone-rounds", type=int, default=3, help="rounds of every action before the load"
    )
    parser.add_argument(
        "--skip", nargs="+", default=[], choices=list(scenario.MIX), help="actions left out"
    )
    parser.add_argument("--wait", default="0.5,2.5", help="min,max seconds between actions")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database filled by manage.py seed_bulk.")
    if not Path(args.locust).exists():
        sys.exit(f"No Locust at {args.locust}: `make loadtest` installs it in .venv-load.")

    translation.activate("en")  # the pages' language, for the totals they show
    password = secrets.token_urlsafe(16)
    reps, managers = prepare_accounts(
        managers=args.managers, reps=args.rep_accounts, password=password
    )
    vacuum()
    connection.close()
    hosts = [f"http://127.0.0.1:{port}" for port in args.ports]
    logs = Path(tempfile.mkdtemp(prefix="crm-loadtest-"))
    env = server_environment(secrets.token_urlsafe(50))
    leads = Lead.objects.count()
    print(
        f"{leads:,} leads; {len(hosts)} servers × {args.workers} workers; "
        f"{args.reps} reps and {args.managers} managers; logs in {logs}",
        flush=True,
    )
    servers = start_servers(args.ports, workers=args.workers, env=env, logs=logs)
    try:
        print("Each request alone, before the load…", flush=True)
        quiet = alone(hosts[0], username=reps[0], password=password, rounds=args.alone_rounds)
        locust_code = run_locust(args, hosts=hosts, reps=reps, managers=managers, password=password)
        table, errors = figures_table(OUT / "load_stats.csv", quiet)
        wait_for_quiet()
        print("\nAcross servers (write on A, read on B):", flush=True)
        try:
            failures = cross_check(hosts[0], hosts[-1], password=password)
        except AssertionError as error:
            failures = [str(error)]
            print(f"  FAIL {error}")
    finally:
        stop_servers(servers)
    print(f"\n{leads:,} leads, {args.reps + args.managers} users for {args.seconds:.0f} s:\n")
    print(table)
    ok = locust_code == 0 and errors == 0 and not failures
    print(
        f"\n{'PASS' if ok else 'FAIL'}: {errors} failed requests, "
        f"{len(failures)} failed checks across servers"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

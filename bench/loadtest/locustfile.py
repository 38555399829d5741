"""Locust users for the load test: Sales reps and managers acting as ``scenario`` says.

Run by ``bench/load_test.py``, which prepares the accounts, starts the app servers and
passes everything in the environment:

- ``LOADTEST_HOSTS``: the app servers' base URLs, comma-separated; users are split
  evenly over them (a rep and a manager alternate between hosts).
- ``LOADTEST_REPS`` / ``LOADTEST_MANAGERS``: how many of each simulated user;
  ``LOADTEST_REP_ACCOUNTS`` / ``LOADTEST_MANAGER_ACCOUNTS``: their usernames (taken in
  turn), ``LOADTEST_PASSWORD`` theirs.
- ``LOADTEST_SECONDS``: how long to measure, counted from the moment every user has
  signed in (figures are reset then, so the sign-ins' password hashing is not in them).
- ``LOADTEST_WAIT``: "min,max" seconds a person pauses between actions.
- ``LOADTEST_SKIP``: actions to leave out of the mix (a diagnosis, not the test).

Requests carry ``X-Forwarded-Proto: https`` as the TLS-terminating proxy in front of
production would, so the servers run with their production security settings.
"""

import itertools
import math
import os
import random
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlencode

import gevent
from locust import FastHttpUser, between, events
from locust.exception import RescheduleTask

from bench.loadtest import scenario

HOSTS = os.environ.get("LOADTEST_HOSTS", "http://127.0.0.1:8101").split(",")
REPS = int(os.environ.get("LOADTEST_REPS", "40"))
MANAGERS = int(os.environ.get("LOADTEST_MANAGERS", "10"))
REP_ACCOUNTS = os.environ.get("LOADTEST_REP_ACCOUNTS", "").split(",")
MANAGER_ACCOUNTS = os.environ.get("LOADTEST_MANAGER_ACCOUNTS", "").split(",")
PASSWORD = os.environ.get("LOADTEST_PASSWORD", "")
SECONDS = float(os.environ.get("LOADTEST_SECONDS", "60"))
WAIT = [float(s) for s in os.environ.get("LOADTEST_WAIT", "0.5,2.5").split(",")]
#: Actions left out (to see what the others cost without them), comma-separated.
SKIP = set(filter(None, os.environ.get("LOADTEST_SKIP", "").split(",")))

signed_in = itertools.count(1)
numbers = {"rep": itertools.count(), "manager": itertools.count()}


class Failed(Exception):
    """A request answered what a browser would not have expected."""


class BehindTheProxy(DefaultCookiePolicy):
    """The app's cookies are Secure (the browser speaks HTTPS to the proxy); from the
    proxy to the app is plain HTTP, over which a cookie jar would hold them back."""

    def return_ok_secure(self, cookie, request):
        return True


class LocustBrowser:
    """``scenario.Browser`` over Locust's client: a request whose status or page is not
    what the scenario expects is a failure in the figures."""

    def __init__(self, user: FastHttpUser):
        self.client = user.client
        self.client.cookiejar.set_policy(BehindTheProxy())
        self.host = user.host

    def get(self, path, *, name, expect=(200,), contains="", htmx_target=""):
        return self.send("GET", path, None, name, expect, contains, htmx_target)

    def post(self, path, data, *, name, expect=(200,), contains="", htmx_target=""):
        return self.send("POST", path, data, name, expect, contains, htmx_target)

    def send(self, method, path, data, name, expect, contains, htmx_target):
        origin = "https://" + self.host.split("://", 1)[1]
        headers = {"X-Forwarded-Proto": "https", "Referer": origin + path}
        if data is not None:
            headers |= {"Origin": origin, "Content-Type": "application/x-www-form-urlencoded"}
            data = urlencode(data, doseq=True)
        if htmx_target:
            headers |= {"HX-Request": "true", "HX-Target": htmx_target}
        with self.client.request(
            method, path, data=data, headers=headers, name=name, catch_response=True
        ) as response:
            text = response.text or ""
            if response.status_code not in expect:
                response.failure(f"{response.status_code} for {method} {path}")
            elif contains and contains not in text:
                response.failure(f"{method} {path}: no {contains!r} in the page")
            else:
                return scenario.Page(response.status_code, text)
        raise Failed(f"{method} {path}")


class Person(FastHttpUser):
    abstract = True
    wait_time = between(*WAIT)
    manager = False

    def __init__(self, environment):
        self.role = "manager" if self.manager else "rep"
        self.number = next(numbers[self.role])
        self.host = HOSTS[self.number % len(HOSTS)]
        super().__init__(environment)

    def on_start(self):
        role, number = self.role, self.number
        accounts = MANAGER_ACCOUNTS if self.manager else REP_ACCOUNTS
        count = MANAGERS if self.manager else REPS
        self.visit = scenario.Visit(
            LocustBrowser(self),
            username=accounts[number % len(accounts)],
            password=PASSWORD,
            manager=self.manager,
            colleagues=REP_ACCOUNTS,
            rng=random.Random(f"{role}-{number}"),
            # Several users on one account split its leads between them.
            share=(number // len(accounts), math.ceil(count / len(accounts))),
        )
        try:
            self.visit.sign_in()
        finally:  # a sign-in refused is an error in the figures; the others go on
            if next(signed_in) == REPS + MANAGERS:
                everyone_signed_in(self.environment)

    def act(self, action):
        try:
            self.visit.act(action)
        except Failed:
            raise RescheduleTask() from None


def everyone_signed_in(environment):
    """Measure from now on, for ``SECONDS``."""
    environment.runner.stats.reset_all()
    print(f"All {REPS + MANAGERS} users signed in: measuring for {SECONDS:.0f} s", flush=True)
    gevent.spawn_later(SECONDS, environment.runner.quit)


def task_of(action):
    return lambda user: user.act(action)


TASKS = {task_of(action): weight for action, weight in scenario.MIX.items() if action not in SKIP}


class Rep(Person):
    fixed_count = REPS
    tasks = TASKS


class Manager(Person):
    fixed_count = MANAGERS
    manager = True
    tasks = TASKS


@events.quitting.add_listener
def _(environment, **kwargs):
    # Every request counted fails the run: errors must be none.
    if environment.stats.total.num_failures:
        environment.process_exit_code = 1

"""Redis stopped, restarted and hung under load, through the real system
on PostgreSQL and a Redis of the test's own (``private_redis``, never the machine's).

A bounded load (each kind of request a few times a second) runs over every kind of
endpoint while the fault lasts; every answer is kept with its start time and
latency, and the assertions read them afterwards:

- Redis stopped: no 5xx but 503, and every 503 is retryable (``Retry-After``) and in
  the form its caller reads (the HTML page on the pages, ``temporarily_unavailable``
  JSON on the API); what does not need Redis (token issuance, refresh,
  introspection, revocation, userinfo, discovery, JWKS) keeps answering 200, what
  does (the sign-in pages, which hold the session) answers 503; ``/ready`` is false
  within 5 s and true again within 5 s of Redis's return; ``/health`` stays 200.
  The recovery time (Redis back -> first sign-in page served) is printed.
- Redis hung (SIGSTOP): every request answers within the gateway's deadline budget
  (plus one second) and none is a 500; after SIGCONT every kind succeeds again.
  The latency of each kind while Redis hangs is printed.
- A revoked access token is refused at introspection throughout, and so is one
  revoked while Redis is away, on both token replicas, also after Redis returns
  empty (it keeps nothing on disk).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from bs4 import BeautifulSoup

from conftest import start_redis
from tests.e2e.browser import Arrival, Browser, pkce_pair
from tests.e2e.conftest import (
    RunningSystem,
    base_env,
    basic,
    new_database,  # noqa: F401 - a fixture
    postgres_env,
    start_system,
)
from tests.e2e.test_sign_in import PASSWORD, REDIRECT, authorize_url, exchange, new_client, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.slow]

#: The gateway's deadline for a request (grpc_deadline_seconds): no answer may take longer.
BUDGET_SECONDS = 5.0
#: Iterations a second of each kind of request: a bounded load on two shared cores.
RATE_PER_KIND = 4.0
BASELINE_SECONDS = 2.0
DOWN_SECONDS = 6.0
HANG_SECONDS = 8.0
#: /ready follows Redis within this.
READY_WITHIN_SECONDS = 5.0
#: After Redis is back (or resumed), every kind of request succeeds again within this.
RECOVERY_BOUND_SECONDS = 20.0

#: Answered without Redis: token issuance and refresh, introspection and revocation
#: (the revocation list falls back to the database), userinfo, the public documents.
REDIS_FREE = frozenset(
    {
        "token_cc",
        "refresh",
        "introspect",
        "introspect_revoked",
        "revoke",
        "userinfo",
        "discovery",
        "jwks",
        "health",
    }
)
#: The sign-in pages: they hold the session, which lives in Redis.
PAGES = frozenset({"authorize_anon", "authorize_session", "login_get", "login_post"})
#: What counts as a success of each kind (the sign-in pages redirect).
SUCCESS: dict[str, frozenset[int]] = {
    "authorize_anon": frozenset({303}),
    "authorize_session": frozenset({302, 303}),
    "login_get": frozenset({200}),
    "login_post": frozenset({302, 303}),
}
KINDS = REDIS_FREE | PAGES | {"ready"}
SIGN_IN_SCOPE = "openid offline_access"


@dataclass(frozen=True)
class Sample:
    kind: str
    started: float  # time.monotonic()
    elapsed: float
    status: int  # 0: no answer at all (a transport error or the client's timeout)
    content_type: str = ""
    retry_after: str | None = None
    body: str = ""

    @property
    def ended(self) -> float:
        return self.started + self.elapsed

    def ok(self) -> bool:
        return self.status in SUCCESS.get(self.kind, frozenset({200}))


@dataclass
class Fixture:
    """What the load needs, prepared while Redis is up."""

    system: RunningSystem
    cc_auth: dict[str, str]
    rs_auth: dict[str, str]
    valid_token: str
    revoked_token: str
    revoke_target: str
    #: Valid now; the test revokes them while Redis is away.
    spare_tokens: list[str]
    userinfo_token: str
    refresh_tokens: list[str]
    sign_in_client: dict[str, Any]
    username: str
    session_cookies: httpx.Cookies


class Load:
    """One thread per actor, each paced at RATE_PER_KIND iterations a second."""

    def __init__(self, fx: Fixture) -> None:
        self.fx = fx
        self.samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._refresh = list(fx.refresh_tokens)
        self._revoked = [fx.revoked_token]
        # The last sign-in that reached the login form: cookies, its URL, its fields.
        self._last_sign_in: tuple[httpx.Cookies, str, dict[str, str]] | None = None

    # -- running ------------------------------------------------------------------------

    def __enter__(self) -> Load:
        actors: list[Callable[[httpx.Client], None]] = [
            self._token_cc,
            self._refresh_once,
            self._introspect,
            self._introspect_revoked,
            self._revoke,
            self._userinfo,
            self._get("discovery", "/.well-known/openid-configuration"),
            self._get("jwks", "/oauth/jwks"),
            self._get("health", "/health"),
            self._get("ready", "/ready"),
            self._authorize_anon,
            self._authorize_session,
            self._sign_in_pages,
        ]
        for actor in actors:
            thread = threading.Thread(target=self._run, args=(actor,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self, actor: Callable[[httpx.Client], None]) -> None:
        period = 1 / RATE_PER_KIND
        with httpx.Client(
            base_url=self.fx.system.base_url, timeout=15, follow_redirects=False
        ) as http:
            while not self._stop.is_set():
                began = time.monotonic()
                actor(http)
                # Pacing, not waiting for a condition: the load stays bounded.
                self._stop.wait(max(0.0, period - (time.monotonic() - began)))

    def record(self, kind: str, send: Callable[[], httpx.Response]) -> httpx.Response | None:
        started = time.monotonic()
        answer: httpx.Response | None = None
        try:
            answer = send()
        except httpx.HTTPError as exc:
            sample = Sample(kind, started, time.monotonic() - started, 0, body=repr(exc))
        else:
            sample = Sample(
                kind,
                started,
                time.monotonic() - started,
                answer.status_code,
                answer.headers.get("content-type", ""),
                answer.headers.get("retry-after"),
                answer.text[:300],
            )
        with self._lock:
            self.samples.append(sample)
        return answer

    def snapshot(self) -> list[Sample]:
        with self._lock:
            return list(self.samples)

    def wait_for(self, check: Callable[[list[Sample]], bool], bound: float) -> bool:
        """Poll the samples until ``check`` holds, at most ``bound`` seconds."""
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            if check(self.snapshot()):
                return True
            time.sleep(0.05)
        return check(self.snapshot())

    # -- the actors ---------------------------------------------------------------------

    def _get(self, kind: str, path: str) -> Callable[[httpx.Client], None]:
        def actor(http: httpx.Client) -> None:
            self.record(kind, lambda: http.get(path))

        return actor

    def _token_cc(self, http: httpx.Client) -> None:
        form = {"grant_type": "client_credentials"}
        self.record(
            "token_cc", lambda: http.post("/oauth/token", data=form, headers=self.fx.cc_auth)
        )

    def _refresh_once(self, http: httpx.Client) -> None:
        if not self._refresh:
            return
        client = self.fx.sign_in_client
        auth = {"Authorization": basic(client["client_id"], client["client_secret"])}
        form = {"grant_type": "refresh_token", "refresh_token": self._refresh[0]}
        response = self.record(
            "refresh", lambda: http.post("/oauth/token", data=form, headers=auth)
        )
        if response is None:
            return
        if response.status_code == 200:
            self._refresh[0] = response.json()["refresh_token"]
        elif response.status_code == 400:
            # Rotated by an answer that never arrived, so the family is gone: the next.
            self._refresh.pop(0)

    def _introspect(self, http: httpx.Client) -> None:
        response = self.record(
            "introspect",
            lambda: http.post(
                "/oauth/introspect", data={"token": self.fx.valid_token}, headers=self.fx.rs_auth
            ),
        )
        if response is not None and response.status_code == 200:
            assert response.json()["active"] is True, response.text

    def _introspect_revoked(self, http: httpx.Client) -> None:
        for token in list(self._revoked):
            introspect = partial(
                http.post, "/oauth/introspect", data={"token": token}, headers=self.fx.rs_auth
            )
            self.record("introspect_revoked", introspect)

    def revoke_now(self, token: str) -> None:
        """Revoke ``token`` (a request of the load's, timed like the others); from
        then on introspection must refuse it, on every token replica."""
        with httpx.Client(base_url=self.fx.system.base_url, timeout=15) as http:
            answer = self.record(
                "revoke",
                lambda: http.post("/oauth/revoke", data={"token": token}, headers=self.fx.cc_auth),
            )
        assert answer is not None and answer.status_code == 200, answer
        self._revoked.append(token)

    def _revoke(self, http: httpx.Client) -> None:
        self.record(
            "revoke",
            lambda: http.post(
                "/oauth/revoke", data={"token": self.fx.revoke_target}, headers=self.fx.cc_auth
            ),
        )

    def _userinfo(self, http: httpx.Client) -> None:
        headers = {"Authorization": f"Bearer {self.fx.userinfo_token}"}
        self.record("userinfo", lambda: http.get("/oauth/userinfo", headers=headers))

    def _authorize_anon(self, http: httpx.Client) -> None:
        url = authorize_url(
            self.fx.sign_in_client["client_id"], pkce_pair()[1], scope=SIGN_IN_SCOPE
        )
        http.cookies.clear()
        self.record("authorize_anon", lambda: http.get(url))

    def _authorize_session(self, http: httpx.Client) -> None:
        url = authorize_url(
            self.fx.sign_in_client["client_id"], pkce_pair()[1], scope=SIGN_IN_SCOPE
        )
        if not http.cookies:
            http.cookies = httpx.Cookies(self.fx.session_cookies)
        self.record("authorize_session", lambda: http.get(url))

    def _sign_in_pages(self, http: httpx.Client) -> None:
        """A sign-in from the start: the authorization request (no session), the login
        page, the form posted. When a step fails the next goes on with the last sign-in
        that got that far, so that the login page and its POST are tried while Redis is
        away too."""
        http.cookies.clear()
        url = authorize_url(
            self.fx.sign_in_client["client_id"], pkce_pair()[1], scope=SIGN_IN_SCOPE
        )
        started = self.record("authorize_anon", lambda: http.get(url))
        fields: dict[str, str] = {}
        if started is not None and started.status_code == 303:
            login_url = started.headers["location"]
        elif self._last_sign_in is not None:
            cookies, login_url, fields = self._last_sign_in
            http.cookies = httpx.Cookies(cookies)
        else:
            return
        page = self.record("login_get", lambda: http.get(login_url))
        if page is not None and page.status_code == 200:
            fields = hidden_inputs(page.text)
        if not fields:
            return
        self._last_sign_in = (httpx.Cookies(http.cookies), login_url, fields)
        form = {**fields, "username": self.fx.username, "password": PASSWORD}
        action = urlsplit(login_url).path or "/login"
        self.record("login_post", lambda: http.post(action, data=form))


def hidden_inputs(html: str) -> dict[str, str]:
    soup = BeautifulSoup(html, "html.parser")
    form = soup.find("form", attrs={"method": lambda m: (m or "").lower() == "post"})
    if form is None:
        return {}
    return {
        str(field_.get("name")): str(field_.get("value", ""))
        for field_ in form.find_all("input")
        if field_.get("name") and field_.get("type") == "hidden"
    }


# -- the system ---------------------------------------------------------------------------


@dataclass
class Outage:
    """The system and its private Redis, which the test stops and starts again."""

    fx: Fixture
    directory: Path
    url: str
    proc: subprocess.Popen[bytes]
    restarted: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def port(self) -> int:
        port = urlsplit(self.url).port
        assert port is not None
        return port

    def stop_redis(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    def start_redis_again(self) -> None:
        url, proc = start_redis(self.directory, self.port)
        assert url == self.url
        self.proc = proc
        self.restarted.append(proc)


@pytest.fixture
def outage(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    private_redis: tuple[str, subprocess.Popen[bytes]],
) -> Iterator[Outage]:
    url, proc = private_redis
    data_dir = tmp_path / "system"
    data_dir.mkdir()
    env = base_env(data_dir)
    database_url = request.getfixturevalue("new_database")()
    postgres_env(env, database_url, url, "faults:")
    env["OAUTH2_GRPC_DEADLINE_SECONDS"] = str(BUDGET_SECONDS)
    # One client and one user from one address make all the load: their own limits
    # are opened too (the limiter itself still runs, and fails open without Redis).
    for limit in ("TOKEN", "INTROSPECT", "REVOKE"):
        env[f"OAUTH2_RATE_LIMIT_{limit}_PER_CLIENT"] = "1000/s burst 10000"
    env["OAUTH2_RATE_LIMIT_LOGIN_PER_USER"] = "1000/s burst 10000"
    # Cheap password hashes: the point is the sign-in path, not Argon2 on two cores.
    env["OAUTH2_ARGON2_MEMORY_COST"] = "1024"
    env["OAUTH2_ARGON2_PARALLELISM"] = "1"
    env["OAUTH2_ARGON2_TIME_COST"] = "1"
    # Two token replicas: a revocation made on one must be refused by the other.
    system = start_system(env, data_dir, "postgres", database_url, token_replicas=2)
    result = Outage(prepare(system), tmp_path, url, proc)
    try:
        yield result
    finally:
        system.system.stop_all()
        for restarted in result.restarted:
            with_sigcont(restarted)
            restarted.terminate()
            restarted.wait(10)


def with_sigcont(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGCONT)


def prepare(system: RunningSystem) -> Fixture:
    cc = system.create_client(
        "--name", "outage-backend", "--grant-type", "client_credentials", "--scope", "api"
    )
    cc_auth = {"Authorization": basic(cc["client_id"], cc["client_secret"])}
    rs = system.resource_server()
    rs_auth = {"Authorization": basic(rs["client_id"], rs["client_secret"])}
    with system.http() as http:

        def access_token() -> str:
            response = http.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, headers=cc_auth
            )
            assert response.status_code == 200, response.text
            return str(response.json()["access_token"])

        valid, revoked, revoke_target = access_token(), access_token(), access_token()
        spare = [access_token(), access_token()]
        answer = http.post("/oauth/revoke", data={"token": revoked}, headers=cc_auth)
        assert answer.status_code == 200, answer.text
        answer = http.post("/oauth/introspect", data={"token": revoked}, headers=rs_auth)
        assert answer.json() == {"active": False}

    client = new_client(system, "client_secret_basic")
    username = f"outage-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    system.create_user(username, PASSWORD)
    families: list[dict[str, Any]] = []
    with Browser(system.base_url) as browser:
        for _ in range(4):
            verifier, challenge = pkce_pair()
            url = authorize_url(client["client_id"], challenge, scope=SIGN_IN_SCOPE)
            if families:  # signed in already: consent again at most
                arrival = browser.go(url)
                if isinstance(arrival, httpx.Response):
                    arrival = browser.submit(arrival, button="decision=approve")
            else:
                arrival = sign_in(browser, url, username)
            assert isinstance(arrival, Arrival), arrival
            assert arrival.url.startswith(REDIRECT)
            response = exchange(system, client, arrival.params["code"], verifier)
            assert response.status_code == 200, response.text
            families.append(response.json())
        cookies = httpx.Cookies(browser.http.cookies)
    return Fixture(
        system=system,
        cc_auth=cc_auth,
        rs_auth=rs_auth,
        valid_token=valid,
        revoked_token=revoked,
        revoke_target=revoke_target,
        spare_tokens=spare,
        userinfo_token=families[0]["access_token"],
        refresh_tokens=[f["refresh_token"] for f in families[1:]],
        sign_in_client=client,
        username=username,
        session_cookies=cookies,
    )


# -- reading the samples ------------------------------------------------------------------


def between(samples: list[Sample], start: float, end: float) -> list[Sample]:
    """The requests sent in [start, end)."""
    return [s for s in samples if start <= s.started < end]


def summary(samples: list[Sample]) -> str:
    by_kind: dict[str, Counter[int]] = {}
    for s in samples:
        by_kind.setdefault(s.kind, Counter())[s.status] += 1
    return "; ".join(
        f"{kind} {dict(sorted(counts.items()))}" for kind, counts in sorted(by_kind.items())
    )


def latencies(samples: list[Sample]) -> str:
    lines = []
    for kind in sorted({s.kind for s in samples}):
        times = sorted(s.elapsed for s in samples if s.kind == kind)
        statuses = Counter(s.status for s in samples if s.kind == kind)
        lines.append(
            f"  {kind:20} n={len(times):3} median={statistics.median(times):.2f}s "
            f"max={times[-1]:.2f}s statuses={dict(sorted(statuses.items()))}"
        )
    return "\n".join(lines)


def server_errors(samples: list[Sample]) -> list[Sample]:
    """Answers no client may see through a Redis fault: a 5xx other than 503, or none."""
    return [s for s in samples if s.status == 0 or (s.status >= 500 and s.status != 503)]


def badly_formed_503s(samples: list[Sample]) -> list[Sample]:
    """503s without Retry-After, or not in the form their caller reads."""
    bad = []
    for s in samples:
        if s.status != 503 or s.kind in ("ready", "health"):
            continue
        if s.retry_after is None:
            bad.append(s)
        elif s.kind in PAGES:
            if not s.content_type.startswith("text/html"):
                bad.append(s)
        elif '"temporarily_unavailable"' not in s.body:
            bad.append(s)
    return bad


def revoked_accepted(samples: list[Sample]) -> list[Sample]:
    return [
        s
        for s in samples
        if s.kind == "introspect_revoked" and s.status == 200 and '"active":true' in s.body
    ]


def first(samples: list[Sample], kind: str, after: float, good: bool) -> Sample | None:
    found = [s for s in samples if s.kind == kind and s.started >= after and s.ok() == good]
    return min(found, key=lambda s: s.ended, default=None)


def every_kind_succeeds_after(at: float) -> Callable[[list[Sample]], bool]:
    def check(samples: list[Sample]) -> bool:
        return all(first(samples, kind, at, good=True) is not None for kind in KINDS)

    return check


# -- the faults ---------------------------------------------------------------------------


def test_redis_stopped_then_back(outage: Outage) -> None:
    with Load(outage.fx) as load:
        assert load.wait_for(every_kind_succeeds_after(time.monotonic()), 15), summary(
            load.snapshot()
        )
        baseline_start = time.monotonic()
        time.sleep(BASELINE_SECONDS)  # the load runs meanwhile
        stopping = time.monotonic()
        outage.stop_redis()
        down = time.monotonic()
        load.revoke_now(outage.fx.spare_tokens[0])
        assert load.wait_for(lambda s: first(s, "ready", down, good=False) is not None, 10)
        time.sleep(max(0.0, down + DOWN_SECONDS - time.monotonic()))
        restarting = time.monotonic()
        outage.start_redis_again()
        back = time.monotonic()
        recovered = load.wait_for(every_kind_succeeds_after(back), RECOVERY_BOUND_SECONDS)
        time.sleep(1.0)
        end = time.monotonic()
    samples = load.snapshot()
    # Requests in flight while Redis stops or starts may go either way.
    baseline = [s for s in between(samples, baseline_start, stopping) if s.ended < stopping]
    outage_ = [s for s in between(samples, down, restarting) if s.ended < restarting]
    after = between(samples, back, end)
    print(f"\nRedis stopped for {back - down:.1f} s; requests by kind and status:")
    print(
        f"  before: {summary(baseline)}\n  down:   {summary(outage_)}\n  after:  {summary(after)}"
    )

    assert [s for s in baseline if not s.ok()] == []
    assert server_errors(samples) == []
    assert badly_formed_503s(samples) == []
    assert revoked_accepted(samples) == []
    # Without Redis: what does not need it answers as before; the sign-in pages, which
    # hold the session, answer the 503 page.
    assert [s for s in outage_ if s.kind in REDIS_FREE and s.status != 200] == []
    assert [s for s in outage_ if s.kind in PAGES and s.status != 503] == []
    assert {s.kind for s in outage_} >= KINDS - {"login_post"}
    # /ready: false within 5 s of the stop, and from then on until Redis is back.
    ready_down = first(samples, "ready", down, good=False)
    assert ready_down is not None and ready_down.ended - down <= READY_WITHIN_SECONDS
    assert [
        s for s in outage_ if s.kind == "ready" and s.started > ready_down.ended and s.ok()
    ] == []
    # ... and true again within 5 s of its return, with no restart of any process.
    assert recovered, summary(after)
    ready_up = first(samples, "ready", back, good=True)
    assert ready_up is not None and ready_up.ended - back <= READY_WITHIN_SECONDS
    assert outage.fx.system.system.exited() == []
    needs_redis = [first(samples, kind, back, good=True) for kind in sorted(PAGES)]
    recovery = min(s.ended for s in needs_redis if s is not None) - back
    print(f"recovery: Redis back -> first sign-in page served in {recovery:.2f} s")
    print(
        f"/ready: false {ready_down.ended - down:.2f} s after the stop, "
        f"true {ready_up.ended - back:.2f} s after the return"
    )


def test_redis_hung_then_resumed(outage: Outage) -> None:
    pid = outage.proc.pid
    with Load(outage.fx) as load:
        assert load.wait_for(every_kind_succeeds_after(time.monotonic()), 15), summary(
            load.snapshot()
        )
        os.kill(pid, signal.SIGSTOP)
        hung = time.monotonic()
        try:
            load.revoke_now(outage.fx.spare_tokens[0])
            # The load runs against the hung Redis meanwhile.
            time.sleep(max(0.0, hung + HANG_SECONDS - time.monotonic()))
        finally:
            os.kill(pid, signal.SIGCONT)
        resumed = time.monotonic()
        recovered = load.wait_for(every_kind_succeeds_after(resumed), RECOVERY_BOUND_SECONDS)
        end = time.monotonic()
    samples = load.snapshot()
    during = between(samples, hung, resumed)
    print(f"\nRedis hung (SIGSTOP) for {resumed - hung:.1f} s; latency by kind while hung:")
    print(latencies(during))
    print(f"after SIGCONT: {summary(between(samples, resumed, end))}")

    assert server_errors(samples) == []
    assert badly_formed_503s(samples) == []
    assert revoked_accepted(samples) == []
    over_budget = [s for s in samples if s.elapsed >= BUDGET_SECONDS + 1]
    assert over_budget == [], latencies(over_budget)
    assert recovered, summary(between(samples, resumed, end))
    assert outage.fx.system.system.exited() == []

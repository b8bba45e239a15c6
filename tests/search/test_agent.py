"""The office-machine agent: its policy (decide) case by case, its policy file, and what it measures."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "cluster"))
import agent  # noqa: E402  (cluster/agent.py is a script, not a package module)
from agent import Action, Policy, PolicyError, State, amount, decide  # noqa: E402

MONDAY_NIGHT = dt.datetime(2025, 3, 3, 22, 0)  # a Monday, outside 08:00-18:00
MONDAY_NOON = dt.datetime(2025, 3, 3, 12, 0)
SATURDAY_NOON = dt.datetime(2025, 3, 8, 12, 0)
POLICY = Policy(address="10.0.0.1:6379", idle_minutes=10, working_hours="08:00-18:00",
                max_foreign_load=0.5, leave_foreign_load=1.5, rejoin_after_s=120, leave_within_s=30, poll_s=5)


def out(idle_min: float, load: float = 0.0, left_s_ago: float | None = None, now: dt.datetime = MONDAY_NIGHT) -> State:
    return State(idle_s=idle_min * 60, foreign_load=load,
                 out_since=None if left_s_ago is None else now.timestamp() - left_s_ago)


def lent(idle_s: float, joined_s_ago: float, load: float = 0.0, now: dt.datetime = MONDAY_NIGHT) -> State:
    return State(idle_s=idle_s, foreign_load=load, joined_at=now.timestamp() - joined_s_ago)


@pytest.mark.parametrize("idle_min, verb", [(0, "stay"), (9.9, "stay"), (10, "join"), (600, "join")])
def test_joins_only_after_the_idle_minutes(idle_min: float, verb: str) -> None:
    assert decide(out(idle_min), POLICY, MONDAY_NIGHT).verb == verb


def test_join_reason_names_idle_and_load() -> None:
    assert decide(out(12, load=0.1), POLICY, MONDAY_NIGHT) == Action("join", "idle 12 min, load 0.1")


@pytest.mark.parametrize("now, verb", [
    (MONDAY_NOON, "stay"), (MONDAY_NIGHT, "join"), (SATURDAY_NOON, "join"),  # Saturday is no working day
    (dt.datetime(2025, 3, 3, 8, 0), "stay"), (dt.datetime(2025, 3, 3, 7, 59), "join"),
    (dt.datetime(2025, 3, 3, 18, 0), "join"),  # the span is [start, end)
])
def test_never_joins_in_working_hours(now: dt.datetime, verb: str) -> None:
    assert decide(out(60, now=now), POLICY, now).verb == verb


def test_working_hours_past_midnight() -> None:
    night_shift = Policy(address="h:1", working_hours="22:00-06:00")
    assert decide(out(60, now=MONDAY_NIGHT), night_shift, MONDAY_NIGHT).verb == "stay"
    assert decide(out(60, now=MONDAY_NOON), night_shift, MONDAY_NOON).verb == "join"


def test_no_working_hours_means_any_time() -> None:
    assert decide(out(60, now=MONDAY_NOON), Policy(address="h:1"), MONDAY_NOON).verb == "join"


def test_lent_machine_leaves_when_working_hours_begin() -> None:
    now = dt.datetime(2025, 3, 3, 8, 0, 3)
    action = decide(lent(idle_s=3600, joined_s_ago=3000, now=now), POLICY, now)
    assert action.verb == "leave" and "working hours" in action.reason


@pytest.mark.parametrize("load, verb", [(0.0, "join"), (0.5, "join"), (0.51, "stay"), (3.0, "stay")])
def test_does_not_join_while_other_programs_are_busy(load: float, verb: str) -> None:
    assert decide(out(60, load=load), POLICY, MONDAY_NIGHT).verb == verb


@pytest.mark.parametrize("load, verb", [(0.4, "stay"), (1.0, "stay"), (1.5, "stay"), (1.6, "leave")])
def test_load_hysteresis_between_joining_and_leaving(load: float, verb: str) -> None:
    """Between the two thresholds a lent machine stays lent and an idle one stays out: no flapping."""
    assert decide(lent(idle_s=3600, joined_s_ago=600, load=load), POLICY, MONDAY_NIGHT).verb == verb


def test_waits_after_a_leave_before_joining_again() -> None:
    assert decide(out(60, left_s_ago=30), POLICY, MONDAY_NIGHT).verb == "stay"
    assert decide(out(60, left_s_ago=119), POLICY, MONDAY_NIGHT).verb == "stay"
    assert decide(out(60, left_s_ago=120), POLICY, MONDAY_NIGHT).verb == "join"


@pytest.mark.parametrize("idle_s", [0, 1, 3, 5, 12])
def test_leaves_when_the_owner_returns(idle_s: float) -> None:
    action = decide(lent(idle_s=idle_s, joined_s_ago=900), POLICY, MONDAY_NIGHT)
    assert action.verb == "leave" and action.reason == f"owner active {idle_s} s ago"


def test_stays_lent_while_the_owner_is_away() -> None:
    assert decide(lent(idle_s=3600, joined_s_ago=900), POLICY, MONDAY_NIGHT).verb == "stay"


@pytest.mark.parametrize("seen_after_s", [0, 1, 5, 10, 20])
def test_leave_deadline_runs_from_the_owners_activity(seen_after_s: float) -> None:
    """Activity seen late (a poll interval, a slow loginctl) shortens the drain so the deadline holds."""
    action = decide(lent(idle_s=seen_after_s, joined_s_ago=900), POLICY, MONDAY_NIGHT)
    assert action.verb == "leave" and seen_after_s + action.grace_s + agent.LEAVE_MARGIN_S <= POLICY.leave_within_s


def test_owner_activity_is_seen_within_one_poll() -> None:
    """With the longest poll allowed, the owner's return is noticed and the drain still fits the deadline."""
    worst = decide(lent(idle_s=POLICY.poll_s, joined_s_ago=900), POLICY, MONDAY_NIGHT)
    assert worst.verb == "leave" and worst.grace_s >= 10


def test_simulated_evening_never_flaps() -> None:
    """Minute by minute through an evening: one join after the idle minutes, one leave on return."""
    t0 = dt.datetime(2025, 3, 3, 18, 30)
    state, verbs, last_touch = State(idle_s=0, foreign_load=0.0), [], t0.timestamp()
    for minute in range(240):
        now = t0 + dt.timedelta(minutes=minute)
        if minute == 200:
            last_touch = now.timestamp()  # the owner comes back for a moment
        state.idle_s, state.foreign_load = now.timestamp() - last_touch, 0.3 + 0.9 * (minute % 2)  # load swings
        action = decide(state, POLICY, now)
        if action.verb == "join":
            state.joined_at = now.timestamp()
        elif action.verb == "leave":
            state.joined_at, state.out_since = None, now.timestamp()
        verbs.append(action.verb)
    changes = [(m, v) for m, v in enumerate(verbs) if v != "stay"]
    assert changes == [(10, "join"), (200, "leave"), (210, "join")], changes


@pytest.mark.parametrize("spec, total, value", [
    ("total-1", 4, 3), (2, 4, 2), (8, 4, 4), ("total-2GiB", 16 * 2**30, 14 * 2**30),
    ("4GiB", 16 * 2**30, 4 * 2**30), ("1.5GiB", 16 * 2**30, 3 * 2**29), ("512MiB", 2**40, 2**29),
])
def test_amounts(spec: str | int, total: int, value: int) -> None:
    assert amount(spec, total, "x") == value


@pytest.mark.parametrize("spec", ["total-4", "lots", "4G", "", True, 0, "total-16GiB"])
def test_bad_amounts(spec: object) -> None:
    with pytest.raises(PolicyError):
        amount(spec, 4 if not str(spec).endswith("GiB") else 8 * 2**30, "x")  # type: ignore[arg-type]


AGENT = [sys.executable, str(REPO / "cluster" / "agent.py")]


@pytest.mark.parametrize("body, message", [
    ("[agent]\nidle_minutes = 5\n", "address"),
    ('[agent]\naddress = "h:1"\npoll_s = 30\n', "poll_s"),
    ('[agent]\naddress = "h:1"\nworking_hours = "8-18"\n', "working_hours"),
    ('[agent]\naddress = "h:1"\nworking_days = ["Monday"]\n', "working_days"),
    ('[agent]\naddress = "h:1"\ncores = "most"\n', "cores"),
    ('[agent]\naddress = "h:1"\nidel_minutes = 5\n', "unknown keys ['idel_minutes']"),
    ('[agent]\naddress = "h:1"\nmax_foreign_load = 2\nleave_foreign_load = 1\n', "flap"),
    ("[agent\n", "agent.toml"),
    ('address = "h:1"\n', "no [agent] table"),
])
def test_bad_policy_is_one_line_and_exit_2(tmp_path: Path, body: str, message: str) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(body)
    proc = subprocess.run([*AGENT, "--config", str(config), "--once"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_example_policy_loads() -> None:
    policy = agent.load_policy(str(REPO / "cluster" / "agent.toml"))
    assert policy.idle_minutes == 10 and policy.cores == "total-1" and policy.working_days[0] == "Mon"


def test_idle_file_mtime_is_the_last_activity(tmp_path: Path) -> None:
    touched = tmp_path / "activity"
    policy = Policy(address="h:1", idle_file=str(touched))
    assert agent.idle_seconds(policy, time.time()) == float("inf")  # never touched: idle
    touched.touch()
    os.utime(touched, (time.time() - 90, time.time() - 90))
    assert 89 <= agent.idle_seconds(policy, time.time()) <= 92


def test_once_reports_a_decision_from_real_measurements(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(f'[agent]\naddress = "h:1"\nidle_file = "{tmp_path / "none"}"\nmax_foreign_load = 64\n'
                      f'leave_foreign_load = 64\nworking_hours = ""\n')
    proc = subprocess.run([*AGENT, "--config", str(config), "--once"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "agent: would join (idle inf min" in proc.stdout, proc.stdout + proc.stderr


def test_ray_processes_are_told_from_the_owners() -> None:
    """A busy process counts as the owner's load; one niced to 19 running ray (a trial) does not."""
    spin = "import time\nt = time.time()\nwhile time.time() - t < 3: pass"
    owner = subprocess.Popen([sys.executable, "-c", spin])
    trial = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", spin, "ray::train_trial"])
    time.sleep(1)
    first = agent.processes()
    time.sleep(1)
    second = agent.processes()
    owner.wait(timeout=30), trial.wait(timeout=30)
    assert second[owner.pid][1] is False and second[trial.pid][1] is True
    assert second[owner.pid][0] > first[owner.pid][0]  # its CPU time grows, so foreign_load sees it
    assert agent.foreign_jiffies(second, first) >= second[owner.pid][0] - first[owner.pid][0] > 0
    # a trial renamed as it exits adds what it used since the last reading, not its whole life
    renamed = {**second, trial.pid: (second[trial.pid][0] + 5, False)}
    assert agent.foreign_jiffies(renamed, second) == agent.foreign_jiffies(second, second) + 5

#!/usr/bin/env python3
"""The office-machine agent: lend this PC to the sonovis cluster while its owner is away.

    python3 cluster/agent.py --config cluster/agent.toml [--once]

Every few seconds it measures how long the owner has been idle (logind's session idle
hints, or the mtime of an ``idle_file``) and how much CPU processes other than Ray's use,
and asks ``decide`` what to do: join with ``join-worker.sh`` (token and version check
included) after enough idle minutes outside working hours, or leave with
``leave-worker.sh`` as soon as the owner is back. Stdlib only, no Ray import: it must run
with the system Python and never hold the machine's memory while the owner works.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

HERE = Path(__file__).resolve().parent
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
UNITS = {"": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
LEAVE_MARGIN_S = 2.0  # of the leave deadline, kept for Ray's processes to exit after the drain


class PolicyError(ValueError):
    """A policy a person wrote wrongly: reported as one line, exit 2."""


@dataclass(frozen=True)
class Policy:
    address: str  # the head, HOST:PORT
    versions: str = ""  # start-head.sh's versions string; empty skips the check
    ip: str = ""  # this machine's address as the cluster sees it (join-worker.sh --ip)
    idle_minutes: float = 10.0  # owner idle this long before the machine joins
    cores: str | int = "total-1"  # CPUs offered: a number, or "total-N"
    memory: str | int = "total-2GiB"  # bytes offered to trials: a number or "4GiB", or "total-SIZE"
    working_hours: str = ""  # "08:00-18:00": never joined then (empty: any time)
    working_days: tuple[str, ...] = DAYS[:5]  # the days working_hours applies to
    max_foreign_load: float = 0.5  # cores used by non-Ray processes above which it does not join ...
    leave_foreign_load: float = 1.5  # ... and above which it leaves (higher: no flapping)
    rejoin_after_s: float = 120.0  # after a leave or a failed join, wait this long before joining again
    leave_within_s: float = 30.0  # owner activity -> this machine's CPUs free again
    poll_s: float = 5.0  # how often it looks; at most 5 s so the owner waits at most one poll
    idle_file: str = ""  # if set, its mtime is the owner's last activity (instead of logind)

    def __post_init__(self) -> None:
        if not self.address:
            raise PolicyError("address: the head's HOST:PORT is required")
        if not 0 < self.poll_s <= 5:
            raise PolicyError(f"poll_s: must be in (0, 5] seconds so the owner's return is seen quickly, got {self.poll_s}")
        if self.leave_within_s < self.poll_s + LEAVE_MARGIN_S + 1:
            raise PolicyError(f"leave_within_s: must leave time for one poll and the drain, got {self.leave_within_s}")
        if self.leave_foreign_load < self.max_foreign_load:
            raise PolicyError("leave_foreign_load: must be at least max_foreign_load, or the agent would flap")
        if bad := [d for d in self.working_days if d not in DAYS]:
            raise PolicyError(f"working_days: {bad} are not among {list(DAYS)}")
        hours(self.working_hours)
        amount(self.cores, 64, "cores")
        amount(self.memory, 2**40, "memory")


@dataclass
class State:
    """What the agent knows at one poll; ``decide`` reads it and the loop updates it."""

    idle_s: float  # seconds since the owner's last activity
    foreign_load: float  # cores busy with processes other than Ray's, since the last poll
    joined_at: float | None = None  # when this machine joined; None while it is out
    out_since: float | None = None  # last leave or failed join, for rejoin_after_s


@dataclass(frozen=True)
class Action:
    verb: str  # "join" | "leave" | "stay"
    reason: str
    grace_s: float = 0.0  # for "leave": how long leave-worker.sh may drain, within the deadline


def hours(spec: str) -> tuple[dt.time, dt.time] | None:
    """'08:00-18:00' as two times; empty is no working hours."""
    if not spec:
        return None
    try:
        start, end = (dt.time.fromisoformat(part.strip()) for part in spec.split("-"))
    except ValueError:
        raise PolicyError(f"working_hours: expected 'HH:MM-HH:MM', got {spec!r}") from None
    return start, end


def amount(spec: str | int, total: int, name: str) -> int:
    """A number, 'total-N' or a size like '4GiB' / 'total-2GiB', against this machine's ``total``."""
    if isinstance(spec, int) and not isinstance(spec, bool):
        value = spec
    elif isinstance(spec, str):
        text = spec.replace(" ", "")
        rest = text.removeprefix("total-")
        number = rest.rstrip("KMGTiB")
        unit = rest[len(number):]
        if unit not in UNITS or not number.replace(".", "", 1).isdigit():
            raise PolicyError(f"{name}: expected a number, a size like '4GiB' or 'total-N', got {spec!r}")
        value = int(float(number) * UNITS[unit])
        if text.startswith("total-"):
            value = total - value
    else:
        raise PolicyError(f"{name}: expected a number or a string, got {spec!r}")
    if value < 1:
        raise PolicyError(f"{name}: {spec!r} leaves nothing to offer on this machine (total {total})")
    return min(value, total)


def working_now(policy: Policy, now: dt.datetime) -> bool:
    span = hours(policy.working_hours)
    if span is None or DAYS[now.weekday()] not in policy.working_days:
        return False
    start, end = span
    t = now.time()
    return start <= t < end if start <= end else (t >= start or t < end)  # a span past midnight too


def decide(state: State, policy: Policy, now: dt.datetime) -> Action:
    """The whole policy: join, leave or stay, with the reason a person reads in the log."""
    clock = now.timestamp()
    idle_min = state.idle_s / 60
    if state.joined_at is not None:
        if state.idle_s < clock - state.joined_at:  # activity since the join: the owner is back
            grace = policy.leave_within_s - state.idle_s - LEAVE_MARGIN_S  # the deadline runs from the activity
            return Action("leave", f"owner active {state.idle_s:.0f} s ago", max(1.0, grace))
        if working_now(policy, now):
            return Action("leave", f"working hours {policy.working_hours}", policy.leave_within_s - LEAVE_MARGIN_S)
        if state.foreign_load > policy.leave_foreign_load:
            return Action("leave", f"other programs use {state.foreign_load:.1f} cores",
                          policy.leave_within_s - LEAVE_MARGIN_S)
        return Action("stay", "lent")
    if working_now(policy, now):
        return Action("stay", "working hours")
    if idle_min < policy.idle_minutes:
        return Action("stay", f"owner idle {idle_min:.1f} of {policy.idle_minutes:g} min")
    if state.foreign_load > policy.max_foreign_load:
        return Action("stay", f"other programs use {state.foreign_load:.1f} cores")
    if state.out_since is not None and clock - state.out_since < policy.rejoin_after_s:
        return Action("stay", f"left {clock - state.out_since:.0f} s ago")
    return Action("join", f"idle {idle_min:.0f} min, load {state.foreign_load:.1f}")


# --- measuring the machine --------------------------------------------------------------------


def idle_seconds(policy: Policy, now: float) -> float:
    """Seconds since the owner last used the machine: the idle file, else the least idle logind session."""
    if policy.idle_file:
        try:
            return max(0.0, now - os.stat(policy.idle_file).st_mtime)
        except FileNotFoundError:
            return float("inf")  # no activity recorded yet
    listing = run(["loginctl", "list-sessions", "--no-legend"])
    idle = float("inf")  # nobody logged in: the machine is free
    for line in listing.splitlines():
        if not line.split():
            continue
        props = dict(kv.split("=", 1) for kv in run(["loginctl", "show-session", line.split()[0],
                                                    "-p", "IdleHint", "-p", "IdleSinceHint"]).split())
        if props.get("IdleHint") != "yes":
            return 0.0  # someone is using this session now
        since = int(props.get("IdleSinceHint", "0")) / 1e6  # microseconds since the epoch
        idle = min(idle, now - since if since else float("inf"))
    return idle


def run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def processes() -> dict[int, tuple[int, bool]]:
    """Each live process's CPU time so far (jiffies), and whether it is this cluster's Ray.

    Ray's processes are those niced to 19 (join-worker.sh starts Ray so, and every trial
    inherits it) whose command line names ray: raylet, gcs_server, ``ray::`` workers.
    """
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue  # the process ended while we looked
        rest = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state is rest[0]
        utime, stime, nice = int(rest[11]), int(rest[12]), int(rest[16])
        table[int(entry.name)] = (utime + stime, nice >= 19 and b"ray" in cmdline)
    return table


def foreign_jiffies(now: dict[int, tuple[int, bool]], before: dict[int, tuple[int, bool]]) -> int:
    """CPU time processes other than Ray's and this agent used between two ``processes()`` readings.

    Per process: a long-lived Ray worker that stops looking like Ray (renamed as it exits) adds only
    what it used since the last reading, not its whole life; a new process (or a reused pid) adds all.
    """
    used = 0
    for pid, (jiffies, ours) in now.items():
        if ours or pid == os.getpid():
            continue
        earlier = before.get(pid, (0, False))[0]
        used += jiffies - earlier if jiffies >= earlier else jiffies
    return used


def machine_totals() -> tuple[int, int]:
    """This machine's CPUs and memory in bytes."""
    meminfo = Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()
    return os.cpu_count() or 1, int(meminfo[0]) * 1024


# --- the loop ---------------------------------------------------------------------------------


@dataclass
class Agent:
    policy: Policy
    state: State = field(default_factory=lambda: State(idle_s=0.0, foreign_load=0.0))
    last: tuple[float, dict[int, tuple[int, bool]]] | None = None  # (time, processes()) at the previous poll

    def measure(self) -> None:
        now, table = time.time(), processes()
        if self.last:
            used = foreign_jiffies(table, self.last[1]) / os.sysconf("SC_CLK_TCK")
            self.state.foreign_load = used / max(now - self.last[0], 1e-3)
        self.last = (now, table)
        self.state.idle_s = idle_seconds(self.policy, now)

    def step(self) -> Action:
        self.measure()
        action = decide(self.state, self.policy, dt.datetime.now())
        if action.verb == "join":
            self.join(action)
        elif action.verb == "leave":
            self.leave(action)
        return action

    def join(self, action: Action) -> None:
        cpus, memory = machine_totals()
        cores, offered = amount(self.policy.cores, cpus, "cores"), amount(self.policy.memory, memory, "memory")
        cmd = [str(HERE / "join-worker.sh"), "--address", self.policy.address,
               "--num-cpus", str(cores), "--memory", str(offered)]
        cmd += ["--versions", self.policy.versions] if self.policy.versions else []
        cmd += ["--ip", self.policy.ip] if self.policy.ip else []
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0:
            self.state.joined_at = time.time()
            log(f"joined ({action.reason}, offering {cores} cores, {offered / 2**30:.1f} GiB)")
        else:
            self.state.out_since = time.time()
            why = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            log(f"join failed, retrying in {self.policy.rejoin_after_s:g} s: {why}")

    def leave(self, action: Action) -> None:
        log(f"leaving ({action.reason})")  # Ray's processes already run at nice 19: the drain comes first
        t0 = time.time()
        proc = subprocess.run([str(HERE / "leave-worker.sh"), "--grace", str(int(action.grace_s))],
                              capture_output=True, text=True)
        self.state.joined_at, self.state.out_since = None, time.time()
        status = "" if proc.returncode == 0 else f", leave-worker.sh exit {proc.returncode}"
        freed = re.search(r"CPUs free ([\d.]+) s", proc.stdout)
        cpus = f", trials' CPUs free after {freed.group(1)} s" if freed else ""
        log(f"left in {time.time() - t0:.1f} s{cpus}{status}")


def log(message: str) -> None:
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M:%S} agent: {message}", flush=True)


def load_policy(path: str) -> Policy:
    """The [agent] table of a TOML file as a Policy; any mistake is a PolicyError with one line."""
    try:
        table = tomllib.loads(Path(path).read_text()).get("agent")
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise PolicyError(f"{path}: {err}") from None
    if not isinstance(table, dict):
        raise PolicyError(f"{path}: no [agent] table")
    known = {f.name for f in fields(Policy)}
    if unknown := sorted(set(table) - set(known)):
        raise PolicyError(f"{path}: unknown keys {unknown}; known: {sorted(known)}")
    if "working_days" in table:
        table["working_days"] = tuple(table["working_days"])
    try:
        return Policy(**table)
    except TypeError as err:
        raise PolicyError(f"{path}: {err}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(HERE / "agent.toml"))
    parser.add_argument("--once", action="store_true", help="one poll, print the decision, change nothing")
    args = parser.parse_args(argv)
    try:
        policy = load_policy(args.config)
    except PolicyError as err:
        print(f"agent: bad policy: {err}", file=sys.stderr)
        return 2
    agent = Agent(policy)
    if args.once:
        agent.measure()
        time.sleep(1)
        agent.measure()
        action = decide(agent.state, policy, dt.datetime.now())
        log(f"would {action.verb} ({action.reason}; idle {agent.state.idle_s:.0f} s, load {agent.state.foreign_load:.2f})")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # systemctl stop: leave first, in `finally`
    log(f"watching (join after {policy.idle_minutes:g} idle min, head {policy.address})")
    try:
        while True:
            agent.step()
            time.sleep(policy.poll_s)
    except KeyboardInterrupt:
        return 0
    finally:
        if agent.state.joined_at is not None:  # stopping the agent gives the machine back too
            agent.leave(Action("leave", "agent stopped", policy.leave_within_s - LEAVE_MARGIN_S))


if __name__ == "__main__":
    sys.exit(main())

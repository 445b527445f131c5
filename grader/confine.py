"""OS-level confinement of the worker: resource limits, an unprivileged user, hidden paths,
and the sweep that leaves no process behind.

Everything here is Linux-first and degrades to what the platform offers; ``describe()``
says what was actually in force, and the report names it.

The worker applies its own limits (``apply_in_worker``) after reading the learner's files
and before importing anything of the learner's, so no ``preexec_fn`` runs in a threaded
parent. The parent makes itself a child subreaper (``become_subreaper``) so that a daemon
the learner detaches with a new session is reparented to the grader and can be found and
killed (``sweep``) when the worker ends.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import time

NOBODY = 65534
_PR_SET_CHILD_SUBREAPER = 36
_CLONE_NEWNS = 0x00020000
_CLONE_NEWNET = 0x40000000
_MS_REC, _MS_PRIVATE = 0x4000, 1 << 18

# Calibrated on a 2-core CPU machine: a JAX worker that has compiled a few programs has
# ~1.5 GiB of virtual address space (VmPeak), 17 threads, and fewer than 10 open files.
DEFAULT_LIMITS = {
    "RLIMIT_AS": 6 << 30,
    "RLIMIT_CPU": 600,
    "RLIMIT_FSIZE": 64 << 20,
    "RLIMIT_NOFILE": 256,
    "RLIMIT_CORE": 0,
}
EXTRA_PROCESSES = 128  # threads and processes beyond what the worker's runtime needs
# Run as root, each worker becomes a user of its own (OWN_UIDS + a number no live worker
# holds): RLIMIT_NPROC then counts that worker's threads and processes only, so a fork bomb
# can neither borrow from nor starve the workers grading beside it, and the limit is the
# same number on every run. Where the uid range is not mapped (some containers), every
# worker runs as ``nobody`` and the limit is counted from what ``nobody`` already runs.
OWN_UIDS = 0x40000000
_next_uid = [0]


def _libc():
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None


def become_subreaper() -> bool:
    """Orphaned descendants get reparented to this process instead of init."""
    if not sys.platform.startswith("linux"):
        return False
    libc = _libc()
    return bool(libc) and libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _user_tasks(uid: int) -> int:
    """Processes plus threads that ``uid`` runs now (what RLIMIT_NPROC counts)."""
    n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                n += int(fields["Threads"])
        except (OSError, KeyError, ValueError):
            continue
    return n


def _uid_mapped(uid: int) -> bool:
    """Whether ``uid`` exists in this process's user namespace."""
    try:
        with open("/proc/self/uid_map") as fh:
            for line in fh:
                inside, _, count = (int(x) for x in line.split())
                if inside <= uid < inside + count:
                    return True
    except (OSError, ValueError):
        pass
    return False


def plan(*, instructor: bool, hide: list[str]) -> dict:
    """What the workers should do to themselves; decided in the parent, applied in each
    worker (``for_worker`` gives a worker its own copy)."""
    root = os.geteuid() == 0
    own = (root and sys.platform.startswith("linux") and _uid_mapped(OWN_UIDS)
           and _uid_mapped(OWN_UIDS + (1 << 30) - 1))
    return {
        "limits": dict(DEFAULT_LIMITS),
        "run_as": NOBODY if root else None,
        "own_uid": own,
        "hide": hide if instructor and root else [],
    }


def for_worker(plan_: dict) -> dict:
    """The plan for one new worker: with ``own_uid``, a uid no live worker holds (this
    process's pid and a counter; pids are unique among live processes)."""
    cfg = dict(plan_)
    if cfg.get("own_uid"):
        _next_uid[0] = (_next_uid[0] + 1) & 0xFF
        cfg["run_as"] = OWN_UIDS + (((os.getpid() & 0x3FFFFF) << 8) | _next_uid[0])
    return cfg


def _nproc_limit(cfg: dict) -> tuple[int, str]:
    """RLIMIT_NPROC for this worker and how the report names it."""
    room = EXTRA_PROCESSES + 4 * (os.cpu_count() or 1)  # XLA sizes its pools by cores
    if cfg.get("own_uid") and cfg.get("run_as") is not None:
        return room, f"nproc={room}"
    uid = cfg.get("run_as")
    uid = os.geteuid() if uid is None else uid
    return _user_tasks(uid) + room, f"nproc=+{room}"


def apply_in_worker(cfg: dict) -> list[str]:
    """Applied by the worker to itself, in this order; returns what is in force."""
    import resource

    done = []
    hide = cfg.get("hide") or []
    if hide:
        done += _hide(hide)
    limits = dict(cfg.get("limits") or {})
    names = {}
    if sys.platform.startswith("linux"):
        limits["RLIMIT_NPROC"], names["RLIMIT_NPROC"] = _nproc_limit(cfg)
    for name, value in limits.items():
        res = getattr(resource, name, None)
        if res is None:
            continue
        soft, hard = resource.getrlimit(res)
        cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
        try:
            resource.setrlimit(res, (cap, cap))
            shown = names.get(name) if cap == value else None
            done.append(shown or f"{name.removeprefix('RLIMIT_').lower()}={cap}")
        except (ValueError, OSError):
            pass
    run_as = cfg.get("run_as")
    if run_as is not None and os.geteuid() == 0:
        for path in {os.environ.get("HOME"), os.environ.get("TMPDIR")} - {None}:
            try:
                os.chown(path, run_as, run_as)  # the worker's scratch home is its own
            except OSError:
                pass
        done.append(_drop_to(run_as, "own" if cfg.get("own_uid") else None))
    if become_subreaper():
        done.append("reaps-forks")
    # after the last credential change, which clears it: die with the grader
    if die_with_parent(cfg.get("parent")):
        done.append("dies-with-grader")
    return done


_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None) -> bool:
    """SIGKILL this process when its parent dies (Linux), and leave at once if the parent
    is already gone. A watchdog thread covers what the signal cannot: it also kills the
    process group (what the learner forked) when the parent changes."""
    import threading

    ok = False
    if sys.platform.startswith("linux"):
        libc = _libc()
        ok = bool(libc) and libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    if parent is not None and os.getppid() != parent:
        os._exit(70)

    def watch():
        while os.getppid() == parent:
            time.sleep(0.25)
        try:
            os.killpg(0, signal.SIGKILL)
        finally:
            os._exit(70)

    if parent is not None:
        threading.Thread(target=watch, daemon=True, name="grader-watchdog").start()
    return ok


_PR_SET_KEEPCAPS = 8
_CAP_DAC_READ_SEARCH = 2
_CAP_V3 = 0x20080522


def _drop_to(uid: int, shown: str | None = None) -> str:
    """Becomes ``uid`` keeping only CAP_DAC_READ_SEARCH: the worker can still read the
    Python installation wherever it lives (even under /root), but it writes nothing it does
    not own, and RLIMIT_NPROC, which never binds root, now binds it."""
    libc = _libc()
    keep = libc is not None and libc.prctl(_PR_SET_KEEPCAPS, 1, 0, 0, 0) == 0
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    shown = shown or str(uid)
    if not keep:
        return f"uid={shown}"

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    bit = 1 << _CAP_DAC_READ_SEARCH
    data = (Data * 2)(Data(bit, bit, 0), Data(0, 0, 0))
    ok = libc.capset(ctypes.byref(Header(_CAP_V3, 0)), data) == 0
    return f"uid={shown}" + ("+read" if ok else "")


def _hide(paths: list[str]) -> list[str]:
    """A private mount namespace with empty tmpfs over each path, and a network namespace
    with nothing in it (root only)."""
    libc = _libc()
    if libc is None or libc.unshare(_CLONE_NEWNS) != 0:
        return ["hide=unavailable"]
    net = libc.unshare(_CLONE_NEWNET) == 0
    libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None)
    hidden = []
    for p in paths:
        if os.path.isdir(p) and libc.mount(b"tmpfs", p.encode(), b"tmpfs", 0, b"size=1m") == 0:
            hidden.append(os.path.basename(p))
    out = [f"hidden={','.join(hidden)}"] if hidden else ["hide=unavailable"]
    return out + (["network=none"] if net else [])


def _proc_stat(pid: int):
    """(ppid, pgrp, session, starttime) of a process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    rest = data[data.rfind(")") + 2 :].split()
    try:
        return int(rest[1]), int(rest[2]), int(rest[3]), int(rest[19])
    except (IndexError, ValueError):
        return None


def _kill(pids, killed: set) -> None:
    """SIGKILL each pid; those that could be signalled go into ``killed``."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        except OSError:
            pass


def sweep(worker_pid: int, started_after: int | None = None, rounds: int = 20,
          spare: frozenset = frozenset()) -> int:
    """Kills every process left from a worker: its session, its process group, and orphans
    reparented to this (subreaper) process since the worker started, except the ``spare``
    pids (other workers of this process, running alongside). Returns how many."""
    if not os.path.isdir("/proc"):
        try:
            os.killpg(worker_pid, signal.SIGKILL)
        except OSError:
            pass
        return 0
    me, killed = os.getpid(), set()
    for _ in range(rounds):
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) in (me,):
                continue
            pid = int(name)
            st = _proc_stat(pid)
            if st is None:
                continue
            ppid, pgrp, sid, start = st
            ours = sid == worker_pid or pgrp == worker_pid or pid == worker_pid
            orphan = (ppid == me and started_after is not None and start >= started_after
                      and pid not in spare)
            if ours or orphan:
                found.append(pid)
        if not found:
            break
        _kill(found, killed)
        for pid in found:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        time.sleep(0.01)
    for pid in killed:  # reap the ones that became our children
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    return len(killed - {worker_pid})


def reap_forks(rounds: int = 50) -> int:
    """Called by the worker between checks once the learner's code has forked: kills every
    process of its own process group and every child (the worker is a subreaper, so what a
    killed fork left behind becomes its child), and reaps them, so that they stop counting
    against RLIMIT_NPROC before the grader's own code needs a thread. Returns how many."""
    if not os.path.isdir("/proc"):
        return 0
    me, group, killed = os.getpid(), os.getpgrp(), set()
    for _ in range(rounds):
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            st = _proc_stat(int(name))
            if st is not None and (st[1] == group or st[0] == me):
                found.append(int(name))
        _kill(found, killed)
        while True:  # zombies count against the limit until reaped
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if not found:
            break
        time.sleep(0.002)
    return len(killed)


def start_ticks() -> int | None:
    """This moment in /proc's starttime units (clock ticks since boot)."""
    try:
        with open("/proc/uptime") as fh:
            up = float(fh.read().split()[0])
        return int(up * os.sysconf("SC_CLK_TCK")) - 1
    except (OSError, ValueError):
        return None


def describe(applied: list[str]) -> str:
    return ", ".join(applied) if applied else "none"

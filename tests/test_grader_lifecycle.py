"""The grader as a learner and a CI runner meet it: a hang costs one task, no worker outlives
the grader, what the learner prints is shown, one mistake reads as one message, and the
command line takes what newcomers type."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.grading import ROOT, live_processes, make_submission

pytestmark = pytest.mark.worker

HANG_SOFTMAX = """
import time

def softmax(x, axis=-1):
    time.sleep(10**6)
"""
ENDLESS_RELU = """
def relu(x):
    while True:
        pass
"""
IGNORES_SIGTERM = """
import signal

def relu(x):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    n = 0
    while True:
        n += 1
"""
FORK_BOMB = """
import os

def relu(x):
    while True:
        os.fork()
"""
PRINTS = """
def relu(x):
    print("relu sees shape", x.shape)
    return _original_relu(x)
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("lifecycle-cache"))


def _grader(*args, tmp=None, cwd=ROOT, **kw):
    env = dict(os.environ)
    if tmp is not None:
        env["TMPDIR"] = str(tmp)  # the worker's scratch home lives here: we can find it
    return subprocess.Popen(
        [sys.executable, "-m", "grader", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _workers_under(tmp: Path) -> list[int]:
    """Live processes whose working folder is under ``tmp`` (the worker and its children)."""
    return [p.pid for p in live_processes() if p.cwd.startswith(str(tmp))]


def _fork_servers_of(pid: int) -> list[int]:
    """The fork server(s) a grader process started (its children running forkserver.py)."""
    return [p.pid for p in live_processes()
            if p.ppid == pid and b"grader/forkserver.py" in p.cmdline]


def _alive(pids: list[int]) -> list[int]:
    return [p.pid for p in live_processes() if p.pid in pids]


@pytest.mark.parametrize(
    "code, task", [(HANG_SOFTMAX, "softmax"), (ENDLESS_RELU, "relu"), (IGNORES_SIGTERM, "relu")]
)
def test_a_hanging_task_costs_its_own_checks_once(code, task, tmp_path, cache):
    folder = make_submission(tmp_path, "q10", [code])
    t0 = time.monotonic()
    proc = _grader(str(folder), "--format", "json", "--cache-dir", cache, tmp=tmp_path)
    out, err = proc.communicate(timeout=240)
    seconds = time.monotonic() - t0
    doc = json.loads(out)
    mine = [t for t in doc["tests"] if t["task"] == task]
    others = [t for t in doc["tests"] if t["task"] != task]
    assert {t["grader_status"] for t in mine} == {"timeout"}
    assert sum("no result within" in t["output"] for t in mine) == 1  # detected once
    assert all(t["grader_status"] == "pass" for t in others), [
        (t["name"], t["output"]) for t in others if t["grader_status"] != "pass"
    ]
    assert doc["score"] == sum(t["max_score"] for t in others) > 0
    assert seconds < 90, f"one hanging task took {seconds:.0f} s"
    assert _workers_under(tmp_path) == []


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_no_worker_outlives_the_grader(how, tmp_path, cache):
    folder = make_submission(tmp_path, "q10", [ENDLESS_RELU])
    proc = _grader(str(folder), "--cache-dir", cache, tmp=tmp_path)
    deadline = time.monotonic() + 60
    while not _workers_under(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _workers_under(tmp_path), "the worker never started"
    time.sleep(3)  # well inside grading: the worker is busy in the endless loop
    servers = _fork_servers_of(proc.pid)
    assert servers, "the worker was not forked by a fork server"
    proc.send_signal(how)
    out, _ = proc.communicate(timeout=30)
    deadline = time.monotonic() + 5
    while (_workers_under(tmp_path) or _alive(servers)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _workers_under(tmp_path) == []
    assert _alive(servers) == [], "the grader's fork server outlived it"
    if how == signal.SIGTERM:  # the results found so far, marked incomplete
        assert "INCOMPLETE" in out and "score" in out
        assert proc.returncode == 1


def test_a_fork_bomb_costs_its_own_checks_and_starves_no_one(tmp_path, cache):
    """Graded beside an honest submission (as an instructor's --jobs would): the bomb's checks
    fail with the error the learner caused (not a crash of the grader's own threads), its
    processes are killed, the other grading loses nothing, and nothing is left behind."""
    bomb = make_submission(tmp_path / "bomb", "q10", [FORK_BOMB])
    args = ("--task", "relu", "--format", "json", "--cache-dir", cache)
    honest = _grader(str(ROOT / "solutions" / "q10"), *args, tmp=tmp_path)
    attack = _grader(str(bomb), *args, tmp=tmp_path)
    docs = [json.loads(p.communicate(timeout=180)[0]) for p in (honest, attack)]
    assert docs[0]["score"] == docs[0]["max_score"] > 0
    statuses = [t["grader_status"] for t in docs[1]["tests"]]
    assert "error" in statuses and set(statuses) <= {"error"}, statuses
    assert any("too many processes" in t["output"] for t in docs[1]["tests"])
    assert any("killed" in n for n in docs[1]["submissions"][0]["notes"])
    assert _workers_under(tmp_path) == []


def test_what_a_task_prints_is_shown_under_it(tmp_path, cache):
    folder = make_submission(tmp_path, "q10", [PRINTS])
    proc = _grader(str(folder), "--task", "relu", "--cache-dir", cache)
    out, _ = proc.communicate(timeout=120)
    assert "relu printed:" in out and "| relu sees shape" in out
    proc = _grader(str(folder), "--task", "relu", "--format", "json", "--cache-dir", cache)
    doc = json.loads(proc.communicate(timeout=120)[0])
    assert "[relu printed]" in doc["output"] and "relu sees shape" in doc["output"]


def test_a_syntax_error_is_reported_once(tmp_path, cache):
    folder = make_submission(tmp_path, "q10", [])
    path = folder / "activations.py"
    path.write_text(path.read_text().replace("def relu(x", "def relu(x,,", 1))
    out, _ = _grader(str(folder), "--cache-dir", cache).communicate(timeout=120)
    assert out.count("syntax error") == 1, out
    assert "all 48 checks" in out


def test_newcomer_targets_and_options(tmp_path, cache):
    folder = make_submission(tmp_path, "q10", [])
    for args, cwd in [((".",), folder), (("activations.py",), folder)]:
        proc = _grader(*args, "--task", "relu", "--cache-dir", cache, cwd=cwd)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
    other = tmp_path / "my-work"
    folder.rename(other)
    proc = _grader(str(other), "--exercise", "q10", "--task", "relu", "--cache-dir", cache)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    proc = _grader("q10", "--salt", "s3cret")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--salt only applies with --instructor" in err
    import jax

    if not any(d.platform == "gpu" for d in jax.devices()):
        proc = _grader("q10", "--device", "gpu")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 2 and len(err.strip().splitlines()) == 1
        assert "jax[cuda12]" in err and "Traceback" not in err


INSPECTS_ITSELF = """
import os

def _facts():
    fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
    return {"fds": len(fds) - 1,  # less the one listdir holds open
            "own_session": os.getsid(0) == os.getpid(),
            "uid_dropped": os.getuid() != 0 or os.geteuid() != 0,
            "env": sorted(os.environ)}

print("FACTS", _facts())

def relu(x):
    return _original_relu(x)
"""


def _facts_seen(server: str, tmp_path, cache) -> tuple[dict, str]:
    folder = make_submission(tmp_path / server, "q10", [INSPECTS_ITSELF])
    env = {**os.environ, "DLCORE_GRADER_FORKSERVER": server}
    proc = subprocess.run(
        [sys.executable, "-m", "grader", str(folder), "--task", "relu", "--format", "json",
         "--cache-dir", cache, "--instructor", "--salt", "s"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    doc = json.loads(proc.stdout)
    assert doc["score"] == doc["max_score"] > 0, proc.stdout[-2000:]
    facts = eval(doc["output"].split("FACTS ", 1)[1].splitlines()[0])  # noqa: S307 - ours
    return facts, doc["confinement"][0]


def test_a_forked_worker_is_as_bare_as_a_spawned_one(tmp_path, cache):
    """What learner code sees of its process, whether the worker was forked by the fork
    server (the default) or spawned (DLCORE_GRADER_FORKSERVER=0): the same, and bare: only
    its stdio and its two pipes open (never the server's control socket), a session of its
    own, the worker's environment only, the same confinement."""
    _facts_seen("1", tmp_path, cache)  # the caches' folders exist from now on (and are hidden)
    forked, confined = _facts_seen("1", tmp_path, cache)
    spawned, confined_spawned = _facts_seen("0", tmp_path, cache)
    assert forked == spawned
    assert confined == confined_spawned
    assert forked["fds"] == 5, forked  # stdin, stdout, stderr, command pipe, result pipe
    assert forked["own_session"]
    if os.geteuid() == 0:
        assert forked["uid_dropped"] and "uid=own" in confined, confined
    worker_env = {"HOME", "LANG", "PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED",
                  "TMPDIR", "JAX_PLATFORMS", "XLA_FLAGS", "TF_CPP_MIN_LOG_LEVEL"}
    assert worker_env <= set(forked["env"]), forked["env"]
    # and what JAX adds to os.environ itself when imported
    assert set(forked["env"]) - worker_env <= {"TPU_SKIP_MDS_QUERY"}, forked["env"]


def _daemons(name: str) -> list[int]:
    return [p.pid for p in live_processes()
            if name.encode() in p.cmdline and b"grader/forkserver.py" in p.cmdline]


REACHES_FOR_THE_DAEMON = """
import socket

def _probe():
    got = {}
    with open("/proc/net/unix") as fh:
        names = [ln.split()[-1][1:] for ln in fh if ln.split()[-1:] and
                 ln.split()[-1].startswith("@dlcore-grader-")]
    for n in names:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.connect(chr(0) + n)
            s.settimeout(5)
            s.send(b"stop")
            got[n] = s.recv(4096)
        except OSError as e:
            got[n] = type(e).__name__
    return got

print("DAEMON PROBE", _probe())

def relu(x):
    return _original_relu(x)
"""


def test_the_learners_daemon_serves_their_next_grading_and_no_one_else(tmp_path):
    """Self-check gradings from the command line share the learner's fork-server daemon:
    the second grading finds the one the first started. It refuses another user, and
    leaves when asked or after its idle time."""
    from grader import forkserver, sandbox

    cache = str(tmp_path / "cache")
    name = sandbox.daemon_name(cache)
    env = {**os.environ, "DLCORE_GRADER_DAEMON": "1", "DLCORE_GRADER_DAEMON_IDLE": "600"}
    args = [sys.executable, "-m", "grader", str(ROOT / "solutions" / "q10"), "--task", "relu",
            "--cache-dir", cache]
    try:
        for _ in range(2):
            proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=180)
            assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
            daemons = _daemons(name)
            assert len(daemons) == 1, daemons  # the first grading started it, the second used it
            if _ == 0:
                first = daemons
        assert daemons == first

        # learner code (another user as root, a descendant of the daemon otherwise) finds the
        # daemon's socket and asks it to stop: the daemon closes the connection unanswered
        folder = make_submission(tmp_path, "q10", [REACHES_FOR_THE_DAEMON])
        proc = subprocess.run([*args[:3], str(folder), *args[4:], "--format", "json"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=180)
        doc = json.loads(proc.stdout)
        probe = eval(doc["output"].split("DAEMON PROBE ", 1)[1].splitlines()[0])  # noqa: S307
        assert name in probe, probe  # it did find the daemon
        assert all(got in (b"", "BrokenPipeError", "ConnectionResetError")
                   for got in probe.values()), probe
        assert _daemons(name) == first  # still there, still the same
        # nor does a process that descends from the daemon (what its workers start)
        assert forkserver._descends_from(os.getpid(), os.getppid())
        assert not forkserver._descends_from(os.getppid(), os.getpid())

        assert sandbox.stop_daemon(name)
        deadline = time.monotonic() + 10
        while _daemons(name) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _daemons(name) == []
        assert not sandbox.stop_daemon(name)  # gone

        # a short idle time: it leaves by itself
        env["DLCORE_GRADER_DAEMON_IDLE"] = "5"
        subprocess.run(args, cwd=ROOT, env=env, capture_output=True, timeout=180, check=True)
        assert _daemons(name)
        deadline = time.monotonic() + 30
        while _daemons(name) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _daemons(name) == []
    finally:
        for pid in _daemons(name):
            os.kill(pid, signal.SIGKILL)

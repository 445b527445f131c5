"""The fork server: a trusted process that has imported NumPy, JAX and the worker's code but
has not started an XLA backend, and forks one worker per request.

Importing JAX is most of a worker's start (about 0.45 s of a 0.5 s start on the 2-core
machine); a grading that needs several workers (a class, the course, a fresh worker after
a hang, a test suite) pays it once per grader process instead of once per worker.

What a forked worker keeps of the spawned one:
- it applies its own confinement (limits, its own user, hidden paths) after the fork and
  before it reads anything of the learner's, exactly as a spawned worker does: the server
  never runs learner code, and no learner code ever runs with the server's privileges;
- nothing of the server reaches it but the modules it imported: every descriptor is closed
  except the worker's own pipes, the environment is replaced, it starts its own session;
- it dies with the server (PR_SET_PDEATHSIG), and the server kills it as soon as the grader
  closes its control connection or dies; the server is a subreaper, so what the worker
  left running comes back to the server and is killed when the worker ends.

Two lives. Private: a grader process starts one for itself (a socketpair is its control
channel) and it leaves with that grader; instructor-mode gradings only ever use these.
Daemon: started the same way by a self-check grading, it also listens on an abstract Unix
socket named after the user, the code, the JAX environment and the cache folder, so the
learner's next grading (a new process) forks its worker from it, and it leaves after a
while without work. It admits only processes of its own user that do not descend from
itself (so no worker, and nothing a worker left, can order workers), and a grader uses a
daemon only when that daemon runs as its own user.

Protocol (each client's control channel is a socketpair or an accepted connection). A
request is the message ``fork`` with five descriptors attached: a per-worker connection, a
pipe the worker reads its configuration from (one JSON line: ``env``, ``home``, ``cfg``),
the worker's command pipe, its result pipe and its output pipe; ``stop`` asks a daemon to
take no more clients. The server answers on the per-worker connection with
``{"pid": N}``, and later ``{"exit": code, "swept": n}`` once the worker is gone (code as
``subprocess`` gives it: negative for a signal). A ``K`` byte on that connection kills the
worker; end of file on it (the grader closed it, or died) does too.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import time

# variables the imports added to the environment (JAX sets some when imported): a spawned
# worker has them once it imported JAX, so a forked one gets them back after its own env
_IMPORTS_SET: dict[str, str] = {}


def _preload() -> None:
    """What every worker imports before it reads the learner's files: imported once, here.
    None of it may start an XLA backend (checked), or forking would copy its threads."""
    import jax
    import jax.numpy  # noqa: F401
    import numpy  # noqa: F401
    from jax._src import xla_bridge

    from grader import (  # noqa: F401
        checks,
        confine,
        execute,
        forbidden,
        hints,
        jaxconfig,
        profile,
        protocol,
        spec,
        wire,
        worker,
    )

    if getattr(xla_bridge, "_backends", None):
        raise RuntimeError("an XLA backend started in the fork server")
    del jax


class _Child:
    def __init__(self, pid: int, conn: socket.socket, started: int | None):
        self.pid, self.conn, self.started = pid, conn, started
        self.status: int | None = None


def serve(first: socket.socket, listener: socket.socket | None = None,
          idle: float = 0.0) -> None:
    """Serves ``first`` (the grader that started this process) and, as a daemon (with a
    ``listener``), the graders that connect later, until ``idle`` seconds pass with no
    client and no worker. Without a listener it leaves when ``first`` does."""
    from grader import confine

    # what a worker detaches comes back here, to be killed. (No PR_SET_PDEATHSIG: it fires
    # when the grader's *thread* that started this process ends; the end of the control
    # socket says reliably that the grader is gone.)
    confine.become_subreaper()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: dict[int, _Child] = {}
    clients = [first]
    quiet_since = time.monotonic()
    try:
        while True:
            watched = [wake_r, *clients] + [c.conn for c in children.values()]
            ready, _, _ = select.select(watched + ([listener] if listener else []), [], [],
                                        1.0)
            if listener is not None and listener in ready:
                conn = _admit(listener)
                if conn is not None:
                    clients.append(conn)
            for ctl in [c for c in clients if c in ready]:
                answer = _request(ctl, children)
                if answer == "stop" and listener is not None:
                    listener.close()
                    listener = None
                if not answer:
                    clients.remove(ctl)
                    ctl.close()
            if wake_r in ready:
                os.read(wake_r, 4096)
            for child in list(children.values()):
                if child.conn in ready:
                    _control(child)
            _reap(children)
            if clients or children:
                quiet_since = time.monotonic()
            elif listener is None or time.monotonic() - quiet_since > idle:
                return
    finally:
        for child in children.values():
            _kill(child)
        _reap(children, block=True)


def _admit(listener: socket.socket) -> socket.socket | None:
    """A grader connecting to the daemon: only one of this user's own processes, and never
    one that descends from this server (a worker, or what a worker left behind, which this
    subreaper inherited): learner code must not order workers of its own making."""
    try:
        conn, _ = listener.accept()  # non-blocking: a caller gone meanwhile costs nothing
        conn.setblocking(True)
        pid, uid, _ = _peer(conn)
    except OSError:
        return None
    if uid != os.getuid() or _descends_from(pid, os.getpid()):
        conn.close()
        return None
    _send(conn, {"ready": True})
    return conn


def _peer(conn: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket."""
    import struct

    size = struct.calcsize("3i")
    return struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, size))


def _descends_from(pid: int, ancestor: int) -> bool:
    for _ in range(256):
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
        try:
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return True  # cannot tell: refuse
    return True


def _request(ctl: socket.socket, children: dict):
    """One message from a client: ``fork`` (with five descriptors) forks a worker, ``stop``
    asks a daemon to stop taking clients; false when the client is gone."""
    try:
        data, fds, _, _ = socket.recv_fds(ctl, 64, 5)
    except OSError:
        return False
    if not data:
        return False
    if data == b"stop":
        for fd in fds:
            os.close(fd)
        _send(ctl, {"stopping": True})
        return "stop"
    if data != b"fork" or len(fds) != 5:
        for fd in fds:
            os.close(fd)
        return True
    conn = socket.socket(fileno=fds[0])
    started = _ticks()
    pid = os.fork()
    if pid == 0:
        _become_worker(*fds[1:])  # never returns
    for fd in fds[1:]:
        os.close(fd)
    children[pid] = _Child(pid, conn, started)
    _send(conn, {"pid": pid})
    return True


def _control(child: _Child) -> None:
    """A byte from the grader (``K``: kill) or the end of its connection (kill too)."""
    try:
        data = child.conn.recv(64)
    except OSError:
        data = b""
    if not data or b"K" in data:
        _kill(child)


def _kill(child: _Child) -> None:
    if child.status is None:  # not reaped yet, so the pid is still this worker's
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.kill(child.pid, signal.SIGKILL)
        except OSError:
            pass


def _reap(children: dict, block: bool = False) -> None:
    from grader import confine

    while children:
        try:
            pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        child = children.pop(pid, None)
        if child is None:
            continue  # an orphan a worker left, reparented here
        child.status = status
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        spare = frozenset(children)
        swept = confine.sweep(pid, child.started, spare=spare)
        _send(child.conn, {"exit": code, "swept": swept})
        child.conn.close()


def _send(conn: socket.socket, msg: dict) -> None:
    try:
        conn.sendall((json.dumps(msg) + "\n").encode())
    except OSError:
        pass


def _ticks() -> int | None:
    from grader import confine

    return confine.start_ticks()


def _become_worker(cfg_r: int, cmd_r: int, res_w: int, out_w: int) -> None:
    """In the forked child: a clean process, then the worker's own start. Its configuration
    arrives on ``cfg_r`` as one JSON line, as a spawned worker's does on stdin."""
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(cfg_r, 1 << 16)
            if not chunk:
                break
            line += chunk
        req = json.loads(line)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(out_w, 2)
        keep = {0, 1, 2, cmd_r, res_w}
        for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
            if int(name) not in keep:
                try:
                    os.close(int(name))
                except OSError:
                    pass
        os.environ.clear()
        os.environ.update(req["env"])
        for name, value in _IMPORTS_SET.items():
            os.environ.setdefault(name, value)
        os.chdir(req["home"])
        from grader import worker

        worker._STARTED = time.monotonic()
        worker.run({**req["cfg"], "cmd_fd": cmd_r, "res_fd": res_w, "parent": os.getppid()})
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: B036 - as an uncaught exception ends a spawned worker
        import traceback

        try:
            traceback.print_exc()
        except BaseException:  # noqa: B036
            pass
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:  # noqa: B036
                pass
        os._exit(code)


def main() -> None:
    """``forkserver.py CTL_FD ROOT [NAME IDLE]``: with NAME, a daemon that also listens on
    the abstract Unix socket NAME and leaves after IDLE seconds without work."""
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)
    sys.path.insert(0, sys.argv[2])
    ctl = socket.socket(fileno=int(sys.argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the grader's to handle
    listener, idle = None, 0.0
    if len(sys.argv) > 4:
        listener, idle = _listen(sys.argv[3]), float(sys.argv[4])
    before = dict(os.environ)
    try:
        _preload()
        _IMPORTS_SET.update({k: v for k, v in os.environ.items() if k not in before})
    except BaseException as e:  # noqa: B036 - the grader falls back to spawning workers
        _send(ctl, {"error": f"{type(e).__name__}: {e}"})
        return
    _send(ctl, {"ready": True})
    serve(ctl, listener, idle)


def _listen(name: str) -> socket.socket | None:
    """The daemon's socket, or None when another daemon holds the name already (this one
    then serves only the grader that started it)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.bind("\0" + name)
        sock.listen(16)
        sock.setblocking(False)
    except OSError:
        sock.close()
        return None
    return sock


if __name__ == "__main__":
    main()

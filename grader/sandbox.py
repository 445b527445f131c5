"""Starting, talking to, and killing the worker process (parent side)."""

from __future__ import annotations

import json
import os
import secrets
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from grader import confine as confine_mod
from grader import jaxconfig, protocol

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
FORKSERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "forkserver.py")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT_CAP = 64 * 1024

# What a signal usually means when it kills a worker (the report's explanation).
_SIGNAL_CAUSES = {
    "SIGKILL": "by the submission itself (os.kill / os.killpg), or by the system for "
    "using too much memory",
    "SIGSEGV": "a segmentation fault: very deep recursion after sys.setrecursionlimit, "
    "or a bad ctypes call",
    "SIGXCPU": "the worker used up its CPU-time limit",
    "SIGXFSZ": "a file grew past the file-size limit",
    "SIGABRT": "an internal abort, often an allocation that failed",
    "SIGBUS": "a bad memory access",
    "SIGTERM": "terminated by a signal the submission or the system sent",
}


class WorkerGone(Exception):
    """The worker died, hung or broke the protocol; ``status`` says which."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _Output:
    """Collects the worker's stdout+stderr up to a cap, on a thread."""

    def __init__(self, stream):
        self.chunks: list[bytes] = []
        self.size = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream):
        for chunk in iter(lambda: stream.read1(65536), b""):
            room = OUTPUT_CAP - self.size
            if room > 0:
                self.chunks.append(chunk[:room])
                self.size += min(len(chunk), room)
            self.dropped += max(0, len(chunk) - max(room, 0))

    def text(self, join: float = 0.5) -> str:
        self._thread.join(join)
        return b"".join(self.chunks).decode("utf-8", "replace")


LIVE: set = set()  # workers not yet closed, so an interrupted class run can kill them all
# Pids of the workers now running. Several gradings at once (``--jobs``) share this parent,
# so a sweep for leftovers must not take a sibling worker, which is also a child started
# after its own worker, for an orphan; the lock keeps a worker from starting unlisted
# while a sweep looks.
_RUNNING: set = set()
_SPAWN = threading.Lock()


def kill_all() -> None:
    for worker in list(LIVE):
        worker.kill()


class _Served:
    """A worker forked by the fork server, with the part of ``subprocess.Popen`` the grader
    uses: ``stdout``, ``wait``, ``returncode``. The server sends its pid, then its exit."""

    def __init__(self, conn, out_r: int):
        self.conn = conn
        self.stdout = os.fdopen(out_r, "rb")
        self.pid: int | None = None
        self.returncode: int | None = None
        self._swept = 0
        self._buf = b""

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            if b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                try:
                    msg = json.loads(line)
                    if "pid" in msg:
                        self.pid = int(msg["pid"])
                    else:
                        self.returncode, self._swept = int(msg["exit"]), int(msg["swept"])
                except (ValueError, KeyError, TypeError):
                    pass
                continue
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired("worker", timeout)
            ready, _, _ = select.select([self.conn], [], [], left)
            if not ready:
                continue
            chunk = self.conn.recv(4096)
            if not chunk:  # the server is gone, and with it the worker (PR_SET_PDEATHSIG)
                self.returncode = -signal.SIGKILL
                break
            self._buf += chunk
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                self.conn.send(b"K")
            except OSError:
                pass

    def take_swept(self) -> int:
        n, self._swept = self._swept, 0
        return n

    def close(self) -> None:
        self.conn.close()


class _Server:
    """A fork server (``grader/forkserver.py``). It is not waited for: requests queue on its
    socket while it imports JAX, and the parent goes on (computing references, say)
    meanwhile, as it did while a spawned worker started.

    Private (``daemon=None``): one per grader process, gone with it; what instructor-mode
    gradings use. A daemon (``daemon=(name, idle)``): the learner's own, shared by their
    self-check gradings one after another, so an edit-and-grade loop pays JAX's import
    once; it leaves after ``idle`` seconds without work."""

    def __init__(self, daemon: tuple[str, float] | None = None):
        self.ctl, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
               "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
               **jaxconfig.environment(1, None)}
        if os.environ.get("TMPDIR") and daemon is None:
            # unused by the server (each worker gets its own); it shows in what
            # /proc/PID/environ says of every process forked from it, as a spawned worker's
            # TMPDIR does: what an operator (or a test) traces a leftover process back by
            env["TMPDIR"] = os.environ["TMPDIR"]
        extra = [daemon[0], str(daemon[1])] if daemon else []
        self.proc = subprocess.Popen(
            [sys.executable, "-I", FORKSERVER, str(theirs.fileno()), ROOT, *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),), env=env, cwd="/", start_new_session=True)
        _RUNNING.add(self.proc.pid)  # never taken for a worker's leftover by a sweep
        theirs.close()
        self.lock = threading.Lock()
        self.dead = False
        self.daemon = daemon is not None

    @classmethod
    def connect(cls, name: str) -> _Server | None:
        """The daemon listening on ``name``, if one of this user's own is."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.connect("\0" + name)
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                    struct.calcsize("3i"))
        except OSError:
            sock.close()
            return None
        if struct.unpack("3i", creds)[1] != os.getuid():  # someone else's: never use it
            sock.close()
            return None
        server = cls.__new__(cls)
        server.ctl, server.proc, server.lock = sock, None, threading.Lock()
        server.dead, server.daemon = False, True
        return server

    def fork(self, req: dict, fds: tuple[int, int]) -> _Served | None:
        """A new worker for ``req`` (its env, home and configuration), or None when the
        server is gone (the caller spawns one instead)."""
        mine, theirs = socket.socketpair()
        cfg_r, cfg_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            with self.lock:
                socket.send_fds(self.ctl, [b"fork"], [theirs.fileno(), cfg_r, *fds, out_w])
        except OSError:
            self.dead = True
            for fd in (cfg_r, cfg_w, out_r, out_w):
                os.close(fd)
            mine.close()
            return None
        finally:
            theirs.close()
        os.close(cfg_r)
        os.close(out_w)
        data = (json.dumps(req) + "\n").encode()
        # a thread, since the worker reads it only once forked (the pipe holds 64 KiB)
        threading.Thread(target=_write_all, args=(cfg_w, data), daemon=True).start()
        return _Served(mine, out_r)

    def close(self) -> None:
        self.ctl.close()  # a private server kills its workers and leaves; a daemon stays
        if self.proc is not None and not self.daemon:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.proc is not None:
            _RUNNING.discard(self.proc.pid)


def _write_all(fd: int, data: bytes) -> None:
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except OSError:
        pass


_SERVERS: dict = {}  # "private" or a daemon's name -> _Server, or None where none runs
_SERVER_LOCK = threading.Lock()
# seconds a learner's daemon waits for the next grading before it leaves
DAEMON_IDLE = float(os.environ.get("DLCORE_GRADER_DAEMON_IDLE") or 900.0)


def daemon_name(cache_root: str) -> str:
    """The daemon of this user, this grader and dlcore code, this Python and JAX, this JAX
    environment and this cache folder: a change to any of them starts a fresh one."""
    import hashlib

    from grader import references

    key = json.dumps([os.getuid(), sys.executable, references.source_hash(None),
                      references._jax_version(), jaxconfig.environment(1, None),
                      os.path.abspath(cache_root)])
    return "dlcore-grader-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _server(daemon: str | None = None) -> _Server | None:
    """A fork server, started on first use: a private one, or with ``daemon`` (a name from
    :func:`daemon_name`) the learner's daemon, joined if it runs and started if not. None
    where there is none (not Linux, ``DLCORE_GRADER_FORKSERVER=0``, or it failed to start):
    workers are spawned then."""
    usable = (sys.platform.startswith("linux") and hasattr(socket, "send_fds")
              and os.environ.get("DLCORE_GRADER_FORKSERVER", "1") != "0")
    if daemon is not None and os.environ.get("DLCORE_GRADER_DAEMON", "1") == "0":
        daemon = None
    slot = daemon or "private"
    with _SERVER_LOCK:
        server = _SERVERS.get(slot)
        if slot not in _SERVERS or (server is not None and server.dead):
            try:
                if not usable:
                    server = None
                elif daemon is None:
                    server = _Server()
                else:
                    server = _Server.connect(daemon) or _Server((daemon, DAEMON_IDLE))
            except OSError:
                server = None
            _SERVERS[slot] = server
        return None if server is None or server.dead else server


def stop_daemon(name: str) -> bool:
    """Asks the daemon ``name`` to take no more gradings (it leaves once its workers are
    done); false when none of this user's runs under that name."""
    server = _Server.connect(name)
    if server is None:
        return False
    try:
        server.ctl.send(b"stop")
        seen, end = b"", time.monotonic() + 10
        while b"stopping" not in seen:  # it answers once it took the request
            ready, _, _ = select.select([server.ctl], [], [], max(end - time.monotonic(), 0))
            chunk = server.ctl.recv(4096) if ready else b""
            if not chunk:
                return False
            seen += chunk
        return True
    except OSError:
        return False
    finally:
        server.ctl.close()


class Worker:
    """One worker process grading one exercise's files.

    ``confine`` is the plan from :func:`grader.confine.plan` (limits, user, hidden paths);
    the worker applies it to itself before importing anything of the learner's.
    """

    def __init__(
        self,
        exercise: str,
        files: list[str],
        *,
        platform: str | None,
        cache_dir: str | None,
        confine: dict | None = None,
        devices: int = 1,
        data: dict[str, bytes] | None = None,
        daemon: str | None = None,
    ):
        self.nonce = secrets.token_hex(16)
        self._scratch = tempfile.TemporaryDirectory(
            prefix="dlcore-worker-", ignore_cleanup_errors=True
        )
        home = self._scratch.name
        # the worker makes home its own before it drops to its user (confine.apply_in_worker)
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": home,
            "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            **jaxconfig.environment(devices, platform),
        }
        self.started = confine_mod.start_ticks()
        cfg = {
            "nonce": self.nonce,
            "cmd_fd": cmd_r,
            "res_fd": res_w,
            "root": ROOT,
            "exercise": exercise,
            "files": files,
            "platform": platform or "",
            "cache_dir": cache_dir,
            "confine": confine or {},
            "parent": os.getpid(),
            "devices": devices,
            "data": {k: v.hex() for k, v in (data or {}).items()},
        }
        server = _server(daemon)
        self.proc = None
        if server is not None:
            self.proc = server.fork({"env": env, "home": home, "cfg": cfg},
                                    (cmd_r, res_w))
        if self.proc is None:
            self.proc = self._spawn(env, home, cfg, cmd_r, res_w)
        os.close(cmd_r)
        os.close(res_w)
        self.output = _Output(self.proc.stdout)
        self._buf = b""
        self.left_behind = 0
        LIVE.add(self)

    @staticmethod
    def _spawn(env, home, cfg, cmd_r, res_w):
        """A fresh ``python -I grader/worker.py`` (where no fork server runs)."""
        with _SPAWN:
            proc = subprocess.Popen(
                [sys.executable, "-I", WORKER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(cmd_r, res_w),
                start_new_session=True,
                env=env,
                cwd=home,
            )
            _RUNNING.add(proc.pid)
        try:
            proc.stdin.write((json.dumps(cfg) + "\n").encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        return proc

    # -- receiving ------------------------------------------------------------------------

    def _read_frame(self, deadline: float) -> bytes:
        while True:
            if len(self._buf) >= 4:
                (n,) = struct.unpack(">I", self._buf[:4])
                if n > protocol.MAX_FRAME:
                    raise protocol.ProtocolError(f"a frame length of {n} bytes")
                if len(self._buf) >= 4 + n:
                    payload, self._buf = self._buf[4 : 4 + n], self._buf[4 + n :]
                    return payload
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self.res_r], [], [], left)
            if not ready:
                raise TimeoutError
            chunk = os.read(self.res_r, 1 << 20)
            if not chunk:
                raise EOFError
            self._buf += chunk

    def receive(self, timeout: float, expect: str, check: str | None = None):
        """The next (header, arrays) from the worker, or WorkerGone.

        ``expect`` is the frame type the parent asked for (``ready``, ``prefetched`` or
        ``result``) and ``check`` the check a result must be for: the protocol is strictly
        one request, one answer, so any other frame (a forged or replayed one, or one from a
        process the submission forked) is tampering, even with the right nonce.
        """
        try:
            payload = self._read_frame(time.monotonic() + timeout)
            header, arrays = protocol.decode(payload)
        except TimeoutError:
            self.kill()
            raise WorkerGone(
                "timeout", f"no answer within {timeout:g} s; the worker was killed"
            ) from None
        except EOFError:
            raise self._death() from None
        except protocol.ProtocolError as e:
            # the worker only ever writes frames it built with protocol.encode
            self.kill()
            raise WorkerGone(
                "tamper",
                f"the result channel carried bytes that are not a frame from the worker ({e}): "
                "the submission wrote to the grader's pipe",
            ) from None
        if header.get("nonce") != self.nonce:
            self.kill()
            raise WorkerGone(
                "tamper",
                "a frame on the result channel did not carry this run's "
                "nonce: something other than the worker wrote to it",
            )
        got = (header.get("type"), header.get("check") if expect == "result" else None)
        if got != (expect, check if expect == "result" else None):
            self.kill()
            what = f"{got[0]!r}" + (f" for {got[1]!r}" if got[1] is not None else "")
            raise WorkerGone(
                "tamper",
                f"the worker answered out of turn (a {what} frame while the grader waited "
                f"for {expect!r}" + (f" for {check!r}" if check else "") + "): a forged or "
                "duplicated frame, written by the submission or by a process it forked",
            )
        reaped = header.pop("reaped", 0)
        if isinstance(reaped, int) and 0 < reaped < 1 << 20:
            self.left_behind += reaped  # forks the worker killed between checks
        return header, arrays

    def _death(self) -> WorkerGone:
        alive = False
        try:
            code = self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            alive = True  # its result channel closed, but it kept running
            self.kill()
            code = self.proc.returncode
        self.kill()
        out = self.output.text()
        if alive:
            return WorkerGone(
                "crash",
                "the worker's result channel closed but the worker kept running (it was "
                "killed): does the code close or redirect file descriptors it did not open?",
            )
        if any(
            s in out
            for s in (
                "MemoryError",
                "RESOURCE_EXHAUSTED",
                "std::bad_alloc",
                "Cannot allocate memory",
                "out of memory",
            )
        ):
            return WorkerGone("memory", "the worker ran out of memory")
        if code is not None and code < 0:
            sig = -code
            name = signal.Signals(sig).name if sig in signal.valid_signals() else str(sig)
            why = _SIGNAL_CAUSES.get(name, "")
            return WorkerGone(
                "crash", f"the worker was killed by {name}" + (f" ({why})" if why else "")
            )
        tail = [ln for ln in out.strip().splitlines() if ln.strip()][-1:]
        last = f"; its last output line: {tail[0][:300]!r}" if tail else ""
        if code == 0:
            return WorkerGone(
                "crash",
                f"the worker exited (code 0) without reporting: does the code call "
                f"os._exit, or exit() from a thread or a signal handler?{last}",
            )
        return WorkerGone(
            "crash",
            f"the worker stopped (exit code {code}) without reporting: the submission broke "
            f"the process outside its own functions (closed file descriptors, replaced "
            f"sys modules, called os._exit?){last}",
        )

    # -- sending --------------------------------------------------------------------------

    def send(self, header: dict, arrays: dict | None = None) -> None:
        try:
            protocol.write_frame(self.cmd_w, protocol.encode(header, arrays))
        except (BrokenPipeError, OSError):
            raise self._death() from None

    def kill(self) -> None:
        if isinstance(self.proc, _Served):
            self.proc.kill()  # the server kills it, reaps it and sweeps what it left
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self.left_behind += self.proc.take_swept()
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        # daemons the learner started in a new session were reparented to us: kill them too
        with _SPAWN:
            _RUNNING.discard(self.proc.pid)
            self.left_behind += confine_mod.sweep(self.proc.pid, self.started,
                                                  spare=frozenset(_RUNNING))

    def close(self) -> None:
        """Ends the worker at once: it has sent every result the parent asked for, JAX wrote
        its cache entries when it compiled them, and an orderly interpreter shutdown (about
        0.2 s with JAX loaded, plus any atexit handler a submission registered) would only
        make the learner wait."""
        LIVE.discard(self)
        self.kill()
        self.output.text(join=2.0)
        self.proc.stdout.close()
        if isinstance(self.proc, _Served):
            self.proc.close()
        for fd in (self.cmd_w, self.res_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._scratch.cleanup()

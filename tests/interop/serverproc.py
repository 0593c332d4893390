"""Start and stop examples/echo-server for the Python interop tests."""

import os
import select
import signal
import subprocess
import time


def start(exe, timeout=10.0, args=()):
    """Run exe on a free loopback port, with args after the address;
    return (process, port)."""
    proc = subprocess.Popen([exe, "--host", "127.0.0.1", "--port", "0"] +
                            list(args),
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                break
            line += chunk
    text = line.decode(errors="replace").strip()
    if not text.startswith("listening on "):
        proc.kill()
        proc.wait()
        raise RuntimeError("echo-server did not start (said %r)" % text)
    return proc, int(text.rsplit(":", 1)[1])


def stop(proc, timeout=5.0):
    """SIGTERM the server; return its exit status (None if it hung)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None

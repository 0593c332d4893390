#!/usr/bin/env python3
"""wsp-demo, or a hub example on an event-loop adapter, at its file
descriptor limit.

The server runs with RLIMIT_NOFILE 48. The test holds open upgraded
connections until the server is out of descriptors, then makes 40 more
connections: each must be answered (503) and closed rather than left in
the accept queue, and the server must not spin on its readable listening
socket meanwhile (its CPU time over two seconds is measured). Once some
held connections close, a new client gets its upgrade at once.

    python3 emfile.py WSP_DEMO_EXE
    python3 emfile.py --hub HUB_EXE   (examples/hub*.c: no --ping-interval;
                                       the shed count checked if printed)
Prints the figures and "N passed, M failed"; exits 1 on failure.
"""
import os
import resource
import socket
import subprocess
import sys
import time

LIMIT = 48
EXTRA = 40
UPGRADE = (b"GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + (f" ({detail})" if detail else ""))


def response_head(sock, deadline):
    """The status line the server sent, '' when it closed without one,
    None when nothing came before the deadline."""
    data = b""
    sock.setblocking(False)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        except ConnectionResetError:
            return ""
        if not chunk:
            return data.split(b"\r\n", 1)[0].decode()
        data += chunk
        if b"\r\n" in data:
            return data.split(b"\r\n", 1)[0].decode()
    return None


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(UPGRADE)
    return s


def main():
    hub = sys.argv[1] == "--hub"
    exe = sys.argv[-1]
    extra_args = [] if hub else ["--ping-interval", "0"]
    proc = subprocess.Popen(
        [exe, "--listen", "127.0.0.1:0"] + extra_args,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                              (LIMIT, LIMIT)))
    try:
        line = proc.stdout.readline().decode()
        port = int(line.rsplit(":", 1)[1])

        # Fill the server's descriptor table with upgraded connections.
        held = []
        while len(held) < LIMIT:
            s = connect(port)
            head = response_head(s, time.monotonic() + 2)
            if head is None or not head.startswith("HTTP/1.1 101"):
                s.close()
                break
            held.append(s)
        check("the server is at its limit with upgraded connections held",
              0 < len(held) < LIMIT, f"{len(held)} held")

        extra = [connect(port) for _ in range(EXTRA)]
        t0, c0 = time.monotonic(), cpu_seconds(proc.pid)
        heads = [response_head(s, t0 + 3) for s in extra]
        time.sleep(max(0.0, 2.0 - (time.monotonic() - t0)))
        busy = (cpu_seconds(proc.pid) - c0) / (time.monotonic() - t0)
        answered = sum(1 for h in heads if h is not None)
        refused = sum(1 for h in heads if h and h.startswith("HTTP/1.1 503"))
        print(f"figures: {len(held)} held, {EXTRA} over the limit: "
              f"{refused} answered 503, {answered} answered at all; "
              f"server CPU {busy * 100:.0f}% over {time.monotonic() - t0:.1f} s")
        check("every connection over the limit is answered, none left waiting",
              answered == EXTRA, f"{answered} of {EXTRA}")
        check("they are told 503", refused == EXTRA, f"{refused} of {EXTRA}")
        check("the server does not spin at the limit", busy < 0.25,
              f"{busy * 100:.0f}% CPU")
        for s in extra:
            s.close()

        for s in held[:8]:
            s.close()
        time.sleep(0.3)
        t1 = time.monotonic()
        s = connect(port)
        head = response_head(s, time.monotonic() + 2)
        took = time.monotonic() - t1
        check("with descriptors free again a client upgrades at once",
              head is not None and head.startswith("HTTP/1.1 101") and took < 1,
              f"{head!r} in {took * 1000:.0f} ms")
        s.close()
        for s in held[8:]:
            s.close()
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    shed = [ln for ln in err.decode().splitlines() if "shed at the" in ln]
    print(shed[0] if shed else "(no exit statistics)")
    # the 40, and the connection that found the limit while filling it
    if shed or not hub:
        check("the shed connections are counted",
              bool(shed) and shed[0].rstrip().endswith(f": {EXTRA + 1}"),
              shed[0] if shed else "")
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

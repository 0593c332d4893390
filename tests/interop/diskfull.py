#!/usr/bin/env python3
"""wsp-demo's server API when its file store cannot write.

The server keeps history in the file store under a fresh directory, with
a file size limit (RLIMIT_FSIZE, SIGXFSZ ignored, so that a write past it
fails as on a full disk). Publications through the API go on until one
is refused: it must be refused as the server's error (code 100, with the
store's message), never as the client's (107), and nothing must have
been acknowledged that the history does not hold. Once the limit is
lifted (as when space comes back) the same server takes publications
again. diskfull_tmpfs.py does the same on a real full disk (a small
tmpfs), where it can mount one.

    python3 diskfull.py WSP_DEMO_EXE
Prints "N passed, M failed"; exits 1 on failure.
"""
import json
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request

KEY = "k"
FSIZE = 256 * 1024
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + (f" ({detail})" if detail else ""))


def api(port, method, body):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/{method}", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": f"apikey {KEY}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def limits():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE, resource.RLIM_INFINITY))


def main():
    exe = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="wsp-diskfull-")
    proc = subprocess.Popen(
        [exe, "--listen", "127.0.0.1:0", "--api-key", KEY, "--data-dir", tmp,
         "--history-size", "100000", "--fsync", "never"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, preexec_fn=limits)
    try:
        port = int(proc.stdout.readline().decode().rsplit(":", 1)[1])
        payload = {"s": "x" * 1000}
        acked, refusal = 0, None
        for _ in range(4 * FSIZE // 1000):  # bounded: far past the limit
            r = api(port, "publish", {"channel": "full", "data": payload})
            if "error" in r:
                refusal = r["error"]
                break
            acked += 1
        print(f"figures: {acked} publications acknowledged before the "
              f"refusal {refusal}")
        check("a publication the store cannot write is refused",
              refusal is not None and acked > 0, f"after {acked}")
        check("as the server's error, not a bad request",
              refusal is not None and refusal.get("code") == 100,
              json.dumps(refusal))
        check("with the store's message",
              refusal is not None and "space" in refusal.get("message", ""),
              json.dumps(refusal))
        hist = api(port, "history", {"channel": "full", "limit": -1})
        top = hist.get("result", {}).get("offset")
        check("every acknowledged publication is in the history",
              top == acked, f"top offset {top}, {acked} acknowledged")
        # Room again: the same server takes publications again, after the
        # ones it acknowledged, and has lost none of them.
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        again = api(port, "publish", {"channel": "full", "data": payload})
        res = again.get("result", {})
        check("once there is room again, publications are taken",
              res.get("offset") is not None and res["offset"] > acked,
              json.dumps(again))
        hist = api(port, "history", {"channel": "full", "limit": -1})
        kept = [p["offset"] for p in hist.get("result", {}).get("publications", [])]
        check("and every acknowledged one is still there, in order",
              kept[:acked] == list(range(1, acked + 1)) and
              kept[-1] == res.get("offset"), f"{len(kept)} kept")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

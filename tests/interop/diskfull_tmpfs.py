#!/usr/bin/env python3
"""wsp-demo's server API when the disk under its file store is full.

diskfull.py stands a file size limit in for a full disk; this test fills
a real one: a tmpfs of TMPFS_BYTES, mounted in a mount namespace of its
own (as root, or with unshare --map-root-user), holds the file store and
a filler file that leaves room for a few hundred publications. The
server API then publishes until a publication is refused, and checks:
  - the refusal is the server's error (100) with the store's message
    ("no space left on the device"), the next one is refused too, and
    both are counted (the server API's info);
  - every acknowledged publication is in the history, in order, under
    the same epoch, and the server still answers;
  - once the filler is deleted (space comes back), publishing resumes at
    the next offset and the history holds everything acknowledged.
When no mount namespace or tmpfs can be made here, it says why and exits
77 (skipped), never 0.

    python3 diskfull_tmpfs.py WSP_DEMO_EXE
Prints "N passed, M failed"; exits 1 on failure.
"""
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

KEY = "k"
TMPFS_BYTES = 2 << 20
ROOM = 256 << 10  # left free beside the filler
PAYLOAD = {"s": "x" * 1000}
NS_ENV = "WSP_DISKFULL_IN_NS"
SKIP = 77
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + (f" ({detail})" if detail else ""))


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def api(port, method, body):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/{method}", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": f"apikey {KEY}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def history(port):
    return api(port, "history", {"channel": "full", "limit": -1}).get(
        "result", {})


def enter_namespace():
    """Run this script again in a mount namespace of its own, so that the
    tmpfs goes away with it; returns its exit status."""
    unshare = shutil.which("unshare")
    if unshare is None:
        skip("no unshare(1) to make a mount namespace (util-linux)")
    cmd = [unshare, "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        cmd.append("--map-root-user")
    probe = subprocess.run(cmd + ["true"], capture_output=True, text=True)
    if probe.returncode != 0:
        skip("cannot make a mount namespace here: " +
             (probe.stderr.strip() or f"unshare exited {probe.returncode}"))
    env = dict(os.environ, **{NS_ENV: "1"})
    return subprocess.run(cmd + [sys.executable] + sys.argv, env=env).returncode


def fill(path, room):
    """Write zeros into path until the file system has only room bytes
    free (tmpfs allocates pages as they are written)."""
    st = os.statvfs(os.path.dirname(path))
    free = st.f_bavail * st.f_frsize
    with open(path, "wb") as f:
        left = free - room
        block = b"\0" * 65536
        while left > 0:
            f.write(block[:min(left, len(block))])
            left -= min(left, len(block))


def run(exe, mnt):
    store = os.path.join(mnt, "store")
    filler = os.path.join(mnt, "filler")
    os.mkdir(store)
    proc = subprocess.Popen(
        [exe, "--listen", "127.0.0.1:0", "--api-key", KEY, "--data-dir", store,
         "--history-size", "100000", "--fsync", "always"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        port = int(proc.stdout.readline().decode().rsplit(":", 1)[1])
        first = api(port, "publish", {"channel": "full", "data": PAYLOAD})
        epoch = first.get("result", {}).get("epoch")
        acked = 1 if first.get("result", {}).get("offset") == 1 else 0
        fill(filler, ROOM)
        refusal = None
        for _ in range(4 * ROOM // 1000):  # bounded: far past the room left
            r = api(port, "publish", {"channel": "full", "data": PAYLOAD})
            if "error" in r:
                refusal = r["error"]
                break
            acked += 1
        print(f"figures: tmpfs {TMPFS_BYTES >> 10} KiB, {ROOM >> 10} KiB left "
              f"beside the filler, {acked} publications acknowledged before "
              f"the refusal {json.dumps(refusal)}")
        check("a publication the full disk cannot take is refused",
              refusal is not None and acked > 1, f"after {acked}")
        check("as the server's error (100), not a bad request",
              refusal is not None and refusal.get("code") == 100,
              json.dumps(refusal))
        check("with the store's message",
              refusal is not None and
              refusal.get("message") == "no space left on the device",
              json.dumps(refusal))
        again = api(port, "publish", {"channel": "full", "data": PAYLOAD})
        check("the next one is refused the same way, the server still up",
              again.get("error", {}).get("code") == 100 and
              proc.poll() is None, json.dumps(again))
        info = api(port, "info", {}).get("result", {})
        check("both refusals counted, with the store's failed writes",
              info.get("history_append_errors") == 2 and
              info.get("history_io_errors", 0) >= 2,
              f"append errors {info.get('history_append_errors')}, "
              f"io errors {info.get('history_io_errors')}")
        h = history(port)
        kept = [p["offset"] for p in h.get("publications", [])]
        check("every acknowledged publication is in the history, in order",
              h.get("offset") == acked and kept == list(range(1, acked + 1)),
              f"top offset {h.get('offset')}, {len(kept)} kept, "
              f"{acked} acknowledged")
        check("under the same epoch", h.get("epoch") == epoch,
              f"{epoch} -> {h.get('epoch')}")
        # Space comes back: the same server takes publications again, at
        # the next offset, and has lost none of the ones it acknowledged.
        os.unlink(filler)
        res = api(port, "publish",
                  {"channel": "full", "data": PAYLOAD}).get("result", {})
        check("once space is back, publishing resumes at the next offset",
              res.get("offset") == acked + 1 and res.get("epoch") == epoch,
              json.dumps(res))
        h = history(port)
        kept = [p["offset"] for p in h.get("publications", [])]
        data_ok = all(p.get("data") == PAYLOAD
                      for p in h.get("publications", []))
        check("and the history holds all of them, each whole",
              kept == list(range(1, acked + 2)) and data_ok,
              f"{len(kept)} kept")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    check("the server exits cleanly", proc.returncode == 0,
          f"status {proc.returncode}")


def main():
    exe = os.path.abspath(sys.argv[1])
    if os.environ.get(NS_ENV) != "1":
        return enter_namespace()
    if shutil.which("mount") is None or shutil.which("umount") is None:
        skip("no mount(8) or umount(8) here")
    mnt = tempfile.mkdtemp(prefix="wsp-diskfull-tmpfs-")
    try:
        mount = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES},mode=0700",
             "tmpfs", mnt], capture_output=True, text=True)
        if mount.returncode != 0:
            skip("cannot mount a tmpfs here: " +
                 (mount.stderr.strip() or f"mount exited {mount.returncode}"))
        try:
            run(exe, mnt)
        finally:
            subprocess.run(["umount", mnt], check=False)
    finally:
        try:
            os.rmdir(mnt)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

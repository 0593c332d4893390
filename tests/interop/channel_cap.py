#!/usr/bin/env python3
"""wsp-demo --history-channels caps the channels with history state.

A Python websockets client speaking the protocol's JSON by hand: with
--history-channels 2, subscribing to two channels works, a third
channel is refused with 106 (limit exceeded) whether subscribed to or
published to, the API's publish to a fresh channel is refused too, and
the existing channels keep working.

    python3 channel_cap.py WSP_DEMO_EXE
Prints one line per check and "N passed, M failed"; exits 1 on failure.
"""
import asyncio
import json
import subprocess
import sys
import urllib.error
import urllib.request

try:
    import websockets
except ImportError:
    print("websockets is missing: scripts/install-deps.sh check installs "
          "python3-websockets")
    sys.exit(1)

results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(("ok   " if ok else "FAIL ") + name + (f" ({detail})" if detail else ""))


async def call(ws, ids, kind, body):
    cid = next(ids)
    await ws.send(json.dumps({"id": cid, kind: body}))
    while True:
        for line in (await asyncio.wait_for(ws.recv(), 5)).split("\n"):
            if line:
                msg = json.loads(line)
                if msg.get("id") == cid:
                    return msg


def api(port, method, params):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/{method}",
        data=json.dumps(params).encode(),
        headers={"Content-Type": "application/json", "X-API-Key": "k"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


async def run(port):
    ids = iter(range(1, 1000))
    async with websockets.connect(
            f"ws://127.0.0.1:{port}/connection/websocket") as ws:
        r = await call(ws, ids, "connect", {})
        check("connect", "connect" in r, r)
        for ch in ("a", "b"):
            r = await call(ws, ids, "subscribe", {"channel": ch})
            check(f"subscribe {ch}", r.get("subscribe", {}).get("epoch"), r)
        r = await call(ws, ids, "subscribe", {"channel": "c"})
        check("third channel refused on subscribe",
              r.get("error") == {"code": 106, "message": "limit exceeded"}, r)
        r = await call(ws, ids, "publish", {"channel": "d", "data": {"x": 1}})
        check("third channel refused on publish",
              r.get("error") == {"code": 106, "message": "limit exceeded"}, r)
        r = await call(ws, ids, "publish", {"channel": "a", "data": {"x": 2}})
        check("an existing channel still takes publications",
              r.get("publish") == {}, r)
    r = api(port, "publish", {"channel": "e", "data": {"x": 3}})
    check("the API's publish to a fresh channel is refused with 106",
          r.get("error", {}).get("code") == 106 and "result" not in r, r)
    r = api(port, "history", {"channel": "a", "limit": -1})
    pubs = r.get("result", {}).get("publications", [])
    check("the existing channel kept its publication",
          [p.get("data") for p in pubs] == [{"x": 2}], r)


def main():
    exe = sys.argv[1]
    proc = subprocess.Popen([exe, "--listen", "127.0.0.1:0", "--api-key", "k",
                             "--history-channels", "2"],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        port = int(proc.stdout.readline().decode().rsplit(":", 1)[1])
        asyncio.run(run(port))
    finally:
        proc.terminate()
        proc.wait(5)
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed or not results else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""wsp-demo's GET /metrics, read by the Prometheus client's own parser.

Three Centrifuge protocol clients (Python websockets, the protocol's
JSON spoken by hand) make traffic: connects, subscribes, an unsubscribe,
publications delivered to two subscribers, an RPC answered at once and
one answered 60 ms later (the demo's sleep method), a client closing
normally (1000) and one closed for a bad command (3501). Then /metrics
is fetched and parsed with prometheus_client.parser
(python3-prometheus-client): it must parse, carry the content type of
the text format 0.0.4, type every family, and hold what was sent.

    python3 metrics.py WSP_DEMO_EXE
Prints one line per check and "N passed, M failed"; exits 1 on failure,
also when python3-websockets or python3-prometheus-client is missing.
"""
import asyncio
import json
import subprocess
import sys
import time
import urllib.request

try:
    import websockets
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as e:
    print(f"{e.name} is missing: scripts/install-deps.sh check installs "
          "python3-websockets and python3-prometheus-client")
    sys.exit(1)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(("ok   " if ok else "FAIL ") + name + (f" ({detail})" if detail else ""))


class Client:
    """One protocol connection: commands out, replies by id, pushes kept."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 1
        self.pushes = []

    @classmethod
    async def open(cls, port):
        ws = await websockets.connect(
            f"ws://127.0.0.1:{port}/connection/websocket")
        c = cls(ws)
        reply = await c.call("connect", {})
        assert "client" in reply["connect"], reply
        return c

    async def call(self, kind, body):
        cid = self.next_id
        self.next_id += 1
        await self.ws.send(json.dumps({"id": cid, kind: body}))
        while True:
            for line in (await asyncio.wait_for(self.ws.recv(), 5)).split("\n"):
                if not line:
                    continue
                msg = json.loads(line)
                if msg.get("id") == cid:
                    return msg
                self.pushes.append(msg)

    async def wait_pushes(self, n):
        while len(self.pushes) < n:
            for line in (await asyncio.wait_for(self.ws.recv(), 5)).split("\n"):
                if line:
                    self.pushes.append(json.loads(line))


async def traffic(port):
    a, b, c = [await Client.open(port) for _ in range(3)]
    for cl in (a, b):
        r = await cl.call("subscribe", {"channel": "news"})
        assert "subscribe" in r, r
    r = await a.call("subscribe", {"channel": "other"})
    assert "subscribe" in r, r
    r = await a.call("unsubscribe", {"channel": "other"})
    assert "unsubscribe" in r, r
    for i in range(3):
        r = await b.call("publish", {"channel": "news", "data": {"i": i}})
        assert "publish" in r, r
    await a.wait_pushes(3)
    await b.wait_pushes(3)
    r = await a.call("rpc", {"method": "echo", "data": {"x": 1}})
    assert r.get("rpc", {}).get("data") == {"x": 1}, r
    r = await a.call("rpc", {"method": "sleep", "data": {"ms": 60}})
    assert "rpc" in r, r
    # a normal close, then a bad command: a ping is the server's to send
    await a.ws.close(1000, "done")
    await c.ws.send(json.dumps({"id": 9, "ping": {}}))
    try:
        await asyncio.wait_for(c.ws.wait_closed(), 5)
    finally:
        c_code = c.ws.close_code
    await b.ws.close(1000, "done")
    return c_code


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                timeout=5) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def families_of(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams, family, sample, **labels):
    for s in fams[family].samples:
        if s.name == sample and s.labels == labels:
            return s.value
    raise KeyError(f"{sample}{labels}")


def check_histogram(fams, name):
    f = fams.get(name)
    if f is None or f.type != "histogram":
        check(f"{name} is a histogram", False)
        return None
    buckets = [(s.labels["le"], s.value) for s in f.samples
               if s.name == name + "_bucket"]
    count = value(fams, name, name + "_count")
    les = [float(le) for le, _ in buckets]
    counts = [v for _, v in buckets]
    check(f"{name}: buckets in order, ending with +Inf",
          les == sorted(les) and buckets and buckets[-1][0] == "+Inf",
          str([le for le, _ in buckets]))
    check(f"{name}: cumulative", counts == sorted(counts), str(counts))
    check(f"{name}: count == the +Inf bucket", count == counts[-1],
          f"{count} vs {counts[-1]}")
    return dict(buckets), count, value(fams, name, name + "_sum")


def main():
    exe = sys.argv[1]
    proc = subprocess.Popen([exe, "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        port = int(proc.stdout.readline().decode().rsplit(":", 1)[1])
        c_code = asyncio.run(traffic(port))
        check("a client sending ping is closed with 3501", c_code == 3501,
              str(c_code))
        # the closes are counted once the hub has seen them: wait for both
        deadline = time.monotonic() + 5
        while True:
            status, ctype, text = scrape(port)
            fams = families_of(text)
            if (value(fams, "wsp_closes", "wsp_closes_total", code="1000") >= 2
                    or time.monotonic() > deadline):
                break
            time.sleep(0.05)
        check("GET /metrics answers 200", status == 200, str(status))
        check("with the content type of the text format 0.0.4",
              ctype == CONTENT_TYPE, ctype)
        check("it parses, every family typed and named wsp_",
              fams and all(n.startswith("wsp_") and
                           f.type in ("counter", "gauge", "histogram")
                           for n, f in fams.items()),
              str({n: f.type for n, f in fams.items()
                   if not n.startswith("wsp_") or f.type == "unknown"}))
        cmd = {s.labels["command"]: s.value
               for s in fams["wsp_commands"].samples}
        check("commands by name: connect, subscribe, unsubscribe, publish, "
              "rpc, ping",
              cmd.get("connect", 0) >= 3 and cmd.get("subscribe", 0) >= 3 and
              cmd.get("unsubscribe", 0) >= 1 and cmd.get("publish", 0) >= 3 and
              cmd.get("rpc", 0) >= 2 and cmd.get("ping", 0) >= 1,
              json.dumps(cmd))
        closes = {s.labels["code"]: s.value
                  for s in fams["wsp_closes"].samples}
        check("closes by code: 1000 twice, 3501 once",
              closes.get("1000") == 2 and closes.get("3501") == 1,
              json.dumps({k: v for k, v in closes.items() if v}))
        check("the close label set is bounded, with other",
              "other" in closes and len(closes) < 40, str(len(closes)))
        rpc = check_histogram(fams, "wsp_rpc_duration_seconds")
        if rpc:
            buckets, count, total = rpc
            check("rpc: both calls observed, the slow one above 25 ms",
                  count == 2 and buckets["0.025"] <= 1 and total >= 0.06,
                  f"count {count}, le 0.025: {buckets['0.025']}, sum {total}")
        lag = check_histogram(fams, "wsp_fanout_lag_seconds")
        deliveries = value(fams, "wsp_deliveries", "wsp_deliveries_total")
        if lag:
            check("fan-out lag: one observation per delivery",
                  lag[1] == deliveries and deliveries >= 6,
                  f"{lag[1]} vs {deliveries}")
        check("publications and rpc calls counted",
              value(fams, "wsp_publications",
                    "wsp_publications_total") == 3 and
              value(fams, "wsp_rpc_calls", "wsp_rpc_calls_total") == 2)
        check("gauges: nothing queued or lagging once the clients are gone",
              value(fams, "wsp_lagging_subscribers",
                    "wsp_lagging_subscribers") == 0 and
              value(fams, "wsp_queued_bytes", "wsp_queued_bytes") >= 0 and
              value(fams, "wsp_subscriptions", "wsp_subscriptions") == 0)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

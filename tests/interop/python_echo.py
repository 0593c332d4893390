#!/usr/bin/python3
"""examples/echo-server against the Python `websockets` client (asyncio).

usage: python_echo.py ECHO_SERVER_EXE
Prints one line per check and "N passed, M failed"; exits 1 on failure,
also when the websockets package is missing.
"""

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverproc  # noqa: E402

try:
    import websockets
    import websockets.exceptions
except ImportError:
    print("python3-websockets is not installed; skipping")
    sys.exit(1)

MiB = 1 << 20
checks = []


def check(fn):
    checks.append(fn)
    return fn


async def connect(port, path="/echo"):
    return await websockets.connect("ws://127.0.0.1:%d%s" % (port, path),
                                    max_size=None, compression=None,
                                    close_timeout=5, ping_interval=None)


async def roundtrip(port, message):
    ws = await connect(port)
    try:
        await ws.send(message)
        got = await ws.recv()
    finally:
        await ws.close()
    assert type(got) is type(message), "type %s, sent %s" % (
        type(got).__name__, type(message).__name__)
    assert got == message, "echo differs (%d bytes back, %d sent)" % (
        len(got), len(message))
    assert ws.close_code == 1000, "close code %r" % ws.close_code


@check
async def text_echo(port):
    await roundtrip(port, "hello, κόσμε, こんにちは 🙂")


@check
async def binary_echo(port):
    await roundtrip(port, bytes(range(256)) * 4)


@check
async def empty_messages(port):
    await roundtrip(port, "")
    await roundtrip(port, b"")


@check
async def one_mib_message(port):
    await roundtrip(port, os.urandom(MiB))


@check
async def sixteen_mib_text(port):
    await roundtrip(port, "0123456789abcdef" * MiB)


@check
async def sixteen_mib_binary(port):
    await roundtrip(port, os.urandom(16 * MiB))


@check
async def many_messages_in_order(port):
    ws = await connect(port)
    sent = ["message %d" % i for i in range(200)]
    for m in sent:
        await ws.send(m)
    got = [await ws.recv() for _ in sent]
    await ws.close()
    assert got == sent, "messages lost or reordered"


@check
async def concurrent_clients(port):
    async def one(i):
        ws = await connect(port)
        sent = ["client %d message %d" % (i, k) for k in range(20)]
        for m in sent:
            await ws.send(m)
        got = [await ws.recv() for _ in sent]
        await ws.close()
        return got == sent
    results = await asyncio.gather(*(one(i) for i in range(50)))
    assert all(results), "%d of 50 clients got wrong echoes" % (
        results.count(False))


@check
async def ping_pong(port):
    ws = await connect(port)
    for payload in (b"", b"ping data", bytes(125)):
        waiter = await ws.ping(payload)
        await asyncio.wait_for(waiter, 5)
    await ws.close()
    assert ws.close_code == 1000


async def close_with(port, code, reason):
    ws = await connect(port)
    await ws.send("before close")
    assert await ws.recv() == "before close"
    await ws.close(code=code, reason=reason)
    assert ws.close_code == code, "server replied %r, want %d" % (
        ws.close_code, code)
    # The server closes the TCP connection after the handshake.
    await asyncio.wait_for(ws.wait_closed(), 5)


@check
async def close_1000(port):
    await close_with(port, 1000, "")


@check
async def close_4000_with_reason(port):
    await close_with(port, 4000, "done for today")


@check
async def not_found_path(port):
    try:
        ws = await connect(port, "/nope")
    except websockets.exceptions.InvalidStatusCode as e:
        assert e.status_code == 404, "status %d" % e.status_code
        return
    await ws.close()
    raise AssertionError("handshake to /nope succeeded")


async def raw_request(port, head):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode())
    await writer.drain()
    response = await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    return response.decode(errors="replace")


def request_head(version="13", path="/echo"):
    return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: %s\r\n\r\n" % (path, version))


@check
async def wrong_version_426(port):
    resp = await raw_request(port, request_head(version="8"))
    assert resp.startswith("HTTP/1.1 426 "), "got %r" % resp.split("\r\n")[0]
    assert "\r\nsec-websocket-version: 13\r\n" in resp.lower(), \
        "no Sec-WebSocket-Version: 13 in %r" % resp


@check
async def accept_key(port):
    # The example key and accept value of RFC 6455 section 1.3.
    resp = await raw_request(port, request_head())
    assert resp.startswith("HTTP/1.1 101 "), "got %r" % resp.split("\r\n")[0]
    assert "sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=" in resp.lower()


@check
async def missing_key_400(port):
    head = request_head().replace(
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")
    resp = await raw_request(port, head)
    assert resp.startswith("HTTP/1.1 400 "), "got %r" % resp.split("\r\n")[0]


async def run_all(port):
    passed = failed = 0
    for fn in checks:
        try:
            await asyncio.wait_for(fn(port), 30)
            passed += 1
            print("ok   %s" % fn.__name__, flush=True)
        except Exception as e:  # noqa: BLE001 - any failure is reported
            failed += 1
            print("FAIL %s: %s: %s" % (fn.__name__, type(e).__name__, e),
                  flush=True)
    return passed, failed


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip())
        return 2
    proc, port = serverproc.start(sys.argv[1])
    try:
        passed, failed = asyncio.run(run_all(port))
    finally:
        status = serverproc.stop(proc)
    if status == 0:
        passed += 1
        print("ok   server_exits_0_on_sigterm")
    else:
        failed += 1
        print("FAIL server_exits_0_on_sigterm: status %r" % status)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

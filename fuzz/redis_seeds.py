#!/usr/bin/env python3
"""Write the seed corpus of fuzz_redis (fuzz/corpus/fuzz_redis/).

Each seed is what a well-behaved Redis would send the harness's engine,
framed as fuzz_redis.c reads its input: chunks of at most 111 bytes, each
after a byte (n << 1) | link, and operations as ((112 + k) << 1) | arg.
The FIFOs the replies answer are listed at the top of fuzz_redis.c.

    python3 fuzz/redis_seeds.py [DIR]    # default: fuzz/corpus/fuzz_redis
"""
import os
import sys

CMD, SUB = 0, 1
CHUNK = 111
OP_BASE = 112
EPOCH = "abc"
BOB = '{"user":"bob","client":"c1"}'


def bulk(s):
    b = s.encode() if isinstance(s, str) else s
    return b"$%d\r\n%s\r\n" % (len(b), b)


def integer(n):
    return b":%d\r\n" % n


def status(s):
    return b"+%s\r\n" % s.encode()


def error(s):
    return b"-%s\r\n" % s.encode()


NIL = b"$-1\r\n"
NIL_ARRAY = b"*-1\r\n"


def array(*items):
    return b"*%d\r\n" % len(items) + b"".join(items)


def feed(link, data):
    """data for link in chunks of at most CHUNK bytes."""
    out = b""
    for i in range(0, len(data), CHUNK):
        part = data[i : i + CHUNK]
        out += bytes([(len(part) << 1) | link]) + part
    return out


def op(k, arg=0, *extra):
    return bytes([((OP_BASE + k) << 1) | arg] + list(extra))


def say(index):
    """The client sends commands[index] of fuzz_redis.c."""
    return op(3, 0, index)


def confirm(kind, name, count):
    return array(bulk(kind), bulk(name), integer(count))


def message(chan, payload):
    return array(bulk("message"), bulk(chan), bulk(payload))


def pmessage(glob, chan, payload):
    return array(bulk("pmessage"), bulk(glob), bulk(chan), bulk(payload))


def pub(offset, epoch, info, data):
    return "p1 %d %s %d %s%s" % (offset, epoch, len(info), info, data)


def entry(offset, data, info=""):
    fields = [bulk("d"), bulk(data)]
    if info:
        fields += [bulk("i"), bulk(info)]
    fields += [bulk("t"), bulk("1000")]
    return array(bulk("%d-0" % offset), array(*fields))


def read_reply(top, epoch, *entries):
    return array(integer(top), bulk(epoch), array(*entries))


SUB_CONFIRMS = (
    confirm("subscribe", "wsp.control", 1)
    + confirm("subscribe", "wsp.pub.a", 2)
    + confirm("psubscribe", "wsp.pub.news.*", 3)
)
# publish (client), publish (async), presence, PUBLISH wsp.control
CMD_FIRST = (
    array(integer(1), bulk(EPOCH))
    + array(integer(2), bulk("0123456789abcdef"))
    + array(bulk("c1"), bulk(BOB))
    + integer(0)
)

SEEDS = {
    # the subscriptions confirmed, one at a time
    "sub-confirm": feed(SUB, SUB_CONFIRMS),
    # a publication on channel a, with and without info
    "message-pub": feed(SUB, SUB_CONFIRMS)
    + feed(SUB, message("wsp.pub.a", pub(1, EPOCH, "", "{}")))
    + feed(SUB, message("wsp.pub.a", pub(2, EPOCH, BOB, '{"n":2}')))
    + feed(SUB, message("wsp.pub.a", pub(0, "-", "", "1"))),
    # a publication through the pattern
    "pmessage-pub": feed(SUB, SUB_CONFIRMS)
    + feed(SUB, pmessage("wsp.pub.news.*", "wsp.pub.news.x",
                         pub(0, "-", "", '"x"'))),
    # joins and leaves of another node's client
    "join-leave": feed(SUB, SUB_CONFIRMS)
    + say(8)
    + feed(SUB, confirm("subscribe", "wsp.pub.b", 4))
    + feed(SUB, message("wsp.pub.b", "j1 " + BOB))
    + feed(SUB, message("wsp.pub.a", "l1 " + BOB)),
    # orders from another node: a broadcast, a user's subscription, a
    # message to the user, then disconnecting the user
    "control": feed(SUB, SUB_CONFIRMS)
    + feed(SUB, message("wsp.control", 'c1 other B 0 0:{"m":1}'))
    + feed(SUB, message("wsp.control", "c1 other U 0 3:bobu"))
    + feed(SUB, message("wsp.control", 'c1 other M 0 3:bob{"m":2}'))
    + feed(SUB, message("wsp.control", "c1 fz D 3503 3:bob"))
    + feed(SUB, message("wsp.control", "c1 other D 3503 3:bobforced")),
    # the replies of the CMD link's first commands
    "eval-replies": feed(CMD, CMD_FIRST),
    # the whole flow: confirmations, the first replies, the reads (the
    # recovery of a, READY's PING for news.*), presence and join, then
    # publications, history and presence
    "flow": feed(SUB, SUB_CONFIRMS)
    + feed(CMD, CMD_FIRST)
    + feed(CMD, read_reply(2, EPOCH, entry(1, '{"n":1}', BOB), entry(2, "2")))
    + feed(CMD, status("PONG"))
    + feed(CMD, integer(1) + integer(1))
    + feed(SUB, message("wsp.pub.a", pub(1, EPOCH, BOB, '{"n":1}')))
    + feed(SUB, message("wsp.pub.a", pub(3, EPOCH, "", "3")))
    + say(3)
    + feed(CMD, read_reply(3, EPOCH, entry(1, "1"), entry(2, "2"), entry(3, "3")))
    + say(4)
    + feed(CMD, array(bulk("c1"), bulk(BOB), bulk("c2"), bulk(BOB)))
    + say(2)
    + feed(CMD, array(integer(4), bulk(EPOCH)))
    + feed(SUB, message("wsp.pub.a", pub(4, EPOCH, "", '{"x":1}'))),
    # Redis errors, nils and odd shapes as replies
    "errors": feed(SUB, SUB_CONFIRMS)
    + feed(CMD, error("NOSCRIPT no") + NIL + NIL_ARRAY + array())
    + feed(CMD, error("ERR x") + integer(-1)),
    # the links drop and come back; time passes
    "links": feed(SUB, confirm("subscribe", "wsp.control", 1))
    + op(0, SUB)
    + feed(SUB, SUB_CONFIRMS)
    + op(2, 0)
    + op(2, 1)
    + op(1, CMD)
    + feed(CMD, CMD_FIRST),
    # the application's publish, orders and a new client
    "api": feed(SUB, SUB_CONFIRMS)
    + op(4, 0)
    + op(4, 1)
    + op(5, 0)
    + op(6, 0)
    + op(6, 1)
    + op(8, 0)
    + feed(SUB, confirm("subscribe", "wsp.pub.s", 4))
    + op(7, 0)
    + op(9, CMD)
    + feed(CMD, CMD_FIRST),
    # a recovery with a missed publication, then a gap
    "recover": feed(SUB, SUB_CONFIRMS)
    + feed(CMD, CMD_FIRST)
    + feed(CMD, read_reply(1, EPOCH, entry(1, "1")))
    + feed(SUB, message("wsp.pub.a", pub(3, EPOCH, "", "3")))
    + feed(SUB, message("wsp.pub.a", pub(2, "other", "", "2"))),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "corpus", "fuzz_redis")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Find the files of lib/ that call each other in a cycle, and internal
names whose prefix does not name their file.

Reads the .c and .h files under lib/, finds which file defines each non-static
function and variable, which files reference them, and builds the file
graph: A depends on B when A references a symbol defined in B. Prints
every strongly connected component of more than one file and exits 1
when one of them is not within an allowed group (ALLOWED below, plus any
--allow a.c,b.c given on the command line).

    scripts/lib-cycles.py [--root DIR] [--allow a.c,b.c ...] [-v]

-v names, for every edge inside a cycle, the symbols that make it.

Every non-static wsp__ name defined in lib/ must start with "wsp__" and
a prefix that PREFIXES (below) gives to its file: the file's name, or
the module a group of files in one folder implements together.
Only the standard library is used; the C is tokenised roughly (comments,
strings and preprocessor lines are understood, nothing else), which is
enough for code that follows STYLE.md.
"""

# ---- Allowed cycles ------------------------------------------------------
# A component is accepted when all its files are in one of these groups.
ALLOWED = [
    # The subscribe subsystem: a subscribe needs its position (history) and
    # its token (token.c); history and token expiry end subscriptions.
    {"hub/channels.c", "hub/history.c", "hub/token.c"},
]

# ---- Internal prefixes ---------------------------------------------------
# prefix after "wsp__" -> the files that may define names with it. The
# longest matching prefix decides.
PREFIXES = {
    "mem_": ["mem.c"], "malloc": ["mem.c"], "realloc": ["mem.c"],
    "free": ["mem.c"], "strndup": ["mem.c"],
    "random": ["random.c"],
    "heap_": ["heap.c"],
    # conn/: the connection (conn.c, with its frame walker conn_rx.c)
    "conn_": ["conn/conn.c"],
    "conn_rx_": ["conn/conn_rx.c"],
    "hs_": ["conn/handshake.c"],
    "http_": ["conn/http.c"],
    "outq_": ["conn/outq.c"],
    "deflate_": ["conn/deflate.c"],
    # evlog/: the log, the memory store, and the file store's files
    "evlog_": ["evlog/evlog.c"],
    "evlog_mem_": ["evlog/evlog_mem.c"],
    "evfile_": ["evlog/evlog_file.c", "evlog/evlog_open.c",
                "evlog/evlog_fstream.c", "evlog/evlog_fread.c",
                "evlog/evlog_seg.c"],
    # hub/: server.c is the core, wsp_server_* and wsp_client_*
    "server_": ["hub/server.c"],
    "client_": ["hub/server.c"],
    "ch_": ["hub/channels.c"],
    "hist_": ["hub/history.c"],
    "tok_": ["hub/token.c"],
    "sess_": ["hub/server_session.c"],
    "rpc_": ["hub/rpc.c"],
    "presence_": ["hub/presence.c"],
    "pending_": ["hub/pending.c"],
    "users_": ["hub/users.c"],
    "metrics_": ["hub/metrics.c"],
    "idem_": ["hub/idempotency.c"],
    "ctl_": ["hub/control.c"],
    "hub_": ["hub/hub.c"],
    "push_": ["hub/push.c"],
    "tags_": ["hub/tags.c"],
    "delta_": ["hub/delta.c"],
    "fossil_": ["hub/centrifuge/fossil.c"],
    "cf_dispatch_": ["hub/centrifuge/cf_dispatch.c"],
    "cf_out_": ["hub/centrifuge/cf_out.c"],
    "pb_": ["hub/centrifuge/pb.c"],
    "pb_schema_": ["hub/centrifuge/pb_schema.c"],
    "pb_json_": ["hub/centrifuge/pb_json.c"],
    # json/ and jwt/
    "json_": ["json/json.c"],
    "jbuf_": ["json/json_write.c"],
    "jwt_": ["jwt/jwt.c", "jwt/jwt_keys.c"],
    # redis/: the links (RESP over the application's sockets)
    "redis_": ["redis/link.c"],
    # rpc_client/: the client role; channels.c calls client.c and subs.c,
    # client.c calls subs.c
    "rpc_client_": ["rpc_client/client.c"],
    "rcsub_": ["rpc_client/subs.c"],
}

import argparse
import glob
import os
import re
import sys

TOKEN = re.compile(
    r'"(?:\\.|[^"\\\n])*"'  # string
    r"|'(?:\\.|[^'\\\n])*'"  # character
    r"|[A-Za-z_][A-Za-z0-9_]*"  # identifier
    r"|\d[\w.]*"  # number
    r"|\S"  # punctuation, one character at a time
)
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do",
    "double", "else", "enum", "extern", "float", "for", "goto", "if",
    "inline", "int", "long", "register", "restrict", "return", "short",
    "signed", "sizeof", "static", "struct", "switch", "typedef", "union",
    "unsigned", "void", "volatile", "while", "_Bool", "__typeof__",
    "__attribute__", "__extension__", "_Static_assert",
}


def strip_comments(text):
    """Blank out comments, keeping strings and line structure."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def split_preprocessor(text):
    """(code without preprocessor lines, text of the preprocessor lines)."""
    code, pp = [], []
    cont = False
    for line in text.split("\n"):
        if cont or line.lstrip().startswith("#"):
            pp.append(line)
            cont = line.rstrip().endswith("\\")
            code.append("")
        else:
            code.append(line)
    return "\n".join(code), "\n".join(pp)


def tokens(text):
    return TOKEN.findall(text)


def bodies(toks):
    """The tokens inside braces (function bodies, initialisers)."""
    out, depth = [], 0
    for t in toks:
        if t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
        elif depth > 0:
            out.append(t)
    return out


def definitions(toks):
    """Names of the non-static functions and variables defined at file
    scope by the token list of one file."""
    names = set()
    depth = 0
    stmt = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if depth > 0:
            if t == "{":
                depth += 1
            elif t == "}":
                depth -= 1
            i += 1
            continue
        if t == ";":
            names |= declared(stmt, ended_by=";")
            stmt = []
        elif t == "{":
            pd = paren_depth_end(stmt)
            if pd == 0 and "=" not in stmt and "(" in stmt:
                # a function definition
                names |= declared(stmt, ended_by="{")
                stmt = []
                depth = 1
            elif "=" in stmt:
                # an initialiser: skip it, the statement ends at ';'
                k, d = i, 0
                while k < len(toks):
                    if toks[k] in "{":
                        d += 1
                    elif toks[k] == "}":
                        d -= 1
                    elif toks[k] == ";" and d == 0:
                        break
                    k += 1
                names |= declared(stmt, ended_by=";")
                stmt = []
                i = k
            else:
                # struct/union/enum body: skip it, keep the statement
                k, d = i, 0
                while k < len(toks):
                    if toks[k] == "{":
                        d += 1
                    elif toks[k] == "}":
                        d -= 1
                        if d == 0:
                            break
                    k += 1
                stmt.append("{}")
                i = k
        else:
            stmt.append(t)
        i += 1
    return names


def paren_depth_end(stmt):
    d = 0
    for t in stmt:
        if t == "(":
            d += 1
        elif t == ")":
            d -= 1
    return d


def declared(stmt, ended_by):
    """The defined name of one file-scope statement, if it defines one."""
    if not stmt or stmt[0] in ("typedef",) or "static" in stmt:
        return set()
    if ended_by == ";" and "extern" in stmt:
        return set()
    if ended_by == "{":
        # name ( params ) {: the identifier before the first '(' at depth 0
        for k, t in enumerate(stmt):
            if t == "(" and k > 0 and IDENT.match(stmt[k - 1]):
                if stmt[k - 1] not in KEYWORDS:
                    return {stmt[k - 1]}
                return set()
        return set()
    # a variable definition: type name [= init]; or a prototype (skipped)
    head = stmt[: stmt.index("=")] if "=" in stmt else stmt
    if "(" in head:
        # a prototype, or a pointer to function: type (*name)(...)
        k = head.index("(")
        if head[k + 1 : k + 2] == ["*"] and IDENT.match(head[k + 2]):
            return {head[k + 2]}
        return set()
    while head and head[-1] == "]":
        k = len(head) - 1
        while k >= 0 and head[k] != "[":
            k -= 1
        head = head[:k]
    if len(head) >= 2 and IDENT.match(head[-1]) and head[-1] not in KEYWORDS:
        if head[-1] == "{}" or head[-2] in ("struct", "union", "enum"):
            return set()  # a type only
        return {head[-1]}
    return set()


def scan(root):
    lib = os.path.join(root, "lib")
    files = sorted(glob.glob(os.path.join(lib, "**", "*.c"), recursive=True) +
                   glob.glob(os.path.join(lib, "**", "*.h"), recursive=True))
    defs, refs = {}, {}
    for path in files:
        name = os.path.relpath(path, lib)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = strip_comments(f.read())
        code, pp = split_preprocessor(text)
        ctoks = tokens(code)
        for sym in definitions(ctoks):
            defs.setdefault(sym, set()).add(name)
        # A header's prototypes declare, they do not use: only its macros
        # and inline bodies count as references.
        used = bodies(ctoks) if name.endswith(".h") else ctoks
        refs[name] = {t for t in used + tokens(pp) if IDENT.match(t)}
    return files, defs, refs


def graph(files, defs, refs):
    """A file that defines a symbol itself does not use another file's
    definition of it: two files that define the same functions are
    alternatives, one of which the build compiles (redis/link.c and
    redis/none.c, the library without Redis support)."""
    names = list(refs)
    edges = {n: {} for n in names}
    for a in names:
        for sym in refs[a]:
            owners = defs.get(sym, ())
            if a in owners:
                continue
            for b in owners:
                if b != a:
                    edges[a].setdefault(b, set()).add(sym)
    return edges


def sccs(edges):
    index, low, onstack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        onstack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in onstack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                onstack.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(c for c in out if len(c) > 1)


def check_prefixes(defs):
    """Lines naming every wsp__ definition whose prefix is not its file's."""
    bad = []
    for sym in sorted(defs):
        if not sym.startswith("wsp__"):
            continue
        rest = sym[len("wsp__"):]
        owners = None
        for pre in sorted(PREFIXES, key=len, reverse=True):
            if rest.startswith(pre):
                owners = PREFIXES[pre]
                break
        for f in sorted(defs[sym]):
            if f.endswith(".h"):
                continue  # an inline helper of a header
            if owners is None:
                bad.append("%s: %s has no prefix of PREFIXES" % (f, sym))
            elif f not in owners:
                bad.append("%s: %s has the prefix of %s" % (
                    f, sym, ", ".join(owners)))
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), ".."))
    ap.add_argument("--allow", action="append", default=[],
                    help="comma-separated files that may form a cycle")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    allowed = [set(g) for g in ALLOWED]
    allowed += [set(a.split(",")) for a in args.allow]

    files, defs, refs = scan(args.root)
    if not files:
        print("lib-cycles: no C files under %s/lib" % args.root, file=sys.stderr)
        return 2
    edges = graph(files, defs, refs)
    bad = 0
    for comp in sccs(edges):
        ok = any(set(comp) <= g for g in allowed)
        bad += not ok
        print("%s cycle: %s" % ("allowed" if ok else "FORBIDDEN",
                                " ".join(comp)))
        if args.verbose or not ok:
            for a in comp:
                for b in comp:
                    if b in edges[a]:
                        print("  %s -> %s: %s" % (
                            a, b, " ".join(sorted(edges[a][b]))))
    wrong = check_prefixes(defs)
    for line in wrong:
        print("prefix: " + line)
    if bad:
        print("lib-cycles: %d forbidden cycle(s)" % bad)
    if wrong:
        print("lib-cycles: %d name(s) with another file's prefix" % len(wrong))
    if bad or wrong:
        return 1
    print("lib-cycles: no forbidden cycles, every prefix follows its file")
    return 0


if __name__ == "__main__":
    sys.exit(main())

/*
 * wsp_server_write_metrics(): the hub's counters as Prometheus text
 * (exposition format 0.0.4). Every family is always written, with its
 * whole fixed label set (zeros included), so the output has the same
 * lines every time and only its digits change; wsp_server_write_metrics(3)
 * lists them. The gauges that belong to the clients (queued bytes,
 * lagging subscribers) are summed here, at scrape time, rather than kept
 * up to date on every write.
 */
#include <stddef.h>
#include <string.h>

#include "hub_private.h"

/* Upper bounds of the histogram buckets, ms. */
static const uint64_t bucket_ms[WSP__METRICS_BUCKETS] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
};

void wsp__metrics_observe(struct wsp__metrics_hist *h, uint64_t ms,
                          uint64_t n) {
  size_t i = 0;
  while (i < WSP__METRICS_BUCKETS && ms > bucket_ms[i])
    i++;
  h->count[i] += n;
  h->sum_ms += ms * n;
}

void wsp__metrics_merge(struct wsp__metrics_hist *into,
                        const struct wsp__metrics_hist *what) {
  size_t i;
  for (i = 0; i <= WSP__METRICS_BUCKETS; i++)
    into->count[i] += what->count[i];
  into->sum_ms += what->sum_ms;
}

/* ---- Text ------------------------------------------------------------- */

/* The text being written: what does not fit is counted, not written. */
struct out {
  char *buf;
  size_t cap, len;
};

static void put(struct out *o, const char *s, size_t n) {
  if (o->len < o->cap) {
    size_t room = o->cap - o->len;
    memcpy(o->buf + o->len, s, n < room ? n : room);
  }
  o->len += n;
}

static void puts_(struct out *o, const char *s) { put(o, s, strlen(s)); }

static void put_u64(struct out *o, uint64_t v) {
  char d[20];
  size_t n = sizeof(d);
  do {
    d[--n] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put(o, d + n, sizeof(d) - n);
}

/* ms as seconds, shortest: 1 -> "0.001", 250 -> "0.25", 30000 -> "30". */
static void put_seconds(struct out *o, uint64_t ms) {
  char f[4];
  uint64_t r = ms % 1000;
  size_t n = 3;
  put_u64(o, ms / 1000);
  if (!r)
    return;
  f[0] = '.';
  f[1] = (char)('0' + r / 100);
  f[2] = (char)('0' + r / 10 % 10);
  f[3] = (char)('0' + r % 10);
  while (f[n] == '0')
    n--;
  put(o, f, n + 1);
}

/* s with the escapes of the format: in HELP text backslash and newline,
 * in a label value also the double quote. */
static void put_escaped(struct out *o, const char *s, int label) {
  for (; *s; s++) {
    if (*s == '\\')
      put(o, "\\\\", 2);
    else if (*s == '\n')
      put(o, "\\n", 2);
    else if (*s == '"' && label)
      put(o, "\\\"", 2);
    else
      put(o, s, 1);
  }
}

static void head(struct out *o, const char *name, const char *type,
                 const char *help) {
  puts_(o, "# HELP ");
  puts_(o, name);
  put(o, " ", 1);
  put_escaped(o, help, 0);
  puts_(o, "\n# TYPE ");
  puts_(o, name);
  put(o, " ", 1);
  puts_(o, type);
  put(o, "\n", 1);
}

/* name{label="value"} v, or name v when label is NULL. */
static void sample(struct out *o, const char *name, const char *label,
                   const char *value, uint64_t v) {
  puts_(o, name);
  if (label) {
    put(o, "{", 1);
    puts_(o, label);
    put(o, "=\"", 2);
    put_escaped(o, value, 1);
    put(o, "\"}", 2);
  }
  put(o, " ", 1);
  put_u64(o, v);
  put(o, "\n", 1);
}

static void hist(struct out *o, const char *name, const char *help,
                 const struct wsp__metrics_hist *h) {
  uint64_t cum = 0;
  size_t i;
  head(o, name, "histogram", help);
  for (i = 0; i <= WSP__METRICS_BUCKETS; i++) {
    cum += h->count[i];
    puts_(o, name);
    puts_(o, "_bucket{le=\"");
    if (i < WSP__METRICS_BUCKETS)
      put_seconds(o, bucket_ms[i]);
    else
      puts_(o, "+Inf");
    put(o, "\"} ", 3);
    put_u64(o, cum);
    put(o, "\n", 1);
  }
  puts_(o, name);
  puts_(o, "_sum ");
  put_seconds(o, h->sum_ms);
  put(o, "\n", 1);
  puts_(o, name);
  puts_(o, "_count ");
  put_u64(o, cum);
  put(o, "\n", 1);
}

/* ---- The metrics ------------------------------------------------------ */

/* The members of struct wsp_server_stats written as they are. */
static const struct {
  const char *name, *type, *help;
  size_t off;
} plain[] = {
#define STAT(field, name, type, help)                                          \
  { name, type, help, offsetof(struct wsp_server_stats, field) }
    STAT(connections, "wsp_connections", "gauge",
         "Connections open now (accepted and not yet freed)."),
    STAT(accepted, "wsp_accepted_total", "counter", "Connections accepted."),
    STAT(refused, "wsp_refused_total", "counter",
         "Connections refused by WSP_SERVER_MAX_CONNECTIONS (503)."),
    STAT(refused_origin, "wsp_refused_origin_total", "counter",
         "Cookie-authenticated upgrades from an origin not allowed (403)."),
    STAT(messages_in, "wsp_messages_in_total", "counter",
         "WebSocket messages received."),
    STAT(messages_out, "wsp_messages_out_total", "counter",
         "WebSocket messages queued."),
    STAT(bytes_in, "wsp_bytes_in_total", "counter", "Bytes received."),
    STAT(bytes_out, "wsp_bytes_out_total", "counter",
         "Bytes written, as reported with wsp_client_sent."),
    STAT(errors_json, "wsp_errors_json_total", "counter",
         "Command lines that were not valid JSON."),
    STAT(errors_protocol, "wsp_errors_protocol_total", "counter",
         "Bad commands and frames, closed with 3501 or 3506."),
    STAT(errors_limit, "wsp_errors_limit_total", "counter",
         "Requests and deliveries refused by a limit."),
    STAT(rpc_calls, "wsp_rpc_calls_total", "counter",
         "RPC calls handed to a method."),
    STAT(rpc_timeouts, "wsp_rpc_timeouts_total", "counter",
         "RPC calls answered with a timeout error."),
    STAT(rpc_late, "wsp_rpc_late_total", "counter",
         "RPC replies that came after their call had ended."),
    STAT(publications, "wsp_publications_total", "counter",
         "Publications fanned out (server and clients)."),
    STAT(deliveries, "wsp_deliveries_total", "counter",
         "Publication pushes queued to subscribers."),
    STAT(slow_closes, "wsp_slow_closes_total", "counter",
         "Connections closed 3008 for exceeding their output cap."),
    STAT(subscriptions, "wsp_subscriptions", "gauge",
         "Subscriptions open now."),
    STAT(lagged, "wsp_lagged_total", "counter",
         "Times a subscriber of a channel with history found its output "
         "full and went on to be fed from the log."),
    STAT(idempotent_repeats, "wsp_idempotent_repeats_total", "counter",
         "Publications not made because their idempotency key was seen."),
    STAT(idempotent_evicted, "wsp_idempotent_evicted_total", "counter",
         "Idempotency keys forgotten early, over WSP_SERVER_MAX_IDEMPOTENT."),
#undef STAT
};

#define CMD_NAME(name, num, field) [num] = field,
static const char *const command_names[WSP__METRICS_PONG + 1] = {
    WSP_PROTO_COMMAND_LIST(CMD_NAME)[WSP__METRICS_PONG] = "pong",
};
#undef CMD_NAME

#define WS_CODE(name) [WSP__METRICS_CLOSE_WS_##name] = WSP_CLOSE_##name,
#define CF_CODE(name, num, text) [WSP__METRICS_CLOSE_CF_##name] = num,
static const uint16_t close_codes[WSP__METRICS_CLOSE_OTHER] = {
    WSP__METRICS_WS_CLOSES(WS_CODE) WSP_PROTO_DISCONNECT_LIST(CF_CODE)};
#undef WS_CODE
#undef CF_CODE

static void write_all(const struct wsp_server *s, struct out *o) {
  const struct wsp__metrics *m = &s->metrics;
  const struct wsp_client *cl;
  struct wsp_server_stats st;
  uint64_t queued = 0, queued_max = 0, lagging = 0, deflating = 0;
  size_t i;
  char code[8];

  wsp_server_get_stats(s, &st);
  for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
    uint64_t v;
    memcpy(&v, (const char *)&st + plain[i].off, sizeof(v));
    head(o, plain[i].name, plain[i].type, plain[i].help);
    sample(o, plain[i].name, NULL, NULL, v);
  }

  head(o, "wsp_commands_total", "counter",
       "Protocol commands received, by the request field they carry "
       "(pong: the empty command that answers a ping).");
  for (i = 0; i <= WSP__METRICS_PONG; i++)
    sample(o, "wsp_commands_total", "command", command_names[i],
           m->commands[i]);

  head(o, "wsp_closes_total", "counter",
       "WebSockets ended, by close code: the server's if it closed first, "
       "else the peer's (1005 without a code, 1006 without a close frame).");
  for (i = 0; i <= WSP__METRICS_CLOSE_OTHER; i++) {
    struct out c = {code, sizeof(code) - 1, 0};
    if (i < WSP__METRICS_CLOSE_OTHER)
      put_u64(&c, close_codes[i]);
    else
      puts_(&c, "other");
    code[c.len] = '\0';
    sample(o, "wsp_closes_total", "code", code, m->closes[i]);
  }

  hist(o, "wsp_rpc_duration_seconds",
       "Time from an RPC command to its reply (result, error or timeout) "
       "being queued, on the hub's clock.",
       &m->rpc);
  hist(o, "wsp_fanout_lag_seconds",
       "Time from a publication entering the fan-out to its pub push being "
       "queued to a subscriber, one observation per delivery, on the hub's "
       "clock.",
       &m->fanout);

  for (cl = s->first; cl; cl = cl->next) {
    size_t q = wsp_conn_queued_bytes(cl->conn);
    queued += q;
    if (q > queued_max)
      queued_max = q;
    lagging += cl->nlagging;
    if (cl->opened && !cl->gone &&
        wsp_conn_get_deflate(cl->conn, WSP_DEFLATE_ENABLE))
      deflating++;
  }
  head(o, "wsp_queued_bytes", "gauge",
       "Output bytes queued now, over every connection.");
  sample(o, "wsp_queued_bytes", NULL, NULL, queued);
  head(o, "wsp_queued_bytes_max", "gauge",
       "Output bytes queued now on the connection that has the most.");
  sample(o, "wsp_queued_bytes_max", NULL, NULL, queued_max);
  head(o, "wsp_lagging_subscribers", "gauge",
       "Subscriptions fed from the history log now because their "
       "connection's output was full.");
  sample(o, "wsp_lagging_subscribers", NULL, NULL, lagging);
  head(o, "wsp_deflate_connections", "gauge",
       "Open connections that negotiated permessage-deflate.");
  sample(o, "wsp_deflate_connections", NULL, NULL, deflating);
}

int wsp_server_write_metrics(const struct wsp_server *s, char *buf, size_t cap,
                             size_t *len) {
  struct out o;
  if (!s || !len || (!buf && cap))
    return WSP_ERR_INVAL;
  o.buf = buf;
  o.cap = cap;
  o.len = 0;
  write_all(s, &o);
  *len = o.len;
  if (o.len >= cap)
    return WSP_ERR_LIMIT; /* no room for the text and its NUL */
  buf[o.len] = '\0';
  return 0;
}

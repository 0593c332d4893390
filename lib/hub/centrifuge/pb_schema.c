/*
 * The messages of the Centrifuge protocol's client.proto (see
 * wsp-protocol(7)) that the hub reads and writes, as tables: each field's
 * JSON name, number, type and shape. Fields left out are skipped when
 * read, as unknown fields are. A Publication's data is the bytes of
 * JSON text, or under delta compression those of the JSON string the hub
 * writes (pb_json.c).
 */
#include <string.h>

#include "pb_private.h"

#define F(name, num, type)                                                     \
  { name, num, WSP__PB_##type, WSP__PB_ONE, NULL }
#define M(name, num, msg)                                                      \
  { name, num, WSP__PB_MSG, WSP__PB_ONE, &msg }
#define REP(name, num, type, msg)                                              \
  { name, num, WSP__PB_##type, WSP__PB_REPEATED, msg }
#define MAP(name, num, type, msg)                                              \
  { name, num, WSP__PB_##type, WSP__PB_MAP, msg }
#define MSG(var, fields)                                                       \
  static const struct wsp__pb_msg var = {#var, fields,                         \
                                         sizeof(fields) / sizeof(fields[0])}

/* An empty message: unsubscribe, publish and ping results, ping request. */
static const struct wsp__pb_msg Empty = {"Empty", NULL, 0};

/* ---- Shared ----------------------------------------------------------- */

static const struct wsp__pb_field client_info[] = {
    F("user", 1, STR), F("client", 2, STR), F("conn_info", 3, RAW),
    F("chan_info", 4, RAW)};
MSG(ClientInfo, client_info);

static const struct wsp__pb_field stream_position[] = {F("offset", 1, U64),
                                                       F("epoch", 2, STR)};
MSG(StreamPosition, stream_position);

static const struct wsp__pb_field publication[] = {
    F("data", 4, PDATA),    M("info", 5, ClientInfo),
    F("offset", 6, U64),    MAP("tags", 7, STR, NULL),
    F("delta", 8, BOOL),    F("time", 9, I64),
    F("channel", 10, STR),  F("key", 11, STR),
    F("removed", 12, BOOL), F("score", 13, S64),
    F("epoch", 14, STR),    F("prev_data", 15, RAW),
    F("version", 16, U64)};
MSG(Publication, publication);

static const struct wsp__pb_field error[] = {
    F("code", 1, U32), F("message", 2, STR), F("temporary", 3, BOOL)};
MSG(Error, error);

/* ---- Commands --------------------------------------------------------- */

static const struct wsp__pb_msg FilterNode;
static const struct wsp__pb_field filter_node[] = {
    F("op", 1, STR),           F("key", 2, STR),
    F("cmp", 3, STR),          F("val", 4, STR),
    REP("vals", 5, STR, NULL), REP("nodes", 6, MSG, &FilterNode)};
MSG(FilterNode, filter_node);

static const struct wsp__pb_field subscribe_request[] = {
    F("channel", 1, STR),      F("token", 2, STR),
    F("recover", 3, BOOL),     F("epoch", 6, STR),
    F("offset", 7, U64),       F("data", 8, RAW),
    F("positioned", 9, BOOL),  F("recoverable", 10, BOOL),
    F("join_leave", 11, BOOL), F("delta", 12, STR),
    M("tf", 13, FilterNode),   F("flag", 14, I64),
    F("type", 15, I32)};
MSG(SubscribeRequest, subscribe_request);

static const struct wsp__pb_field connect_request[] = {
    F("token", 1, STR),
    F("data", 2, RAW),
    MAP("subs", 3, MSG, &SubscribeRequest),
    F("name", 4, STR),
    F("version", 5, STR),
    MAP("headers", 6, STR, NULL),
    F("flag", 7, I64)};
MSG(ConnectRequest, connect_request);

static const struct wsp__pb_field channel_request[] = {F("channel", 1, STR)};
MSG(ChannelRequest, channel_request);

static const struct wsp__pb_field publish_request[] = {F("channel", 1, STR),
                                                       F("data", 2, RAW)};
MSG(PublishRequest, publish_request);

static const struct wsp__pb_field history_request[] = {
    F("channel", 1, STR), F("limit", 7, I32), M("since", 8, StreamPosition),
    F("reverse", 9, BOOL)};
MSG(HistoryRequest, history_request);

static const struct wsp__pb_field send_request[] = {F("data", 1, RAW)};
MSG(SendRequest, send_request);

static const struct wsp__pb_field rpc_request[] = {F("data", 1, RAW),
                                                   F("method", 2, STR)};
MSG(RPCRequest, rpc_request);

static const struct wsp__pb_field refresh_request[] = {F("token", 1, STR)};
MSG(RefreshRequest, refresh_request);

static const struct wsp__pb_field sub_refresh_request[] = {F("channel", 1, STR),
                                                           F("token", 2, STR)};
MSG(SubRefreshRequest, sub_refresh_request);

static const struct wsp__pb_field command[] = {
    F("id", 1, U32),
    M("connect", 4, ConnectRequest),
    M("subscribe", 5, SubscribeRequest),
    M("unsubscribe", 6, ChannelRequest),
    M("publish", 7, PublishRequest),
    M("presence", 8, ChannelRequest),
    M("presence_stats", 9, ChannelRequest),
    M("history", 10, HistoryRequest),
    M("ping", 11, Empty),
    M("send", 12, SendRequest),
    M("rpc", 13, RPCRequest),
    M("refresh", 14, RefreshRequest),
    M("sub_refresh", 15, SubRefreshRequest)};
const struct wsp__pb_msg wsp__pb_schema_command = {
    "Command", command, sizeof(command) / sizeof(command[0])};

/* ---- Replies and pushes ----------------------------------------------- */

static const struct wsp__pb_field subscribe_result[] = {
    F("expires", 1, BOOL),
    F("ttl", 2, U32),
    F("recoverable", 3, BOOL),
    F("epoch", 6, STR),
    REP("publications", 7, MSG, &Publication),
    F("recovered", 8, BOOL),
    F("offset", 9, U64),
    F("positioned", 10, BOOL),
    F("data", 11, RAW),
    F("was_recovering", 12, BOOL),
    F("delta", 13, BOOL)};
MSG(SubscribeResult, subscribe_result);

static const struct wsp__pb_field connect_result[] = {
    F("client", 1, STR),   F("version", 2, STR),
    F("expires", 3, BOOL), F("ttl", 4, U32),
    F("data", 5, RAW),     MAP("subs", 6, MSG, &SubscribeResult),
    F("ping", 7, U32),     F("pong", 8, BOOL),
    F("session", 9, STR),  F("node", 10, STR),
    F("time", 11, I64)};
MSG(ConnectResult, connect_result);

static const struct wsp__pb_field presence_result[] = {
    MAP("presence", 1, MSG, &ClientInfo)};
MSG(PresenceResult, presence_result);

static const struct wsp__pb_field presence_stats_result[] = {
    F("num_clients", 1, U32), F("num_users", 2, U32)};
MSG(PresenceStatsResult, presence_stats_result);

static const struct wsp__pb_field history_result[] = {
    REP("publications", 1, MSG, &Publication), F("epoch", 2, STR),
    F("offset", 3, U64)};
MSG(HistoryResult, history_result);

static const struct wsp__pb_field rpc_result[] = {F("data", 1, RAW)};
MSG(RPCResult, rpc_result);

static const struct wsp__pb_field refresh_result[] = {
    F("client", 1, STR), F("version", 2, STR), F("expires", 3, BOOL),
    F("ttl", 4, U32)};
MSG(RefreshResult, refresh_result);

static const struct wsp__pb_field sub_refresh_result[] = {F("expires", 1, BOOL),
                                                          F("ttl", 2, U32)};
MSG(SubRefreshResult, sub_refresh_result);

static const struct wsp__pb_field join_leave[] = {M("info", 1, ClientInfo)};
MSG(JoinLeave, join_leave);

static const struct wsp__pb_field unsubscribe_push[] = {F("code", 2, U32),
                                                        F("reason", 3, STR)};
MSG(Unsubscribe, unsubscribe_push);

static const struct wsp__pb_field subscribe_push[] = {
    F("recoverable", 1, BOOL), F("epoch", 4, STR), F("offset", 5, U64),
    F("positioned", 6, BOOL), F("data", 7, RAW)};
MSG(Subscribe, subscribe_push);

static const struct wsp__pb_field message_push[] = {F("data", 1, RAW)};
MSG(Message, message_push);

static const struct wsp__pb_field connect_push[] = {
    F("client", 1, STR),   F("version", 2, STR),
    F("data", 3, RAW),     MAP("subs", 4, MSG, &SubscribeResult),
    F("expires", 5, BOOL), F("ttl", 6, U32),
    F("ping", 7, U32),     F("pong", 8, BOOL),
    F("session", 9, STR),  F("node", 10, STR),
    F("time", 11, I64)};
MSG(Connect, connect_push);

static const struct wsp__pb_field disconnect_push[] = {
    F("code", 1, U32), F("reason", 2, STR), F("reconnect", 3, BOOL)};
MSG(Disconnect, disconnect_push);

static const struct wsp__pb_field refresh_push[] = {F("expires", 1, BOOL),
                                                    F("ttl", 2, U32)};
MSG(Refresh, refresh_push);

static const struct wsp__pb_field push[] = {F("channel", 2, STR),
                                            M("pub", 4, Publication),
                                            M("join", 5, JoinLeave),
                                            M("leave", 6, JoinLeave),
                                            M("unsubscribe", 7, Unsubscribe),
                                            M("message", 8, Message),
                                            M("subscribe", 9, Subscribe),
                                            M("connect", 10, Connect),
                                            M("disconnect", 11, Disconnect),
                                            M("refresh", 12, Refresh)};
MSG(Push, push);

static const struct wsp__pb_field reply[] = {
    F("id", 1, U32),
    M("error", 2, Error),
    M("push", 4, Push),
    M("connect", 5, ConnectResult),
    M("subscribe", 6, SubscribeResult),
    M("unsubscribe", 7, Empty),
    M("publish", 8, Empty),
    M("presence", 9, PresenceResult),
    M("presence_stats", 10, PresenceStatsResult),
    M("history", 11, HistoryResult),
    M("ping", 12, Empty),
    M("rpc", 13, RPCResult),
    M("refresh", 14, RefreshResult),
    M("sub_refresh", 15, SubRefreshResult)};
const struct wsp__pb_msg wsp__pb_schema_reply = {
    "Reply", reply, sizeof(reply) / sizeof(reply[0])};

/* ---- Lookup ----------------------------------------------------------- */

const struct wsp__pb_field *
wsp__pb_schema_by_number(const struct wsp__pb_msg *m, uint32_t number) {
  size_t i;
  for (i = 0; i < m->nfields; i++)
    if (m->fields[i].number == number)
      return &m->fields[i];
  return NULL;
}

const struct wsp__pb_field *
wsp__pb_schema_by_name(const struct wsp__pb_msg *m,
                       const struct wsp__json_val *key) {
  size_t i;
  for (i = 0; i < m->nfields; i++)
    if (wsp__json_key_is(key, m->fields[i].name))
      return &m->fields[i];
  return NULL;
}

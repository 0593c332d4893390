/*
 * wsp-demo: declarations shared by its source files. Nothing here is part
 * of libwsp; the demo uses only the public headers.
 */
#ifndef WSP_DEMO_H
#define WSP_DEMO_H

#include <stddef.h>
#include <stdint.h>

#include <wsp.h>

/* ---- methods.c: RPC methods, send, connect, channels, sleep timers ---- */

/* Channels whose name starts with this are closed to clients (103). */
#define DEMO_DENIED_PREFIX "denied:"

/* Register echo, add, sleep, fail and whoami on server. */
int methods_register(struct wsp_server *server);
int methods_on_connect(struct wsp_client *client,
                       const struct wsp_connect_info *info, void *user_data);
void methods_on_send(struct wsp_client *client, const uint8_t *data,
                     size_t len, void *user_data);
/* Every channel and pattern is open except the denied ones (see README). */
int methods_on_subscribe(struct wsp_client *client, uint64_t sub,
                         const struct wsp_subscribe_info *info,
                         void *user_data);
int methods_on_publish(struct wsp_client *client,
                       const struct wsp_str *channel, const uint8_t *data,
                       size_t len, void *user_data);
/* The earliest pending sleep reply, or WSP_NO_DEADLINE. */
uint64_t methods_next_deadline(void);
/* Answer every sleep that is due at now. */
void methods_tick(struct wsp_server *server, uint64_t now);
/* Forget the pending sleeps (at exit). */
void methods_free(void);

/* ---- api.c: the server API, POST /api/<method> ----------------------- */

/* key NULL turns the API off (every /api/ path answers 404); log is the
 * history the history methods read (NULL: none, they answer 108). */
void api_init(const char *key, struct wsp_evlog *log);
/* 1 when req is for /api or below it. */
int api_path(const struct wsp_request *req);
/* Answer a request for an /api/ path. */
void api_serve(struct wsp_client *client, const struct wsp_request *req);
/* The client is about to be freed: answers still owed to it are not
 * given. */
void api_client_gone(struct wsp_client *client);

/* ---- auth.c: tokens, sessions, POST /login and /logout ---------------- */

/* A --token-*, --allowed-origin or --max-sessions flag: 1 taken, 0 not
 * ours, -1 bad. */
int auth_flag(const char *flag, const char *value);
/* Configure the hub's tokens and origins, make the session store. */
int auth_init(struct wsp_server *server);
/* The session store's count and counters, for the API's info. */
void auth_session_stats(size_t *count, struct wsp_session_stats *stats);
/* 1 when any --token-* flag was given. */
int auth_tokens_on(void);
void auth_free(void);
uint64_t auth_next_deadline(void);
void auth_tick(uint64_t now);
/* An upgrade on the protocol path: a session cookie or ?token= proves
 * who the user is. */
void auth_upgrade(struct wsp_client *client, const struct wsp_request *req);
/* The client is about to be freed: answers owed to it are not given. */
void auth_client_gone(struct wsp_client *client);
/* 1 when req is for /login or /logout; answer it. */
int auth_path(const struct wsp_request *req);
void auth_serve(struct wsp_client *client, const struct wsp_request *req);

/* ---- redis.c: the Redis engine (--redis) ----------------------------- */

/* --redis, --redis-prefix, --node-name, --redis-timeout or
 * --redis-probe: 1 taken, 0 not ours, -1 bad. */
int redis_flag(const char *flag, const char *value);
/* 1 when --redis was given. */
int redis_on(void);
/* The engine, or NULL without --redis. */
struct wsp_redis *redis_engine(void);
/* Make the engine, attach it to server and start connecting (nothing
 * without --redis). */
int redis_init(struct wsp_server *server, int epfd);
/* 1 when an epoll tag is one of the Redis sockets; its events. */
int redis_owns(const void *tag);
void redis_io(void *tag, uint32_t events);
uint64_t redis_next_deadline(void);
void redis_tick(uint64_t now);
/* Write what the engine has queued (before the loop sleeps). */
void redis_flush(void);
/* After wsp_server_free(). */
void redis_free(void);

/* ---- www.c: the browser page ------------------------------------------ */

/* Where the page and the centrifuge browser bundle are read from. */
void www_init(const char *dir, const char *centrifuge_js);
/* Answer a plain HTTP request (not an upgrade) with a file or an error. */
void www_serve(struct wsp_client *client, const struct wsp_request *req);

/* ---- json.c: just enough JSON for the connect data and the HTTP API ---- */
/* (the RPC methods use the library's own, <wsp/json.h>) */

/* 1 when json is exactly one valid JSON value (UTF-8, depth <= 64). */
int json_valid(const char *json, size_t len);
/* The next element of the JSON array array: start with *pos = 0; 1 while
 * one is found. */
int json_element(struct wsp_str array, size_t *pos, struct wsp_str *value);

/* The value of member key in the JSON object json; 1 when found. */
int json_member(const char *json, size_t len, const char *key,
                struct wsp_str *value);
/* value as a finite number; 1 on success. */
int json_number(struct wsp_str value, double *out);
/* value as a string, decoded into a malloc'ed NUL-terminated copy (free
 * it); NULL when value is not a string or holds a NUL character. */
char *json_string(struct wsp_str value);
/* s as a quoted JSON string into out (at least 6 * strlen(s) + 3 bytes);
 * returns the length written. */
size_t json_quote(char *out, const char *s);

#endif /* WSP_DEMO_H */

/*
 * Helpers of the tests that talk to a real Redis: a redis-server of the
 * test's own on a free loopback port, and the application's side of a
 * wsp_redis (one socket per link, a poll(2) pump between them).
 */
#ifndef WSP_TEST_REDIS_HELPERS_H
#define WSP_TEST_REDIS_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <wsp.h>

/* ---- The server ------------------------------------------------------- */

struct tredis_server {
  pid_t pid; /* 0: not running */
  int port;
};

/*
 * Start `redis-server --port P --bind 127.0.0.1 --save '' --appendonly no
 * --daemonize no --enable-debug-command local` as a child on a free
 * port (found by binding 127.0.0.1:0), its output dropped, and wait until
 * it answers PING. 0; -1 when redis-server is not installed (the caller
 * skips); anything else fails the test.
 */
int tredis_start(struct tredis_server *s);
/* tredis_start() for a test group: 1 when the server runs, 0 (after
 * saying that the tests needing it are skipped) when redis-server is not
 * installed. */
int tredis_start_group(struct tredis_server *s);
/* SIGTERM, then SIGKILL if it does not exit within two seconds; reaped.
 * Nothing when it is not running. */
void tredis_stop(struct tredis_server *s);
/* A new non-blocking TCP connection to it, with TCP_NODELAY; fails the
 * test when it cannot connect. */
int tredis_connect(const struct tredis_server *s);

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t tredis_now(void);

/* ---- The application -------------------------------------------------- */

struct tredis_app {
  struct wsp_redis *r;
  const struct tredis_server *server;
  int fd[WSP_REDIS_LINKS]; /* -1: closed */
  uint64_t offset;         /* added to tredis_now() for wsp_redis_tick */
  size_t io_max;           /* 0: 64 KiB; else at most this per read/write */
};

/* No object, no sockets; for server s. */
void tredis_app_init(struct tredis_app *a, const struct tredis_server *s);
/* The clock the pump ticks with: tredis_now() + offset. */
uint64_t tredis_app_clock(const struct tredis_app *a);
/* Connect link's socket, then wsp_redis_link_up (asserted to succeed). */
void tredis_link_open(struct tredis_app *a, int link);
/* wsp_redis_link_down when up, then close the socket. */
void tredis_link_close(struct tredis_app *a, int link);
/* Close every socket and free the object. */
void tredis_app_free(struct tredis_app *a);

/*
 * One turn of the loop: write what every open link has pending, wait at
 * most wait_ms for input (or for room to write), feed what was read,
 * then wsp_redis_tick with the app's clock. A link the library took
 * down (on_link_reset) has its socket closed; so has one whose peer
 * closed (wsp_redis_link_down first). Returns the bytes moved.
 */
size_t tredis_pump_once(struct tredis_app *a, int wait_ms);
/* Pump until done(arg) is non-zero or timeout_ms passed; returns
 * done(arg) at the end. */
int tredis_pump_until(struct tredis_app *a, int (*done)(void *arg), void *arg,
                      int timeout_ms);
/* Pump until *counter >= want; fails the test after timeout_ms. */
void tredis_pump_count(struct tredis_app *a, const int *counter, int want,
                       int timeout_ms);

#endif /* WSP_TEST_REDIS_HELPERS_H */

/*
 * Helpers shared by the examples: sockets, a monotonic clock, signals as a
 * file descriptor, and moving bytes between a non-blocking socket and a
 * wsp_conn. Nothing here is part of libwsp.
 */
#ifndef WSP_EXAMPLES_LOOP_H
#define WSP_EXAMPLES_LOOP_H

#include <stdint.h>

#include <wsp.h>

/* Milliseconds from CLOCK_MONOTONIC. */
uint64_t loop_now_ms(void);
/* The same, shaped as a wsp_conn_callbacks.now clock. */
uint64_t loop_clock(void *user_data);
/* Close a connection's non-blocking socket after reading and dropping
 * what the peer sent that nobody will read, so that the close is a FIN,
 * not an RST that could destroy the peer's unread input. */
void loop_close(int fd);
/* CLOCK_REALTIME in milliseconds since the Unix epoch, for what is
 * compared across restarts (the event log's file store), and as a clock
 * callback. */
uint64_t loop_wall_ms(void);
uint64_t loop_wall_clock(void *user_data);

/* A non-blocking listening TCP socket on host:port (port 0 picks a free
 * one); *bound_port receives the port. Returns the fd or -1. */
int loop_listen(const char *host, int port, int *bound_port);
/* Accept one connection as a non-blocking socket; -1 when none is left.
 * When the process is out of file descriptors, each waiting connection is
 * answered 503 and closed (with a descriptor kept in reserve for this), so
 * that the listening socket does not stay readable and spin the loop. */
int loop_accept(int listen_fd);
/* The connections loop_accept() answered 503 for want of descriptors. */
unsigned long long loop_shed_count(void);
/* A TCP connection to host:port, made non-blocking once connected. */
int loop_connect(const char *host, int port);
/* Block SIGINT and SIGTERM and return a signalfd that reports them. */
int loop_signalfd(void);

/* Read what the socket has and hand it to conn. Returns 0 when the socket
 * is drained (or conn wants no more), 1 at end of stream, -1 on a socket
 * error; in the last two cases the end of stream was reported to conn. */
int loop_read(int fd, struct wsp_conn *conn);
/* Write conn's pending output until it is empty or the socket is full.
 * Returns 0, or -1 when the socket failed. */
int loop_write(int fd, struct wsp_conn *conn);
/* Milliseconds until deadline (a wsp_conn_next_deadline value) for poll or
 * epoll_wait: -1 for none, 0 when already due. */
int loop_timeout(uint64_t deadline, uint64_t now);

/* Parse a port number 0..65535; -1 when invalid. */
int loop_parse_port(const char *text);

/* Serve server (a wsp_server hub) on the listening socket listen_fd with
 * one epoll loop: accept, move every client's bytes, tick the hub when
 * due. SIGINT or SIGTERM closes every connection with SHUTDOWN, waits up to a
 * second for the closing handshakes and returns 0 (-1 when the loop
 * cannot start). Needs no hub callback: every client is looked at after
 * each wake-up, which suits an example, not a server with many idle
 * connections (see examples/demo/wsp-demo.c for that). */
int loop_run_hub(struct wsp_server *server, int listen_fd);
/* The same, and every interval_ms (0: never) fn(server, now, user_data)
 * runs from the loop: the hub has no timers of the application's, so the
 * loop that sleeps until the hub's next deadline also wakes up for this
 * one. What fn queues is written before the loop sleeps again. */
int loop_run_hub_every(struct wsp_server *server, int listen_fd,
                       uint64_t interval_ms,
                       void (*fn)(struct wsp_server *server, uint64_t now,
                                  void *user_data),
                       void *user_data);

#endif /* WSP_EXAMPLES_LOOP_H */

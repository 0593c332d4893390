/*
 * echo-server: every message sent to ws://HOST:PORT/echo comes back as it
 * was (text as text, binary as binary). One process, one epoll loop.
 *   echo-server [--host 127.0.0.1] [--port 9001] [--deflate]
 * (--port 0: any free port; --deflate: permessage-deflate for clients
 * that offer it)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop.h"

struct client {
  int fd;
  uint32_t events; /* what epoll watches for this socket */
  struct wsp_conn *conn;
  struct client *prev, *next;
};

static int epfd, deflate;
static struct client *clients;

static int on_request(struct wsp_conn *conn, const struct wsp_request *req,
                      void *user_data) {
  static const char path[] = "/echo", body[] = "not found\n";

  if (req->path.len != sizeof path - 1 ||
      memcmp(req->path.ptr, path, sizeof path - 1) != 0)
    wsp_conn_respond(conn, 404, "text/plain", body, sizeof body - 1);
  return 0; /* a bad upgrade to /echo gets the library's 400 or 426 */
}

static void on_message(struct wsp_conn *conn, int opcode, const uint8_t *data,
                       size_t len, void *user_data) {
  /* The data is copied into the output queue; a peer that sends faster
   * than it reads hits WSP_LIMIT_MAX_QUEUED and is disconnected. */
  if (wsp_conn_send(conn, opcode, data, len) < 0)
    wsp_conn_close(conn, WSP_CLOSE_INTERNAL_ERROR, "queue full", 10);
}

static const struct wsp_conn_callbacks callbacks = {
    .on_request = on_request, .on_message = on_message, .now = loop_clock};

static void client_free(struct client *cl) {
  if (cl->prev != NULL)
    cl->prev->next = cl->next;
  else
    clients = cl->next;
  if (cl->next != NULL)
    cl->next->prev = cl->prev;
  loop_close(cl->fd); /* also removes it from the epoll set */
  wsp_conn_free(cl->conn);
  free(cl);
}

/* Flush output, then watch for exactly what the connection needs:
 * EPOLLIN while it wants input, EPOLLOUT only while output is pending. */
static void client_update(struct client *cl) {
  struct epoll_event ev = {0};

  if (loop_write(cl->fd, cl->conn) < 0 || wsp_conn_is_done(cl->conn)) {
    client_free(cl);
    return;
  }
  ev.events = (wsp_conn_want_read(cl->conn) ? EPOLLIN : 0) |
              (wsp_conn_want_write(cl->conn) ? EPOLLOUT : 0);
  ev.data.ptr = cl;
  if (ev.events != cl->events &&
      epoll_ctl(epfd, EPOLL_CTL_MOD, cl->fd, &ev) == 0)
    cl->events = ev.events;
}

static void client_accept(int fd) {
  struct client *cl = calloc(1, sizeof *cl);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = cl};

  if (cl == NULL || wsp_conn_new(&cl->conn, WSP_ROLE_SERVER, &callbacks, NULL,
                                 loop_now_ms(), cl) < 0) {
    free(cl);
    close(fd);
    return;
  }
  /* Big enough to echo the largest message while it is still queued. */
  wsp_conn_set_limit(cl->conn, WSP_LIMIT_MAX_MESSAGE, 16u << 20);
  wsp_conn_set_limit(cl->conn, WSP_LIMIT_MAX_QUEUED, 64u << 20);
  wsp_conn_set_deflate(cl->conn, WSP_DEFLATE_ENABLE, deflate);
  cl->fd = fd;
  cl->events = EPOLLIN;
  if ((cl->next = clients) != NULL)
    clients->prev = cl;
  clients = cl;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
    client_free(cl);
}

static void client_io(struct client *cl, uint32_t events) {
  if ((events & (EPOLLHUP | EPOLLERR)) && !wsp_conn_want_read(cl->conn)) {
    client_free(cl); /* the peer is gone and nothing more will be read */
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
    loop_read(cl->fd, cl->conn); /* reads only while the conn wants input */
  client_update(cl);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 9001, lfd, sfd, i, running = 1;
  struct epoll_event ev = {.events = EPOLLIN}, evs[64];
  struct client *cl, *next;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
      host = argv[++i];
    else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc &&
             (port = loop_parse_port(argv[++i])) >= 0)
      continue;
    else if (strcmp(argv[i], "--deflate") == 0)
      deflate = 1;
    else {
      fprintf(stderr, "usage: %s [--host ADDR] [--port N] [--deflate]\n",
              argv[0]);
      return 2;
    }
  }
  if ((lfd = loop_listen(host, port, &port)) < 0 ||
      (sfd = loop_signalfd()) < 0 || (epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
    return 1;
  ev.data.ptr = &lfd;
  epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.ptr = &sfd;
  epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
  printf("listening on %s:%d\n", host, port);
  fflush(stdout);

  while (running) {
    uint64_t now = loop_now_ms(), deadline = WSP_NO_DEADLINE;
    int n, fd;

    for (cl = clients; cl != NULL; cl = cl->next) {
      uint64_t d = wsp_conn_next_deadline(cl->conn);
      deadline = d < deadline ? d : deadline;
    }
    n = epoll_wait(epfd, evs, 64, loop_timeout(deadline, now));
    for (i = 0; i < n; i++) {
      if (evs[i].data.ptr == &sfd)
        running = 0;
      else if (evs[i].data.ptr == &lfd)
        while ((fd = loop_accept(lfd)) >= 0)
          client_accept(fd);
      else
        client_io(evs[i].data.ptr, evs[i].events);
    }
    now = loop_now_ms();
    for (cl = clients; cl != NULL; cl = next) {
      next = cl->next;
      if (wsp_conn_next_deadline(cl->conn) <= now) {
        wsp_conn_tick(cl->conn, now);
        client_update(cl);
      }
    }
  }

  /* Shutting down: say goodbye where a WebSocket is open, best effort. */
  while (clients != NULL) {
    if (wsp_conn_close(clients->conn, WSP_CLOSE_GOING_AWAY, NULL, 0) == 0)
      loop_write(clients->fd, clients->conn);
    client_free(clients);
  }
  close(epfd);
  close(sfd);
  close(lfd);
  return 0;
}

/* Socket, clock and signal helpers shared by the examples. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4; meson defines it, a plain cc does not */
#endif
#include "loop.h"

#include <wsp/adapters/sock.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

uint64_t loop_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t loop_clock(void *user_data) {
  (void)user_data;
  return loop_now_ms();
}

void loop_close(int fd) {
  /* Unread input would make close() answer RST, which can destroy what
   * the peer has not read yet (the last echo, the close frame). */
  wsp_sock_drain(fd);
  close(fd);
}

uint64_t loop_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t loop_wall_clock(void *user_data) {
  (void)user_data;
  return loop_wall_ms();
}

static struct addrinfo *resolve(const char *host, int port, int passive) {
  struct addrinfo hints = {0}, *res = NULL;
  char service[16];
  int rc;

  snprintf(service, sizeof service, "%d", port);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  rc = getaddrinfo(host, service, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, "%s: %s\n", host, gai_strerror(rc));
    return NULL;
  }
  return res;
}

static void set_nodelay(int fd) {
  int one = 1;
  /* Output is already batched into one writev; do not delay it further. */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int loop_listen(const char *host, int port, int *bound_port) {
  struct addrinfo *res = resolve(host, port, 1), *ai;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int fd = -1, one = 1;

  for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                ai->ai_protocol);
    if (fd < 0)
      continue;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
      perror("bind/listen");
      close(fd);
      fd = -1;
    }
  }
  if (res != NULL)
    freeaddrinfo(res);
  if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
    *bound_port =
        ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
  return fd;
}

/* A descriptor held in reserve for the moment the process runs out: see
 * loop_accept(). */
static int reserve_fd = -1;
static unsigned long long shed;

static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                           "Content-Length: 0\r\nConnection: close\r\n\r\n";

int loop_accept(int listen_fd) {
  int fd;

  if (reserve_fd < 0)
    reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  for (;;) {
    fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      set_nodelay(fd);
      return fd;
    }
    if (errno == EINTR)
      continue;
    if ((errno != EMFILE && errno != ENFILE) || reserve_fd < 0)
      return -1;
    /* Out of descriptors, the connection stays queued and the listening
     * socket readable: a level-triggered loop would spin on it while the
     * client waits for nothing. Give the reserve up to take the connection,
     * tell the client, close it, and take the reserve back. */
    close(reserve_fd);
    fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      if (write(fd, busy, sizeof busy - 1) < 0) {
        /* the client is gone already; it is closed all the same */
      }
      close(fd);
      shed++;
    }
    reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return -1; /* none left, or another error */
  }
}

unsigned long long loop_shed_count(void) { return shed; }

int loop_connect(const char *host, int port) {
  struct addrinfo *res = resolve(host, port, 0), *ai;
  int fd = -1;

  for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
      close(fd);
      fd = -1;
    }
  }
  if (res != NULL)
    freeaddrinfo(res);
  if (fd < 0) {
    fprintf(stderr, "cannot connect to %s:%d\n", host, port);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  set_nodelay(fd);
  return fd;
}

int loop_signalfd(void) {
  sigset_t set;

  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
    return -1;
  return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int loop_read(int fd, struct wsp_conn *conn) {
  static uint8_t buf[65536];
  int i;

  /* Bounded, so one busy peer cannot starve the others; level-triggered
   * readiness brings us back for the rest. */
  for (i = 0; i < 16 && wsp_conn_want_read(conn); i++) {
    ssize_t n = read(fd, buf, sizeof buf);

    if (n > 0) {
      /* A failure is visible through the connection's state and its
       * queued reply (HTTP error or close frame); nothing to do here. */
      wsp_conn_recv(conn, buf, (size_t)n);
      if ((size_t)n < sizeof buf)
        return 0;
    } else if (n == 0) {
      wsp_conn_recv(conn, buf, 0);
      return 1;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return 0;
    } else if (errno != EINTR) {
      wsp_conn_recv(conn, buf, 0);
      return -1;
    }
  }
  return 0;
}

int loop_write(int fd, struct wsp_conn *conn) {
  struct iovec iov[64];
  int i, cnt;

  for (i = 0; i < 256; i++) {
    struct msghdr msg = {0};
    ssize_t n;

    cnt = wsp_conn_pending(conn, iov, 64);
    if (cnt <= 0)
      return 0;
    /* sendmsg is writev plus MSG_NOSIGNAL: a vanished peer is an error
     * code here, not a SIGPIPE. */
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)cnt;
    n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
    wsp_conn_sent(conn, (size_t)n);
  }
  return 0;
}

int loop_timeout(uint64_t deadline, uint64_t now) {
  if (deadline == WSP_NO_DEADLINE)
    return -1;
  if (deadline <= now)
    return 0;
  return deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
}

int loop_parse_port(const char *text) {
  char *end;
  long v;

  errno = 0;
  v = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 65535)
    return -1;
  return (int)v;
}

/* ---- A small loop around a hub ------------------------------------------ */

struct hub_client {
  int fd;
  uint32_t events;
  struct wsp_client *wc;
  struct hub_client *next;
};

static void hub_read(struct hub_client *hc) {
  static uint8_t buf[65536];
  int i;

  for (i = 0; i < 16 && wsp_client_want_read(hc->wc); i++) {
    ssize_t n = read(hc->fd, buf, sizeof buf);

    if (n > 0) {
      wsp_client_recv(hc->wc, buf, (size_t)n);
      if ((size_t)n < sizeof buf)
        return;
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      wsp_client_recv(hc->wc, buf, 0); /* end of stream */
      return;
    } else if (errno == EAGAIN) {
      return;
    }
  }
}

/* Write what is pending; 0 when the client goes on, -1 when it is over. */
static int hub_write(int epfd, struct hub_client *hc) {
  struct epoll_event ev = {0};
  struct iovec iov[64];
  int i, cnt;

  for (i = 0; i < 256 && (cnt = wsp_client_pending(hc->wc, iov, 64)) > 0;
       i++) {
    struct msghdr msg = {0};
    ssize_t n;

    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)cnt;
    if ((n = sendmsg(hc->fd, &msg, MSG_NOSIGNAL)) < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN)
        return -1;
      break;
    }
    wsp_client_sent(hc->wc, (size_t)n);
  }
  if (wsp_client_is_done(hc->wc))
    return -1;
  ev.events = (wsp_client_want_read(hc->wc) ? EPOLLIN : 0) |
              (wsp_client_want_write(hc->wc) ? EPOLLOUT : 0);
  ev.data.ptr = hc;
  if (ev.events != hc->events &&
      epoll_ctl(epfd, EPOLL_CTL_MOD, hc->fd, &ev) == 0)
    hc->events = ev.events;
  return 0;
}

int loop_run_hub(struct wsp_server *server, int listen_fd) {
  return loop_run_hub_every(server, listen_fd, 0, NULL, NULL);
}

int loop_run_hub_every(struct wsp_server *server, int listen_fd,
                       uint64_t interval_ms,
                       void (*fn)(struct wsp_server *server, uint64_t now,
                                  void *user_data),
                       void *user_data) {
  struct epoll_event ev = {.events = EPOLLIN}, evs[64];
  struct hub_client *clients = NULL, **p;
  int epfd = epoll_create1(EPOLL_CLOEXEC), sfd = loop_signalfd(), i, n, fd;
  uint64_t stop_at = 0, fire_at = WSP_NO_DEADLINE;

  if (epfd < 0 || sfd < 0)
    return -1;
  ev.data.ptr = &listen_fd;
  epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev);
  ev.data.ptr = &sfd;
  epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
  if (fn != NULL && interval_ms > 0)
    fire_at = loop_now_ms() + interval_ms;
  while (!stop_at || (clients != NULL && loop_now_ms() < stop_at)) {
    uint64_t deadline = wsp_server_next_deadline(server);

    if (!stop_at && fire_at < deadline)
      deadline = fire_at;
    if (stop_at && stop_at < deadline)
      deadline = stop_at;
    n = epoll_wait(epfd, evs, 64, loop_timeout(deadline, loop_now_ms()));
    for (i = 0; i < n; i++) {
      struct hub_client *hc = evs[i].data.ptr;

      if (evs[i].data.ptr == &sfd) {
        struct signalfd_siginfo si;

        while (read(sfd, &si, sizeof si) == sizeof si)
          ;
        if (!stop_at) {
          stop_at = loop_now_ms() + 1000;
          close(listen_fd);
          wsp_server_shutdown(server, WSP_PROTO_DISCONNECT_SHUTDOWN,
                              "shutdown");
        }
      } else if (evs[i].data.ptr == &listen_fd) {
        while (!stop_at && (fd = loop_accept(listen_fd)) >= 0) {
          hc = calloc(1, sizeof *hc);
          if (hc == NULL || wsp_server_accept(server, hc, &hc->wc) < 0) {
            free(hc);
            close(fd);
            continue;
          }
          hc->fd = fd;
          hc->events = EPOLLIN;
          hc->next = clients;
          clients = hc;
          ev.events = EPOLLIN;
          ev.data.ptr = hc;
          epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
        }
      } else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        hub_read(hc);
      }
    }
    if (wsp_server_next_deadline(server) <= loop_now_ms())
      wsp_server_tick(server, loop_now_ms());
    if (!stop_at && fire_at <= loop_now_ms()) {
      uint64_t now = loop_now_ms();

      /* On the interval's grid; a late wake-up does not pile up calls. */
      fire_at += interval_ms;
      if (fire_at <= now)
        fire_at = now + interval_ms;
      fn(server, now, user_data);
    }
    for (p = &clients; *p != NULL;) {
      struct hub_client *hc = *p;

      if (hub_write(epfd, hc) < 0) {
        *p = hc->next;
        loop_close(hc->fd);
        wsp_client_free(hc->wc);
        free(hc);
      } else {
        p = &hc->next;
      }
    }
  }
  while (clients != NULL) {
    struct hub_client *hc = clients;

    clients = hc->next;
    close(hc->fd);
    wsp_client_free(hc->wc);
    free(hc);
  }
  close(sfd);
  close(epfd);
  return 0;
}

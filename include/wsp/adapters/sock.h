/*
 * libwsp - adapters/sock.h: the socket work the event-loop adapters
 * (libuv.h, libevent.h, epoll.h) share, header-only: a listening socket,
 * accept with a descriptor in reserve for EMFILE, reading into and
 * writing from a wsp_client, and the millisecond clock they give the
 * server. See wsp_adapters(3). Nothing here is linked into libwsp.
 *
 * With a strict -std=c11, define _POSIX_C_SOURCE 200809L (or
 * _DEFAULT_SOURCE) before the first #include: getaddrinfo, clock_gettime
 * and MSG_NOSIGNAL are POSIX.1-2008.
 */
#ifndef WSP_ADAPTERS_SOCK_H
#define WSP_ADAPTERS_SOCK_H

#include <wsp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Milliseconds of CLOCK_MONOTONIC, shaped as wsp_server_callbacks.now. */
static inline uint64_t wsp_sock_clock(void *user_data) {
  struct timespec ts;
  (void)user_data;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Non-blocking and close-on-exec; 0 or -1. */
static inline int wsp_sock_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
      fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
    return -1;
  return 0;
}

/* A non-blocking listening TCP socket on host:port (NULL host: every
 * address; port 0: a free one). Returns the fd, or -1 with errno set. */
static inline int wsp_sock_listen(const char *host, int port) {
  struct addrinfo hints, *res = NULL, *ai;
  char service[16];
  int fd = -1, one = 1, err = EADDRNOTAVAIL;

  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  snprintf(service, sizeof service, "%d", port);
  if (port < 0 || port > 65535 || getaddrinfo(host, service, &hints, &res))
    return errno = EINVAL, -1;
  for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (wsp_sock_nonblock(fd) < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) ||
        listen(fd, SOMAXCONN) < 0) {
      err = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0)
    errno = err;
  return fd;
}

/* The port a socket is bound to, or -1. */
static inline int wsp_sock_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;

  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
    return -1;
  if (ss.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  if (ss.ss_family == AF_INET)
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return -1;
}

/* A listening socket and the descriptor kept in reserve for the moment
 * the process runs out of them. Members are the adapters'. */
struct wsp_sock_acceptor {
  int fd;                  /* listening socket, -1 when closed */
  int reserve;             /* /dev/null, -1 when it could not be opened */
  unsigned long long shed; /* connections answered 503 at the fd limit */
};

static inline void wsp_sock_acceptor_init(struct wsp_sock_acceptor *acc,
                                          int listen_fd) {
  acc->fd = listen_fd;
  acc->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
  acc->shed = 0;
}

/* Before closing a connection's socket: read and drop what the peer sent
 * and nobody will read (a ping after its close frame, say). Closing with
 * unread bytes makes the kernel answer RST instead of FIN, and an RST can
 * destroy what the peer has not read yet: the last echo, the close
 * frame. Bounded, non-blocking. */
static inline void wsp_sock_drain(int fd) {
  char buf[4096];
  int i;
  for (i = 0; i < 16 && read(fd, buf, sizeof buf) > 0; i++)
    ;
}

static inline void wsp_sock_acceptor_close(struct wsp_sock_acceptor *acc) {
  if (acc->fd >= 0)
    close(acc->fd);
  if (acc->reserve >= 0)
    close(acc->reserve);
  acc->fd = acc->reserve = -1;
}

static inline int wsp_sock__accept(int listen_fd) {
  int fd;
#if defined(_GNU_SOURCE) && defined(SOCK_NONBLOCK)
  fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
  fd = accept(listen_fd, NULL, NULL);
  if (fd >= 0 && wsp_sock_nonblock(fd) < 0) {
    close(fd);
    fd = -1;
  }
#endif
  return fd;
}

/*
 * Accept one connection as a non-blocking socket with TCP_NODELAY; -1
 * when none is waiting (or on another error, errno set). Out of
 * descriptors (EMFILE, ENFILE) the waiting connection would stay queued
 * and a level-triggered listener readable: the loop would spin while the
 * client waits for nothing. So the reserve is given up to take the
 * connection, which is answered 503 and closed, and taken back.
 */
static inline int wsp_sock_accept(struct wsp_sock_acceptor *acc) {
  static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                             "Content-Length: 0\r\nConnection: close\r\n\r\n";
  int fd, one = 1, i;

  for (i = 0; i < 64; i++) {
    fd = wsp_sock__accept(acc->fd);
    if (fd >= 0) {
      /* Output is batched into one writev already; no Nagle delay. */
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    if (errno == EINTR || errno == ECONNABORTED)
      continue;
    if ((errno != EMFILE && errno != ENFILE) || acc->reserve < 0)
      return -1;
    close(acc->reserve);
    fd = accept(acc->fd, NULL, NULL);
    if (fd >= 0) {
      if (send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* gone already; closed all the same */
      }
      close(fd);
      acc->shed++;
    }
    acc->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return -1;
  }
  errno = EAGAIN; /* more later: the listener is still readable */
  return -1;
}

/*
 * Read what fd has into client, through buf, at most max_reads times
 * (so that one busy peer does not starve the others) and while the
 * client wants to read. Returns 0, or 1 when the stream ended or failed
 * (ECONNRESET...), which was reported to the client.
 */
static inline int wsp_sock_read(int fd, struct wsp_client *client, void *buf,
                                size_t cap, int max_reads) {
  int i;

  for (i = 0; i < max_reads && wsp_client_want_read(client); i++) {
    ssize_t n = read(fd, buf, cap);

    if (n > 0) {
      wsp_client_recv(client, buf, (size_t)n);
      if ((size_t)n < cap)
        return 0;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return 0;
    } else {
      wsp_client_recv(client, buf, 0); /* end of stream */
      return 1;
    }
  }
  return 0;
}

/*
 * Write client's pending output to fd, straight from the iovecs of
 * wsp_client_pending(). Returns 1 when all was written, 0 when the
 * socket is full with output left, -1 when the socket failed (EPIPE,
 * ECONNRESET...; never SIGPIPE).
 */
static inline int wsp_sock_write(int fd, struct wsp_client *client) {
  struct iovec iov[64];
  int cnt, i;

  for (i = 0; i < 1024; i++) {
    struct msghdr msg;
    ssize_t n;

    if ((cnt = wsp_client_pending(client, iov, 64)) <= 0)
      return 1;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)cnt;
    n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
    wsp_client_sent(client, (size_t)n);
  }
  return 0;
}

#ifdef __cplusplus
}
#endif

#endif /* WSP_ADAPTERS_SOCK_H */

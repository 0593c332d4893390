/* Socket, clock and signal helpers shared by the examples. */
#include "loop.h"

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

int loop_accept(int listen_fd) {
  int fd;

  do
    fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd >= 0)
    set_nodelay(fd);
  return fd;
}

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

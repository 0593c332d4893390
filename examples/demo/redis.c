/*
 * wsp-demo: the Redis engine (--redis HOST:PORT). Two sockets to Redis,
 * one per link of the wsp_redis (wsp_redis(3)), in the demo's epoll
 * loop: connected without blocking, read into the engine, written from
 * its pending output, and connected again with a growing delay whenever
 * Redis closes them or the engine gives one up.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../loop.h"
#include "demo.h"

#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000

struct link {
  int id;        /* WSP_REDIS_CMD or WSP_REDIS_SUB */
  int fd;        /* -1 while not connected */
  int connected; /* the connect finished: the engine talks on it */
  uint32_t events;
  uint64_t retry_at; /* when to connect again (fd -1) */
  uint64_t delay;
};

static struct wsp_redis *redis;
static struct link links[WSP_REDIS_LINKS];
static int redis_epfd = -1;
static char redis_host[256];
static char redis_port[16];
static const char *redis_prefix, *redis_node;
static uint64_t redis_timeout, redis_probe; /* 0: the engine's defaults */

static int ms_value(const char *v, uint64_t *out) {
  char *end;
  unsigned long long x;
  if (*v < '0' || *v > '9')
    return -1;
  x = strtoull(v, &end, 10);
  if (*end != '\0' || x == 0 || x > 3600000)
    return -1;
  *out = x;
  return 1;
}

int redis_flag(const char *flag, const char *value) {
  if (strcmp(flag, "--redis") == 0) {
    const char *colon = strrchr(value, ':');
    size_t hl;
    if (!colon || colon == value || !colon[1] ||
        strlen(colon + 1) >= sizeof redis_port)
      return -1;
    hl = (size_t)(colon - value);
    if (value[0] == '[' && hl >= 2 && value[hl - 1] == ']') {
      value++;
      hl -= 2;
    }
    if (hl >= sizeof redis_host)
      return -1;
    memcpy(redis_host, value, hl);
    redis_host[hl] = '\0';
    strcpy(redis_port, colon + 1);
    return 1;
  }
  if (strcmp(flag, "--redis-prefix") == 0) {
    redis_prefix = value;
    return 1;
  }
  if (strcmp(flag, "--redis-timeout") == 0)
    return ms_value(value, &redis_timeout);
  if (strcmp(flag, "--redis-probe") == 0)
    return ms_value(value, &redis_probe);
  if (strcmp(flag, "--node-name") == 0) {
    redis_node = value;
    return 1;
  }
  return 0;
}

int redis_on(void) { return redis_host[0] != '\0'; }

struct wsp_redis *redis_engine(void) {
  return redis;
}

static void watch(struct link *l, uint32_t events) {
  struct epoll_event ev;
  if (l->fd < 0 || l->events == events)
    return;
  ev.events = events;
  ev.data.ptr = l;
  epoll_ctl(redis_epfd, EPOLL_CTL_MOD, l->fd, &ev);
  l->events = events;
}

/* Close the socket; connect again after the delay. */
static void link_lost(struct link *l, int tell) {
  if (l->fd >= 0) {
    epoll_ctl(redis_epfd, EPOLL_CTL_DEL, l->fd, NULL);
    close(l->fd);
    if (l->connected)
      fprintf(stderr, "wsp-demo: redis %s link lost\n",
              l->id == WSP_REDIS_CMD ? "command" : "pub/sub");
  }
  if (tell && l->connected)
    wsp_redis_link_down(redis, l->id);
  l->fd = -1;
  l->connected = 0;
  l->events = 0;
  l->delay = l->delay ? l->delay * 2 : RETRY_MIN_MS;
  if (l->delay > RETRY_MAX_MS)
    l->delay = RETRY_MAX_MS;
  l->retry_at = loop_now_ms() + l->delay;
}

static void link_connect(struct link *l) {
  struct addrinfo hints, *ai = NULL, *a;
  struct epoll_event ev;
  int fd = -1, one = 1;

  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(redis_host, redis_port, &hints, &ai) != 0) {
    link_lost(l, 0);
    return;
  }
  for (a = ai; a; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                a->ai_protocol);
    if (fd < 0)
      continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS)
      break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(ai);
  if (fd < 0) {
    link_lost(l, 0);
    return;
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  l->fd = fd;
  l->connected = 0;
  l->events = EPOLLOUT;
  ev.events = EPOLLOUT;
  ev.data.ptr = l;
  epoll_ctl(redis_epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Write what the engine has for l; watch for room when it is not all. */
static void link_flush(struct link *l) {
  struct iovec iov[64];
  int n;
  if (l->fd < 0 || !l->connected)
    return;
  while ((n = wsp_redis_pending(redis, l->id, iov, 64)) > 0) {
    ssize_t w = writev(l->fd, iov, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && errno == EAGAIN) {
      watch(l, EPOLLIN | EPOLLOUT);
      return;
    }
    if (w <= 0) {
      link_lost(l, 1);
      return;
    }
    wsp_redis_sent(redis, l->id, (size_t)w);
  }
  watch(l, EPOLLIN);
}

static void on_want_write(struct wsp_redis *r, int link, void *ud) {
  (void)r;
  (void)ud;
  (void)link; /* written before the loop sleeps: redis_flush() */
}

static void on_link_reset(struct wsp_redis *r, int link, void *ud) {
  (void)r;
  (void)ud;
  fprintf(stderr, "wsp-demo: redis %s link reset by the engine\n",
          link == WSP_REDIS_CMD ? "command" : "pub/sub");
  links[link].connected = 0; /* the engine has put it down already */
  link_lost(&links[link], 0);
}

int redis_init(struct wsp_server *server, int epfd) {
  struct wsp_redis_config cfg;
  struct wsp_redis_callbacks cb;
  int rc, i;

  if (!redis_on())
    return 0;
  redis_epfd = epfd;
  memset(&cfg, 0, sizeof cfg);
  cfg.prefix = redis_prefix;
  cfg.node = redis_node;
  cfg.timeout = redis_timeout;
  cfg.probe_interval = redis_probe;
  memset(&cb, 0, sizeof cb);
  cb.on_want_write = on_want_write;
  cb.on_link_reset = on_link_reset;
  if ((rc = wsp_redis_new(&redis, &cfg, &cb, NULL, loop_now_ms(), NULL)) < 0 ||
      (rc = wsp_server_set_redis(server, redis)) < 0) {
    fprintf(stderr, "wsp-demo: redis: %s\n", wsp_strerror(rc));
    return -1;
  }
  for (i = 0; i < WSP_REDIS_LINKS; i++) {
    links[i].id = i;
    links[i].fd = -1;
    link_connect(&links[i]);
  }
  fprintf(stderr, "wsp-demo: node %s on redis %s:%s\n",
          wsp_redis_get_node(redis), redis_host, redis_port);
  return 0;
}

int redis_owns(const void *tag) {
  return tag >= (const void *)&links[0] &&
         tag < (const void *)&links[WSP_REDIS_LINKS];
}

void redis_io(void *tag, uint32_t events) {
  struct link *l = tag;
  static char buf[65536];

  if (l->fd < 0)
    return;
  if (!l->connected) {
    int err = 0;
    socklen_t len = sizeof err;
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
      return;
    if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
      link_lost(l, 0);
      return;
    }
    l->connected = 1;
    l->delay = 0;
    wsp_redis_link_up(redis, l->id);
    watch(l, EPOLLIN);
    return;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    for (;;) {
      ssize_t n = read(l->fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        break;
      if (n <= 0) {
        link_lost(l, 1);
        return;
      }
      if (wsp_redis_recv(redis, l->id, buf, (size_t)n) < 0 || l->fd < 0)
        return; /* reset by the engine (on_link_reset) */
      if ((size_t)n < sizeof buf)
        break;
    }
  }
}

uint64_t redis_next_deadline(void) {
  uint64_t d;
  int i;
  if (!redis)
    return WSP_NO_DEADLINE;
  d = wsp_redis_next_deadline(redis);
  for (i = 0; i < WSP_REDIS_LINKS; i++)
    if (links[i].fd < 0 && links[i].retry_at < d)
      d = links[i].retry_at;
  return d;
}

void redis_tick(uint64_t now) {
  int i;
  if (!redis)
    return;
  for (i = 0; i < WSP_REDIS_LINKS; i++)
    if (links[i].fd < 0 && links[i].retry_at <= now)
      link_connect(&links[i]);
  if (wsp_redis_next_deadline(redis) <= now)
    wsp_redis_tick(redis, now);
}

void redis_flush(void) {
  int i;
  if (!redis)
    return;
  for (i = 0; i < WSP_REDIS_LINKS; i++)
    link_flush(&links[i]);
}

void redis_free(void) {
  int i;
  if (!redis)
    return;
  for (i = 0; i < WSP_REDIS_LINKS; i++)
    if (links[i].fd >= 0)
      close(links[i].fd);
  wsp_redis_free(redis);
  redis = NULL;
}

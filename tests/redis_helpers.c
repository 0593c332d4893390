/* A redis-server of the test's own, and a pump for wsp_redis links. */
#include "redis_helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#define SERVER_PROGRAM "redis-server"
#define START_TRIES 5
#define START_WAIT_MS 5000
#define STOP_WAIT_MS 2000
#define IO_CHUNK 65536
#define PING_INLINE "PING\r\n"
#define PONG_REPLY "+PONG\r\n"
#define LIT_LEN(lit) (sizeof(lit) - 1)

uint64_t tredis_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* Whether PATH has an executable redis-server. */
static int have_server(void) {
  const char *path = getenv("PATH");
  char dir[4096];
  if (!path)
    path = "/usr/local/bin:/usr/bin:/bin";
  while (*path) {
    size_t n = strcspn(path, ":");
    if (n > 0 && n < sizeof dir - sizeof SERVER_PROGRAM - 1) {
      memcpy(dir, path, n);
      snprintf(dir + n, sizeof dir - n, "/%s", SERVER_PROGRAM);
      if (access(dir, X_OK) == 0)
        return 1;
    }
    path += n;
    if (*path == ':')
      path++;
  }
  return 0;
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((uint16_t)port);
  return sa;
}

/* A port nobody listens on now: the kernel's pick for 127.0.0.1:0. */
static int free_port(void) {
  struct sockaddr_in sa = loopback(0);
  socklen_t len = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0), port;
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  port = ntohs(sa.sin_port);
  close(fd);
  return port;
}

/* 1 when the server on port answers PING. */
static int answers(int port) {
  struct sockaddr_in sa = loopback(port);
  char buf[16];
  ssize_t n;
  size_t got = 0;
  int fd = socket(AF_INET, SOCK_STREAM, 0), ok = 0;
  if (fd < 0)
    return 0;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
      send(fd, PING_INLINE, LIT_LEN(PING_INLINE), MSG_NOSIGNAL) ==
          (ssize_t)LIT_LEN(PING_INLINE)) {
    while (got < LIT_LEN(PONG_REPLY) &&
           (n = read(fd, buf + got, LIT_LEN(PONG_REPLY) - got)) > 0)
      got += (size_t)n;
    ok = got == LIT_LEN(PONG_REPLY) && !memcmp(buf, PONG_REPLY, got);
  }
  close(fd);
  return ok;
}

static pid_t spawn(int port) {
  char portstr[16];
  pid_t pid;
  snprintf(portstr, sizeof portstr, "%d", port);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, STDIN_FILENO);
      dup2(null, STDOUT_FILENO);
      dup2(null, STDERR_FILENO);
    }
    execlp(SERVER_PROGRAM, SERVER_PROGRAM, "--port", portstr, "--bind",
           "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
           "--enable-debug-command", "local", (char *)NULL);
    _exit(127);
  }
  return pid;
}

int tredis_start(struct tredis_server *s) {
  memset(s, 0, sizeof *s);
  if (!have_server())
    return -1;
  for (int tries = 0; tries < START_TRIES; tries++) {
    int port = free_port(), status;
    pid_t pid = spawn(port);
    uint64_t until = tredis_now() + START_WAIT_MS;
    /* Another process may take the port first: the child then exits,
     * and we try another. */
    while (tredis_now() < until) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = 0;
        break;
      }
      if (answers(port)) {
        s->pid = pid;
        s->port = port;
        return 0;
      }
      sleep_ms(10);
    }
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
  }
  fail_msg("redis-server did not start");
  return -1;
}

void tredis_stop(struct tredis_server *s) {
  int status;
  uint64_t until;
  if (s->pid <= 0)
    return;
  kill(s->pid, SIGTERM);
  until = tredis_now() + STOP_WAIT_MS;
  while (waitpid(s->pid, &status, WNOHANG) != s->pid) {
    if (tredis_now() >= until) {
      kill(s->pid, SIGKILL);
      waitpid(s->pid, &status, 0);
      break;
    }
    sleep_ms(5);
  }
  s->pid = 0;
}

int tredis_connect(const struct tredis_server *s) {
  struct sockaddr_in sa = loopback(s->port);
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  assert_true(fd >= 0);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one),
                   0);
  assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
  return fd;
}

/* ---- The application -------------------------------------------------- */

void tredis_app_init(struct tredis_app *a, const struct tredis_server *s) {
  memset(a, 0, sizeof *a);
  a->server = s;
  for (int i = 0; i < WSP_REDIS_LINKS; i++)
    a->fd[i] = -1;
}

uint64_t tredis_app_clock(const struct tredis_app *a) {
  return tredis_now() + a->offset;
}

void tredis_link_open(struct tredis_app *a, int link) {
  assert_true(a->fd[link] < 0);
  a->fd[link] = tredis_connect(a->server);
  assert_int_equal(wsp_redis_link_up(a->r, link), 0);
}

void tredis_link_close(struct tredis_app *a, int link) {
  if (wsp_redis_is_up(a->r, link))
    assert_int_equal(wsp_redis_link_down(a->r, link), 0);
  if (a->fd[link] >= 0)
    close(a->fd[link]);
  a->fd[link] = -1;
}

void tredis_app_free(struct tredis_app *a) {
  for (int i = 0; i < WSP_REDIS_LINKS; i++) {
    if (a->fd[i] >= 0)
      close(a->fd[i]);
    a->fd[i] = -1;
  }
  wsp_redis_free(a->r);
  a->r = NULL;
}

/* Close the socket of a link the library gave up. */
static void reap(struct tredis_app *a) {
  for (int i = 0; i < WSP_REDIS_LINKS; i++)
    if (a->fd[i] >= 0 && !wsp_redis_is_up(a->r, i)) {
      close(a->fd[i]);
      a->fd[i] = -1;
    }
}

static size_t write_link(struct tredis_app *a, int link) {
  struct iovec iov[64];
  size_t max = a->io_max ? a->io_max : IO_CHUNK * 16, len = 0;
  int n = wsp_redis_pending(a->r, link, iov, 64);
  struct msghdr msg;
  ssize_t w;
  assert_true(n >= 0);
  if (n == 0)
    return 0;
  for (int i = 0; i < n; i++) {
    if (len + iov[i].iov_len > max) {
      iov[i].iov_len = max - len;
      n = i + 1;
    }
    len += iov[i].iov_len;
  }
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = iov;
  msg.msg_iovlen = (size_t)n;
  w = sendmsg(a->fd[link], &msg, MSG_NOSIGNAL);
  if (w < 0) {
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK || errno == EPIPE ||
                errno == ECONNRESET);
    return 0;
  }
  assert_int_equal(wsp_redis_sent(a->r, link, (size_t)w), 0);
  return (size_t)w;
}

size_t tredis_pump_once(struct tredis_app *a, int wait_ms) {
  struct pollfd pfd[WSP_REDIS_LINKS];
  static char buf[IO_CHUNK];
  size_t moved = 0;
  int n = 0, map[WSP_REDIS_LINKS];
  for (int i = 0; i < WSP_REDIS_LINKS; i++) {
    if (a->fd[i] < 0)
      continue;
    moved += write_link(a, i);
    pfd[n].fd = a->fd[i];
    pfd[n].events = POLLIN;
    if (wsp_redis_want_write(a->r, i))
      pfd[n].events |= POLLOUT;
    pfd[n].revents = 0;
    map[n++] = i;
  }
  if (n > 0 && poll(pfd, (nfds_t)n, moved ? 0 : wait_ms) > 0) {
    for (int k = 0; k < n; k++) {
      int link = map[k];
      size_t max = a->io_max && a->io_max < sizeof buf ? a->io_max : sizeof buf;
      ssize_t got;
      if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) || a->fd[link] < 0)
        continue;
      got = read(a->fd[link], buf, max);
      if (got > 0) {
        moved += (size_t)got;
        wsp_redis_recv(a->r, link, buf, (size_t)got);
      } else if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        tredis_link_close(a, link);
      }
    }
  } else if (n == 0 && wait_ms > 0) {
    sleep_ms(wait_ms < 5 ? wait_ms : 5);
  }
  reap(a);
  wsp_redis_tick(a->r, tredis_app_clock(a));
  reap(a);
  return moved;
}

int tredis_pump_until(struct tredis_app *a, int (*done)(void *arg), void *arg,
                      int timeout_ms) {
  uint64_t until = tredis_now() + (uint64_t)timeout_ms;
  while (!done(arg) && tredis_now() < until)
    tredis_pump_once(a, 5);
  return done(arg);
}

struct count_arg {
  const int *counter;
  int want;
};

static int count_done(void *arg) {
  const struct count_arg *c = arg;
  return *c->counter >= c->want;
}

void tredis_pump_count(struct tredis_app *a, const int *counter, int want,
                       int timeout_ms) {
  struct count_arg c = {counter, want};
  if (!tredis_pump_until(a, count_done, &c, timeout_ms))
    fail_msg("pumped %d ms: %d of %d events", timeout_ms, *counter, want);
}

int tredis_start_group(struct tredis_server *s) {
  if (tredis_start(s) == 0)
    return 1;
  print_message("redis-server not found: the tests that need it are "
                "skipped\n");
  return 0;
}

/*
 * The adapter headers together in one file, built with -Wpedantic
 * -Werror as C11 (with only _POSIX_C_SOURCE, not _GNU_SOURCE) and, from
 * compile.cc, as C++; run, it attaches each adapter to a server on a free
 * loopback port and frees it again.
 */
#include <wsp/adapters/epoll.h>
#include <wsp/adapters/libevent.h>
#include <wsp/adapters/libuv.h>

#include <stdio.h>

static int fail(const char *what) {
  printf("FAIL %s\n", what);
  return 1;
}

static int server_on(struct wsp_server **server,
                     void (*fill)(struct wsp_server_callbacks *),
                     uint64_t (*clock)(void *)) {
  struct wsp_server_callbacks cb;

  memset(&cb, 0, sizeof cb);
  fill(&cb);
  if (cb.on_want_write == NULL || cb.now != clock)
    return -1;
  return wsp_server_new(server, &cb, NULL, clock(NULL), NULL);
}

int main(void) {
  struct wsp_server *server;
  struct wsp_epoll *ep;
  struct wsp_uv *uv;
  struct wsp_event *ev;
  struct event_base *base;
  uv_loop_t loop;

  if (server_on(&server, wsp_epoll_callbacks, wsp_epoll_clock) < 0 ||
      wsp_epoll_listen(server, "127.0.0.1", 0, &ep) < 0)
    return fail("epoll: listen");
  if (wsp_epoll_get_port(ep) <= 0 || wsp_epoll_dispatch(ep, 0) != 0)
    return fail("epoll: port, dispatch");
  wsp_epoll_free(ep);
  wsp_server_free(server);
  printf("ok   epoll: listen, dispatch, free\n");

  if (uv_loop_init(&loop) != 0 ||
      server_on(&server, wsp_uv_callbacks, wsp_uv_clock) < 0 ||
      wsp_uv_listen(&loop, server, "127.0.0.1", 0, &uv) < 0)
    return fail("libuv: listen");
  if (wsp_uv_get_port(uv) <= 0 || uv_run(&loop, UV_RUN_NOWAIT) < 0)
    return fail("libuv: port, run");
  wsp_uv_free(uv);
  uv_run(&loop, UV_RUN_DEFAULT);
  wsp_server_free(server);
  if (uv_loop_close(&loop) != 0)
    return fail("libuv: the adapter left a handle open");
  printf("ok   libuv: listen, run, free, loop closed\n");

  if ((base = event_base_new()) == NULL ||
      server_on(&server, wsp_event_callbacks, wsp_event_clock) < 0 ||
      wsp_event_listen(base, server, "127.0.0.1", 0, &ev) < 0)
    return fail("libevent: listen");
  if (wsp_event_get_port(ev) <= 0 || event_base_loop(base, EVLOOP_NONBLOCK) < 0)
    return fail("libevent: port, loop");
  wsp_event_free(ev);
  if (event_base_loop(base, 0) != 1)
    return fail("libevent: the adapter left an event pending");
  event_base_free(base);
  wsp_server_free(server);
  printf("ok   libevent: listen, loop, free, nothing left pending\n");
  return 0;
}

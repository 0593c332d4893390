/*
 * libwsp built without Redis support (meson -Dredis=disabled, or no
 * hiredis): the wsp_redis functions exist all the same, so that the ABI
 * does not depend on the build, and wsp_redis_new() says it cannot.
 */
#include <string.h>

#include "internal.h"
#include "wsp/redis.h"

int wsp_redis_new(struct wsp_redis **predis, const struct wsp_redis_config *cfg,
                  const struct wsp_redis_callbacks *callbacks,
                  const struct wsp_mem *mem, uint64_t now, void *user_data) {
  WSP__UNUSED(cfg);
  WSP__UNUSED(callbacks);
  WSP__UNUSED(mem);
  WSP__UNUSED(now);
  WSP__UNUSED(user_data);
  if (!predis)
    return WSP_ERR_INVAL;
  *predis = NULL;
  return WSP_ERR_STATE; /* built without Redis support */
}

/* No object can exist: the rest is for a NULL one. */

void wsp_redis_free(struct wsp_redis *redis) { WSP__UNUSED(redis); }

int wsp_redis_link_up(struct wsp_redis *redis, int link) {
  WSP__UNUSED(redis);
  WSP__UNUSED(link);
  return WSP_ERR_INVAL;
}

int wsp_redis_link_down(struct wsp_redis *redis, int link) {
  WSP__UNUSED(redis);
  WSP__UNUSED(link);
  return WSP_ERR_INVAL;
}

int wsp_redis_is_up(const struct wsp_redis *redis, int link) {
  WSP__UNUSED(redis);
  WSP__UNUSED(link);
  return 0;
}

int wsp_redis_recv(struct wsp_redis *redis, int link, const void *data,
                   size_t len) {
  WSP__UNUSED(redis);
  WSP__UNUSED(link);
  WSP__UNUSED(data);
  WSP__UNUSED(len);
  return WSP_ERR_INVAL;
}

int wsp_redis_pending(const struct wsp_redis *redis, int link,
                      struct iovec *iov, int iovcnt) {
  WSP__UNUSED(redis);
  WSP__UNUSED(link);
  WSP__UNUSED(iov);
  WSP__UNUSED(iovcnt);
  return WSP_ERR_INVAL;
}

int wsp_redis_sent(struct wsp_redis *redis, int link, size_t n) {
  WSP__UNUSED(redis);
  WSP__UNUSED(link);
  WSP__UNUSED(n);
  return WSP_ERR_INVAL;
}

int wsp_redis_want_write(const struct wsp_redis *redis, int link) {
  WSP__UNUSED(redis);
  WSP__UNUSED(link);
  return 0;
}

int wsp_redis_tick(struct wsp_redis *redis, uint64_t now) {
  WSP__UNUSED(redis);
  WSP__UNUSED(now);
  return WSP_ERR_INVAL;
}

uint64_t wsp_redis_next_deadline(const struct wsp_redis *redis) {
  WSP__UNUSED(redis);
  return WSP_NO_DEADLINE;
}

void wsp_redis_get_stats(const struct wsp_redis *redis,
                         struct wsp_redis_stats *out) {
  WSP__UNUSED(redis);
  if (out)
    memset(out, 0, sizeof *out);
}

const char *wsp_redis_get_node(const struct wsp_redis *redis) {
  WSP__UNUSED(redis);
  return NULL;
}

int wsp_server_set_redis(struct wsp_server *server, struct wsp_redis *redis) {
  if (!server)
    return WSP_ERR_INVAL;
  /* NULL is the embedded engine, which is always there */
  return redis ? WSP_ERR_STATE : 0;
}

int wsp_redis_session_create(struct wsp_redis *redis, const char *user,
                             const void *data, size_t len, uint64_t ttl_ms,
                             wsp_redis_session_fn *done, void *user_data) {
  WSP__UNUSED(redis);
  WSP__UNUSED(user);
  WSP__UNUSED(data);
  WSP__UNUSED(len);
  WSP__UNUSED(ttl_ms);
  WSP__UNUSED(done);
  WSP__UNUSED(user_data);
  return WSP_ERR_INVAL;
}

int wsp_redis_session_get(struct wsp_redis *redis, const char *id,
                          uint64_t ttl_ms, wsp_redis_session_fn *done,
                          void *user_data) {
  WSP__UNUSED(redis);
  WSP__UNUSED(id);
  WSP__UNUSED(ttl_ms);
  WSP__UNUSED(done);
  WSP__UNUSED(user_data);
  return WSP_ERR_INVAL;
}

int wsp_redis_session_destroy(struct wsp_redis *redis, const char *id,
                              wsp_redis_session_fn *done, void *user_data) {
  WSP__UNUSED(redis);
  WSP__UNUSED(id);
  WSP__UNUSED(done);
  WSP__UNUSED(user_data);
  return WSP_ERR_INVAL;
}

/*
 * The hub's index of connections by user id, for pushes and server-side
 * subscriptions to every connection of a user (push.c). Part of the hub
 * core: it knows connections and user ids, no protocol.
 */
#include <string.h>

#include "hub_private.h"

/* The users index is a pubsub whose channels are the hex of user ids, so
 * that no id can read as a wildcard pattern. Ids are at most 255 bytes
 * (wsp_client_set_user), so the key fits on the stack: removing a client
 * from the index never allocates and cannot fail. */
#define USER_MAX 255

static int user_key(const char *user, char key[2 * USER_MAX + 1], size_t *len) {
  static const char hex[] = "0123456789abcdef";
  size_t n = strlen(user), i;
  if (n > USER_MAX)
    return WSP_ERR_INVAL;
  for (i = 0; i < n; i++) {
    key[2 * i] = hex[(unsigned char)user[i] >> 4];
    key[2 * i + 1] = hex[(unsigned char)user[i] & 15];
  }
  *len = 2 * n;
  return 0;
}

int wsp__users_set(struct wsp_client *cl, const char *old, const char *user) {
  struct wsp_server *s = cl->srv;
  char k[2 * USER_MAX + 1];
  size_t len;
  int rv;
  if (user && *user) {
    if ((rv = user_key(user, k, &len)) != 0)
      return rv;
    rv = wsp_pubsub_subscribe(s->users, k, len, cl);
    if (rv != 0 && rv != WSP_ERR_STATE)
      return rv;
  }
  if (old && *old && (!user || strcmp(old, user) != 0) &&
      user_key(old, k, &len) == 0)
    wsp_pubsub_unsubscribe(s->users, k, len, cl);
  return 0;
}

long wsp__users_each(struct wsp_server *s, const char *user,
                     void (*fn)(void *, const char *, size_t, void *),
                     void *ud) {
  char k[2 * USER_MAX + 1];
  size_t len;
  if (!*user || user_key(user, k, &len) != 0)
    return 0; /* no such user can be connected */
  return wsp_pubsub_publish(s->users, k, len, fn, ud);
}

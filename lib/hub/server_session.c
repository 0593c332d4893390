/*
 * The hub's side of sessions: which connections a session cookie
 * authenticated, so that a logout can close them, and the Origin check
 * that keeps another site from opening such a connection in the user's
 * browser (cross-site WebSocket hijacking). Browsers send cookies with a
 * cross-origin WebSocket upgrade and the Same-Origin Policy does not
 * apply to WebSockets, so the Origin header is the only defence; a token
 * the page must present itself needs none.
 */
#include <string.h>

#include "hub_private.h"
#include "wsp/request.h"

int wsp_client_set_session(struct wsp_client *cl, const char *session) {
  char *copy = NULL;
  if (!cl)
    return WSP_ERR_INVAL;
  if (session) {
    size_t n = strlen(session);
    if (n == 0 || n > 255)
      return WSP_ERR_INVAL;
    copy = wsp__strndup(&cl->srv->mem, session, n);
    if (!copy)
      return WSP_ERR_NOMEM;
  }
  wsp__free(&cl->srv->mem, cl->session);
  cl->session = copy;
  return 0;
}

const char *wsp_client_get_session(const struct wsp_client *cl) {
  return cl ? cl->session : NULL;
}

static void free_origins(struct wsp_server *s) {
  while (s->norigins > 0)
    wsp__free(&s->mem, s->origins[--s->norigins]);
  wsp__free(&s->mem, s->origins);
  s->origins = NULL;
}

int wsp_server_set_allowed_origins(struct wsp_server *s,
                                   const char *const *origins, size_t n) {
  char **a = NULL;
  size_t i;
  if (!s || (n && !origins) || n > 1024)
    return WSP_ERR_INVAL;
  for (i = 0; i < n; i++)
    if (!origins[i] || !origins[i][0])
      return WSP_ERR_INVAL;
  if (n) {
    a = wsp__malloc(&s->mem, n * sizeof(*a));
    if (!a)
      return WSP_ERR_NOMEM;
    for (i = 0; i < n; i++) {
      a[i] = wsp__strndup(&s->mem, origins[i], strlen(origins[i]));
      if (!a[i]) {
        while (i > 0)
          wsp__free(&s->mem, a[--i]);
        wsp__free(&s->mem, a);
        return WSP_ERR_NOMEM;
      }
    }
  }
  free_origins(s);
  s->origins = a;
  s->norigins = n;
  return 0;
}

int wsp_server_set_origin_policy(struct wsp_server *s, unsigned flags) {
  if (!s || (flags & ~(WSP_ORIGIN_CHECK | WSP_ORIGIN_SECURE)))
    return WSP_ERR_INVAL;
  s->origin_policy = flags;
  return 0;
}

long wsp_server_disconnect_session(struct wsp_server *s, const char *session,
                                   int code, const char *reason) {
  long n;
  if (!s || !session)
    return WSP_ERR_INVAL;
  n = wsp__sess_disconnect(s, session, code, reason);
  wsp__ctl_send(s, WSP__CTL_DISCONNECT_SESSION, code, session, reason,
                reason ? strlen(reason) : 0);
  return n;
}

long wsp__sess_disconnect(struct wsp_server *s, const char *session, int code,
                          const char *reason) {
  struct wsp_client *cl, *next;
  long n = 0;
  /* A walk over every connection: logouts are rare, and an index would
   * cost every connection memory. */
  for (cl = s->first; cl; cl = next) {
    next = cl->next;
    if (cl->session && strcmp(cl->session, session) == 0 && !cl->gone) {
      int st = wsp_conn_get_state(cl->conn);
      if (st == WSP_STATE_OPEN && wsp_client_disconnect(cl, code, reason) == 0)
        n++;
    }
  }
  return n;
}

int wsp__sess_origin_ok(const struct wsp_client *cl,
                        const struct wsp_request *req) {
  const struct wsp_server *s = cl->srv;
  return !(s->origin_policy & WSP_ORIGIN_CHECK) ||
         wsp_origin_allowed(req, (const char *const *)s->origins, s->norigins,
                            (s->origin_policy & WSP_ORIGIN_SECURE) != 0);
}

int wsp__sess_origin_refused(struct wsp_client *cl,
                             const struct wsp_request *req) {
  struct wsp_server *s = cl->srv;
  static const char msg[] = "cross-origin request refused\n";
  if (!cl->session || !req->websocket ||
      !(s->origin_policy & WSP_ORIGIN_CHECK) ||
      wsp_conn_get_state(cl->conn) != WSP_STATE_HANDSHAKE)
    return 0;
  if (wsp_origin_allowed(req, (const char *const *)s->origins, s->norigins,
                         (s->origin_policy & WSP_ORIGIN_SECURE) != 0))
    return 0;
  s->stats.refused_origin++;
  wsp_conn_respond(cl->conn, 403, NULL, msg, sizeof(msg) - 1);
  return 1;
}

void wsp__sess_server_free(struct wsp_server *s) { free_origins(s); }

void wsp__sess_client_free(struct wsp_client *cl) {
  wsp__free(&cl->srv->mem, cl->session);
  cl->session = NULL;
}

/*
 * Static files for the demo's browser page: GET / and GET /NAME from the
 * www directory, and GET /centrifuge.js from the client bundle's path. The
 * directory is flat and names are restricted to letters, digits, '.', '-'
 * and '_' (not leading '.'), so no request can leave it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

#define MAX_FILE (4u << 20)

static const char *www_dir, *bundle_path;

void www_init(const char *dir, const char *centrifuge_js) {
  www_dir = dir;
  bundle_path = centrifuge_js;
}

static void respond_text(struct wsp_client *client, int status,
                         const char *text) {
  wsp_client_respond(client, status, "text/plain; charset=utf-8", text,
                     strlen(text));
}

static const char *content_type(const char *name) {
  static const struct {
    const char *ext, *type;
  } types[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".ico", "image/x-icon"},
  };
  const char *dot = strrchr(name, '.');
  size_t i;

  for (i = 0; dot != NULL && i < sizeof types / sizeof types[0]; i++)
    if (strcmp(dot, types[i].ext) == 0)
      return types[i].type;
  return "application/octet-stream";
}

/* The whole file in a malloc'ed buffer; NULL when unreadable or huge. */
static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *data = NULL;
  long size;

  if (f == NULL)
    return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
      (unsigned long)size <= MAX_FILE && fseek(f, 0, SEEK_SET) == 0 &&
      (data = malloc((size_t)size + 1)) != NULL &&
      fread(data, 1, (size_t)size, f) != (size_t)size) {
    free(data);
    data = NULL;
  }
  if (data != NULL)
    *len = (size_t)size;
  fclose(f);
  return data;
}

static int valid_name(const char *p, size_t len) {
  size_t i;

  if (len == 0 || p[0] == '.')
    return 0;
  for (i = 0; i < len; i++)
    if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
          (p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == '-' ||
          p[i] == '_'))
      return 0;
  return 1;
}

void www_serve(struct wsp_client *client, const struct wsp_request *req) {
  char name[64], path[4096];
  const char *file = path;
  char *data;
  size_t len = 0;

  if (req->method.len != 3 || memcmp(req->method.ptr, "GET", 3) != 0) {
    respond_text(client, 405, "method not allowed\n");
    return;
  }
  if (req->path.len == 1 && req->path.ptr[0] == '/') {
    strcpy(name, "index.html");
  } else if (req->path.len >= 2 && req->path.len <= sizeof name &&
             valid_name(req->path.ptr + 1, req->path.len - 1)) {
    memcpy(name, req->path.ptr + 1, req->path.len - 1);
    name[req->path.len - 1] = '\0';
  } else {
    respond_text(client, 404, "not found\n");
    return;
  }
  if (strcmp(name, "centrifuge.js") == 0)
    file = bundle_path;
  else
    snprintf(path, sizeof path, "%s/%s", www_dir, name);

  if ((data = read_file(file, &len)) == NULL) {
    respond_text(client, 404,
                 file == bundle_path
                     ? "centrifuge.js not found: run "
                       "tests/interop/centrifuge/setup.sh or pass "
                       "--centrifuge-js FILE\n"
                     : "not found\n");
    return;
  }
  /* The page is for trying things out: always fetch the current files. */
  wsp_conn_add_header(wsp_client_get_conn(client), "Cache-Control", "no-cache");
  wsp_client_respond(client, 200, content_type(name), data, len);
  free(data);
}

/* The method "sum": its data is an array of integers, [1,2,3], and it
 * replies {"sum":6}. user_data is a writer made once, at start-up, with
 * wsp_json_writer_new(NULL). */
static void sum(struct wsp_client *client, uint64_t call, const char *method,
                const uint8_t *data, size_t len, void *user_data) {
  struct wsp_json_writer *w = user_data;
  struct wsp_json a, v;
  size_t i = 0, n;
  int64_t x, total = 0;
  const char *reply;

  wsp_json_parse(data, len, &a, NULL); /* the hub validated it already */
  while (wsp_json_next(&a, &i, NULL, &v) == 1 && wsp_json_int64(&v, &x) == 0)
    total += x;

  wsp_json_writer_reset(w);
  wsp_json_writer_begin_object(w);
  wsp_json_writer_key(w, "sum");
  wsp_json_writer_int64(w, total);
  wsp_json_writer_end_object(w);
  if ((reply = wsp_json_writer_data(w, &n)) != NULL)
    wsp_rpc_reply(wsp_client_get_server(client), call, reply, n);
  else
    wsp_rpc_error(wsp_client_get_server(client), call, 100, NULL, 1);
}

/*
 * JWT verification (wsp/jwt.h) against keys and tokens made by another
 * implementation: tests/jwt/make-fixtures.mjs makes them with the jose npm
 * package (the test jwt-jose makes a new set on every run; the set in
 * tests/jwt is a copy for machines without node). The fixtures are read at run time from the directory
 * named by argv[1] or, failing that, the WSP_JWT_FIXTURES environment
 * variable. Every token's times are relative to NOW.
 */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>
#include <wsp/jwt.h>

#define NOW INT64_C(1700000000)
#define MAX_TOKENS 128

static const char *fixture_dir;

struct tok {
  char name[64];
  char *text;
  size_t len;
};

static struct tok toks[MAX_TOKENS];
static size_t ntoks;

/* ---- Fixtures ----------------------------------------------------------- */

/* The file's bytes, NUL-terminated; fails the test if unreadable. */
static char *slurp(const char *name, size_t *len) {
  char path[1024];
  FILE *f;
  char *buf;
  long n;
  snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
  f = fopen(path, "rb");
  if (!f)
    fail_msg("cannot open %s (pass tests/jwt as argv[1])", path);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  n = ftell(f);
  assert_true(n >= 0);
  rewind(f);
  buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = '\0';
  fclose(f);
  if (len)
    *len = (size_t)n;
  return buf;
}

static int load_tokens(void **state) {
  char *all, *line, *save = NULL;
  (void)state;
  all = slurp("tokens.txt", NULL);
  for (line = strtok_r(all, "\n", &save); line && ntoks < MAX_TOKENS;
       line = strtok_r(NULL, "\n", &save)) {
    char *sp = strchr(line, ' ');
    if (!sp || (size_t)(sp - line) >= sizeof(toks[0].name))
      continue;
    memcpy(toks[ntoks].name, line, (size_t)(sp - line));
    toks[ntoks].name[sp - line] = '\0';
    toks[ntoks].len = strlen(sp + 1);
    toks[ntoks].text = malloc(toks[ntoks].len + 1);
    if (!toks[ntoks].text)
      return -1;
    memcpy(toks[ntoks].text, sp + 1, toks[ntoks].len + 1);
    ntoks++;
  }
  free(all);
  return ntoks > 0 ? 0 : -1;
}

static int free_tokens(void **state) {
  size_t i;
  (void)state;
  for (i = 0; i < ntoks; i++)
    free(toks[i].text);
  ntoks = 0;
  return 0;
}

static const struct tok *tok(const char *name) {
  size_t i;
  for (i = 0; i < ntoks; i++)
    if (strcmp(toks[i].name, name) == 0)
      return &toks[i];
  fail_msg("no token %s in tokens.txt", name);
  return NULL;
}

/* Add the PEM file to ks with algs; returns the add's result. */
static int add_pem_file(struct wsp_jwt_keys *ks, const char *kid,
                        const char *file, unsigned algs) {
  size_t len;
  char *pem = slurp(file, &len);
  int rc = wsp_jwt_keys_add_pem(ks, kid, pem, len, algs);
  free(pem);
  return rc;
}

static int add_secret_file(struct wsp_jwt_keys *ks, const char *kid) {
  size_t len;
  char *s = slurp("hmac.txt", &len);
  int rc = wsp_jwt_keys_add_secret(ks, kid, s, len, 0);
  free(s);
  return rc;
}

static int add_jwks_file(struct wsp_jwt_keys *ks) {
  size_t len;
  char *j = slurp("jwks.json", &len);
  int rc = wsp_jwt_keys_add_jwks(ks, j, len);
  free(j);
  return rc;
}

enum {
  KS_SECRET = 1,
  KS_RSA = 2,
  KS_EC = 4,
  KS_ED = 8,
  KS_JWKS = 16,
  KS_ALL = 15
};

static struct wsp_jwt_keys *keyset(unsigned which) {
  struct wsp_jwt_keys *ks = NULL;
  assert_int_equal(wsp_jwt_keys_new(&ks, NULL), 0);
  if (which & KS_SECRET)
    assert_int_equal(add_secret_file(ks, NULL), 0);
  if (which & KS_RSA)
    assert_int_equal(add_pem_file(ks, NULL, "rsa.pem", 0), 0);
  if (which & KS_EC)
    assert_int_equal(add_pem_file(ks, NULL, "ec.pem", 0), 0);
  if (which & KS_ED)
    assert_int_equal(add_pem_file(ks, NULL, "ed25519.pem", 0), 0);
  if (which & KS_JWKS)
    assert_int_equal(add_jwks_file(ks), 5);
  return ks;
}

static struct wsp_jwt_options opts(int64_t now) {
  struct wsp_jwt_options o;
  memset(&o, 0, sizeof(o));
  o.now = now;
  return o;
}

/* The claims and their buffer. */
static char cbuf[WSP_JWT_BUFSIZE(65536)];
static struct wsp_jwt_claims cl;

static int verify_opt(const struct wsp_jwt_keys *ks, const char *name,
                      const struct wsp_jwt_options *o) {
  const struct tok *t = tok(name);
  return wsp_jwt_verify(ks, t->text, t->len, o, &cl, cbuf, sizeof(cbuf));
}

static int verify_at(const struct wsp_jwt_keys *ks, const char *name,
                     int64_t now) {
  struct wsp_jwt_options o = opts(now);
  return verify_opt(ks, name, &o);
}

/* Verify at NOW; print the reason when it is not the one expected. */
static int expect(const struct wsp_jwt_keys *ks, const char *name, int rc,
                  int reason) {
  int got = verify_at(ks, name, NOW);
  if (got != rc || cl.reason != reason) {
    print_error("%s: rc %d reason %d (%s), expected rc %d reason %d (%s)\n",
                name, got, cl.reason, wsp_jwt_strerror(cl.reason), rc, reason,
                wsp_jwt_strerror(reason));
    return 1;
  }
  return 0;
}

#define EXPECT_OK(ks, name) expect(ks, name, 0, WSP_JWT_OK)
#define EXPECT_BAD(ks, name, reason)                                           \
  expect(ks, name, WSP_ERR_TOKEN, WSP_JWT_##reason)

static int str_is(struct wsp_str s, const char *want) {
  return s.ptr && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0 &&
         s.ptr[s.len] == '\0';
}

/* ---- Algorithms --------------------------------------------------------- */

static void test_jwt_every_algorithm_verifies(void **state) {
  static const struct {
    const char *name;
    unsigned alg;
  } rows[] = {
      {"valid-HS256", WSP_JWT_HS256}, {"valid-HS384", WSP_JWT_HS384},
      {"valid-HS512", WSP_JWT_HS512}, {"valid-RS256", WSP_JWT_RS256},
      {"valid-RS384", WSP_JWT_RS384}, {"valid-RS512", WSP_JWT_RS512},
      {"valid-PS256", WSP_JWT_PS256}, {"valid-PS384", WSP_JWT_PS384},
      {"valid-PS512", WSP_JWT_PS512}, {"valid-ES256", WSP_JWT_ES256},
      {"valid-EdDSA", WSP_JWT_EDDSA}, {"valid-Ed25519", WSP_JWT_EDDSA},
  };
  struct wsp_jwt_keys *ks = keyset(KS_ALL);
  size_t i;
  int bad = 0;
  (void)state;
  assert_int_equal(wsp_jwt_keys_count(ks), 4);
  for (i = 0; i < T_ARRAY_LEN(rows); i++) {
    const char *n = rows[i].name;
    bad += EXPECT_OK(ks, n);
    T_CHECK(bad, n, cl.alg == rows[i].alg);
    T_CHECK(bad, n, str_is(cl.sub, "user-42"));
    T_CHECK(bad, n, str_is(cl.iss, "https://issuer.example"));
    T_CHECK(bad, n, str_is(cl.aud, "wsp-test"));
    T_CHECK(bad, n, cl.has_exp && cl.exp == NOW + 3600);
    T_CHECK(bad, n, cl.has_nbf && cl.nbf == NOW - 10);
    T_CHECK(bad, n, cl.has_iat && cl.iat == NOW - 10);
    T_CHECK(bad, n,
            cl.info.len == 14 &&
                memcmp(cl.info.ptr, "{\"name\":\"Ann\"}", 14) == 0);
    T_CHECK(bad, n,
            cl.channels.len == 15 &&
                memcmp(cl.channels.ptr, "[\"news\",\"chat\"]", 15) == 0);
    T_CHECK(bad, n,
            cl.payload.ptr && cl.payload.ptr[0] == '{' &&
                cl.payload.ptr[cl.payload.len - 1] == '}');
    T_CHECK(bad, n, cl.kid.ptr == NULL && cl.channel.ptr == NULL);
    T_CHECK(bad, n,
            strcmp(wsp_jwt_alg_name(cl.alg), n + 6) == 0 ||
                rows[i].alg == WSP_JWT_EDDSA);
  }
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

static void test_jwt_key_only_verifies_its_algorithms(void **state) {
  struct wsp_jwt_keys *ks;
  int bad = 0;
  (void)state;
  /* a key of another type never verifies */
  ks = keyset(KS_EC);
  bad += EXPECT_BAD(ks, "valid-RS256", ALG_NOT_ALLOWED);
  bad += EXPECT_BAD(ks, "valid-HS256", ALG_NOT_ALLOWED);
  bad += EXPECT_BAD(ks, "valid-EdDSA", ALG_NOT_ALLOWED);
  bad += EXPECT_OK(ks, "valid-ES256");
  wsp_jwt_keys_free(ks);

  /* an RSA key narrowed to RS256 */
  assert_int_equal(wsp_jwt_keys_new(&ks, NULL), 0);
  assert_int_equal(add_pem_file(ks, NULL, "rsa.pem", WSP_JWT_RS256), 0);
  bad += EXPECT_OK(ks, "valid-RS256");
  bad += EXPECT_BAD(ks, "valid-RS384", ALG_NOT_ALLOWED);
  bad += EXPECT_BAD(ks, "valid-PS256", ALG_NOT_ALLOWED);
  wsp_jwt_keys_free(ks);

  /* a secret narrowed to HS512 */
  assert_int_equal(wsp_jwt_keys_new(&ks, NULL), 0);
  assert_int_equal(wsp_jwt_keys_add_secret(
                       ks, NULL, "libwsp-test-hmac-secret-0123456789abcdef", 40,
                       WSP_JWT_HS512),
                   0);
  bad += EXPECT_OK(ks, "valid-HS512");
  bad += EXPECT_BAD(ks, "valid-HS256", ALG_NOT_ALLOWED);
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

static void test_jwt_hmac_with_rsa_key_bytes_refused(void **state) {
  struct wsp_jwt_keys *ks = keyset(KS_RSA);
  size_t len;
  char *pem;
  int bad = 0;
  (void)state;
  /* HS256 keyed with the RSA public key's PEM: the RSA key allows no HS */
  bad += EXPECT_BAD(ks, "hs256-rsa-pem-secret", ALG_NOT_ALLOWED);
  /* nor can a public key be made to allow HMAC */
  pem = slurp("rsa.pem", &len);
  assert_int_equal(wsp_jwt_keys_add_pem(ks, NULL, pem, len, WSP_JWT_HS256),
                   WSP_ERR_INVAL);
  assert_int_equal(
      wsp_jwt_keys_add_pem(ks, NULL, pem, len, WSP_JWT_RS256 | WSP_JWT_HS256),
      WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_keys_add_secret(ks, NULL, pem, len, WSP_JWT_RS256),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_keys_count(ks), 1);
  /* as an HMAC secret it works, which is why it must not be one above */
  assert_int_equal(wsp_jwt_keys_add_secret(ks, NULL, pem, len, 0), 0);
  bad += EXPECT_OK(ks, "hs256-rsa-pem-secret");
  free(pem);
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

static void test_jwt_pkcs1_pem(void **state) {
  struct wsp_jwt_keys *ks = NULL;
  int bad = 0;
  (void)state;
  assert_int_equal(wsp_jwt_keys_new(&ks, NULL), 0);
  assert_int_equal(add_pem_file(ks, NULL, "rsa-pkcs1.pem", 0), 0);
  bad += EXPECT_OK(ks, "valid-RS256");
  bad += EXPECT_OK(ks, "valid-PS512");
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

/* ---- Signatures --------------------------------------------------------- */

static void test_jwt_tampered_token_refused(void **state) {
  struct wsp_jwt_keys *ks = keyset(KS_ALL);
  int bad = 0;
  (void)state;
  bad += EXPECT_BAD(ks, "tampered-payload", BAD_SIGNATURE);
  bad += EXPECT_BAD(ks, "tampered-signature", BAD_SIGNATURE);
  bad += EXPECT_BAD(ks, "ps256-signed-as-rs256", BAD_SIGNATURE);
  /* a key in the header is never used */
  bad += EXPECT_BAD(ks, "header-jwk-embedded", BAD_SIGNATURE);
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

static void test_jwt_wrong_key_refused(void **state) {
  struct wsp_jwt_keys *ks = keyset(KS_ALL);
  int bad = 0;
  (void)state;
  bad += EXPECT_BAD(ks, "wrong-key-RS256", BAD_SIGNATURE);
  bad += EXPECT_BAD(ks, "wrong-key-ES256", BAD_SIGNATURE);
  bad += EXPECT_BAD(ks, "wrong-secret-HS256", BAD_SIGNATURE);
  wsp_jwt_keys_free(ks);
  assert_int_equal(wsp_jwt_keys_new(&ks, NULL), 0);
  assert_int_equal(add_pem_file(ks, NULL, "rsa2.pem", 0), 0);
  bad += EXPECT_BAD(ks, "valid-RS256", BAD_SIGNATURE);
  bad += EXPECT_OK(ks, "wrong-key-RS256");
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

static void test_jwt_alg_none_refused(void **state) {
  struct wsp_jwt_keys *ks = keyset(KS_ALL | KS_JWKS);
  int bad = 0;
  (void)state;
  bad += EXPECT_BAD(ks, "alg-none", ALG_NONE);
  bad += EXPECT_BAD(ks, "alg-None", ALG_NONE);
  bad += EXPECT_BAD(ks, "alg-none-signed", ALG_NONE);
  bad += EXPECT_BAD(ks, "alg-unknown", ALG_UNKNOWN);
  wsp_jwt_keys_free(ks);
  /* also with no key at all */
  assert_int_equal(wsp_jwt_keys_new(&ks, NULL), 0);
  bad += EXPECT_BAD(ks, "alg-none", ALG_NONE);
  bad += EXPECT_BAD(ks, "valid-HS256", NO_KEY);
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

static void test_jwt_signature_length(void **state) {
  struct wsp_jwt_keys *ks = keyset(KS_ALL);
  int bad = 0;
  (void)state;
  bad += EXPECT_BAD(ks, "es256-der-signature", SIG_LENGTH);
  bad += EXPECT_BAD(ks, "rs256-short-signature", SIG_LENGTH);
  bad += EXPECT_BAD(ks, "hs256-short-signature", SIG_LENGTH);
  bad += EXPECT_BAD(ks, "eddsa-long-signature", SIG_LENGTH);
  bad += EXPECT_BAD(ks, "rs256-huge-signature", SIG_LENGTH);
  bad += EXPECT_BAD(ks, "empty-signature", SIG_LENGTH);
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

/* ---- Key ids and JWK Sets ----------------------------------------------- */

static void test_jwt_jwks_kid_selects_key(void **state) {
  struct wsp_jwt_keys *ks = keyset(KS_JWKS);
  int bad = 0;
  (void)state;
  bad += EXPECT_OK(ks, "kid-rsa1");
  T_CHECK(bad, "kid-rsa1", str_is(cl.kid, "rsa1"));
  bad += EXPECT_OK(ks, "kid-rsa2-ps256");
  T_CHECK(bad, "kid-rsa2", str_is(cl.kid, "rsa2") && cl.alg == WSP_JWT_PS256);
  /* "alg": "PS256" in the JWK narrows that key */
  bad += EXPECT_BAD(ks, "kid-rsa2-rs256", ALG_NOT_ALLOWED);
  bad += EXPECT_OK(ks, "kid-ec1");
  bad += EXPECT_OK(ks, "kid-ed1");
  bad += EXPECT_OK(ks, "kid-hmac1");
  bad += EXPECT_OK(ks, "kid-escaped");
  T_CHECK(bad, "kid-escaped", str_is(cl.kid, "rsa1"));
  /* "use": "enc" keys are not loaded */
  bad += EXPECT_BAD(ks, "kid-ec-enc", UNKNOWN_KID);
  bad += EXPECT_BAD(ks, "kid-unknown", UNKNOWN_KID);
  bad += EXPECT_BAD(ks, "kid-wrong-key", BAD_SIGNATURE);
  /* without a kid every key of the algorithm is tried */
  bad += EXPECT_OK(ks, "valid-RS256");
  bad += EXPECT_OK(ks, "valid-ES256");
  bad += EXPECT_OK(ks, "valid-HS256");
  bad += EXPECT_BAD(ks, "wrong-key-ES256", BAD_SIGNATURE);
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

static void test_jwt_unknown_kid(void **state) {
  struct wsp_jwt_keys *ks = NULL;
  int bad = 0;
  (void)state;
  /* keys with a kid answer only to it */
  assert_int_equal(wsp_jwt_keys_new(&ks, NULL), 0);
  assert_int_equal(add_pem_file(ks, "main", "rsa.pem", 0), 0);
  bad += EXPECT_BAD(ks, "kid-unknown", UNKNOWN_KID);
  bad += EXPECT_BAD(ks, "kid-rsa1", UNKNOWN_KID);
  bad += EXPECT_OK(ks, "valid-RS256");
  T_CHECK(bad, "no kid", cl.kid.ptr == NULL);
  /* a key without kid is tried for any kid not in the set */
  assert_int_equal(add_pem_file(ks, NULL, "rsa.pem", 0), 0);
  bad += EXPECT_OK(ks, "kid-unknown");
  T_CHECK(bad, "kid-unknown", str_is(cl.kid, "nope"));
  wsp_jwt_keys_free(ks);
  /* a kid longer than any key's is no key's, but keys without kid try */
  ks = keyset(KS_SECRET);
  bad += EXPECT_OK(ks, "kid-long");
  T_CHECK(bad, "kid-long", cl.kid.ptr == NULL);
  wsp_jwt_keys_free(ks);
  ks = keyset(KS_JWKS);
  bad += EXPECT_BAD(ks, "kid-long", UNKNOWN_KID);
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

static void test_jwt_jwks_loading(void **state) {
  static const char *bad_docs[] = {
      "",
      "[]",
      "{\"keys\":{}}",
      "{\"keys\":[1]}",
      "{\"keys\":[{}]}",
      "{\"keys\":[{\"kty\":1}]}",
      "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\"}]}",
      "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
      "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AQAB\"}]}",
      "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AQAB=\"}]}",
      "{\"keys\":[{\"kty\":\"oct\",\"k\":\"\"}]}",
      "{\"keys\":[{\"kty\":\"oct\",\"k\":\"YQ\",\"k\":\"Yg\"}]}",
      "{\"keys\":[{\"kty\":\"oct\",\"k\":\"YQ\",\"use\":1}]}",
      "{\"keys\":[{\"kty\":\"oct\",\"k\":\"YQ\",\"key_ops\":\"verify\"}]}",
      "{\"keys\":[{\"kty\":\"oct\",\"k\":\"YQ\",\"key_ops\":[1]}]}",
      "{\"keys\":[{\"kty\":\"oct\",\"k\":\"YR\"}]}",
      "{\"keys\":[],\"keys\":[]}",
      "{\"keys\":[{\"kty\":\"oct\",\"k\":\"YQ\"},]}",
      "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]"
      "}",
  };
  struct wsp_jwt_keys *ks = NULL;
  size_t i, len;
  const char *lit;
  char *doc, *p;
  int bad = 0, rc;
  (void)state;
  assert_int_equal(wsp_jwt_keys_new(&ks, NULL), 0);
  assert_int_equal(add_jwks_file(ks), 5);
  for (i = 0; i < T_ARRAY_LEN(bad_docs); i++) {
    rc = wsp_jwt_keys_add_jwks(ks, bad_docs[i], strlen(bad_docs[i]));
    if (rc != WSP_ERR_INVAL)
      print_error("doc %zu: %d\n", i, rc);
    T_CHECK(bad, bad_docs[i], rc == WSP_ERR_INVAL);
  }
  assert_int_equal(wsp_jwt_keys_count(ks), 5);

  /* all or nothing: one broken key spoils the document */
  doc = slurp("jwks.json", &len);
  p = strstr(doc, "\"kty\": \"oct\"");
  assert_non_null(p);
  memcpy(p, "\"kty\": \"RSA\"", 12);
  assert_int_equal(wsp_jwt_keys_add_jwks(ks, doc, len), WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_keys_count(ks), 5);
  free(doc);

  /* an EC point moved off the curve */
  doc = slurp("jwks.json", &len);
  p = strstr(doc, "\"kty\": \"EC\"");
  assert_non_null(p);
  p = strstr(p, "\"y\": \"");
  assert_non_null(p);
  p[7] = p[7] == 'A' ? 'B' : 'A';
  assert_int_equal(wsp_jwt_keys_add_jwks(ks, doc, len), WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_keys_count(ks), 5);
  free(doc);

  /* an RSA modulus of fewer than 2048 bits */
  doc = slurp("jwks.json", &len);
  p = strstr(doc, "\"n\": \"");
  assert_non_null(p);
  p[6] = 'A';
  assert_int_equal(wsp_jwt_keys_add_jwks(ks, doc, len), WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_keys_count(ks), 5);
  free(doc);

  /* a single JWK, an empty set, keys of kinds not used */
  lit = " {\"kty\":\"oct\",\"k\":\"YQ\"}\n";
  rc = wsp_jwt_keys_add_jwks(ks, lit, strlen(lit));
  T_CHECK(bad, "single", rc == 1);
  T_CHECK(bad, "empty", wsp_jwt_keys_add_jwks(ks, "{\"keys\":[]}", 11) == 0);
  lit =
      "{\"keys\":[{\"kty\":\"oct\",\"k\":\"YQ\",\"alg\":\"RS256\"},"
      "{\"kty\":\"oct\",\"k\":\"YQ\",\"alg\":\"none\"},"
      "{\"kty\":\"oct\",\"k\":\"YQ\",\"key_ops\":[\"sign\"]},"
      "{\"kty\":\"EC\",\"crv\":\"P-521\"},{\"kty\":\"OKP\",\"crv\":\"X448\"}]}";
  T_CHECK(bad, "skipped", wsp_jwt_keys_add_jwks(ks, lit, strlen(lit)) == 0);
  assert_int_equal(wsp_jwt_keys_count(ks), 6);
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

static void test_jwt_pem_loading(void **state) {
  static const char *bad_files[] = {"rsa1024.pem", "ec384.pem", "tokens.txt",
                                    "jwks.json"};
  static const char priv[] = "-----BEGIN PRIVATE KEY-----\n"
                             "MC4CAQAwBQYDK2VwBCIEIA==\n"
                             "-----END PRIVATE KEY-----\n";
  struct wsp_jwt_keys *ks = NULL;
  char kid[300];
  size_t i, len;
  char *pem, *p, *text;
  int bad = 0;
  (void)state;
  assert_int_equal(wsp_jwt_keys_new(&ks, NULL), 0);
  for (i = 0; i < T_ARRAY_LEN(bad_files); i++)
    T_CHECK(bad, bad_files[i],
            add_pem_file(ks, NULL, bad_files[i], 0) == WSP_ERR_INVAL);
  /* algorithms foreign to the key type */
  T_CHECK(bad, "ec rs",
          add_pem_file(ks, NULL, "ec.pem", WSP_JWT_RS256) == WSP_ERR_INVAL);
  T_CHECK(bad, "ed es",
          add_pem_file(ks, NULL, "ed25519.pem", WSP_JWT_ES256) ==
              WSP_ERR_INVAL);
  T_CHECK(bad, "rsa bits",
          add_pem_file(ks, NULL, "rsa.pem", 0x8000u) == WSP_ERR_INVAL);
  memset(kid, 'k', sizeof(kid) - 1);
  kid[sizeof(kid) - 1] = '\0';
  T_CHECK(bad, "long kid",
          add_pem_file(ks, kid, "rsa.pem", 0) == WSP_ERR_INVAL);
  T_CHECK(bad, "empty",
          wsp_jwt_keys_add_pem(ks, NULL, "", 0, 0) == WSP_ERR_INVAL);
  T_CHECK(bad, "private",
          wsp_jwt_keys_add_pem(ks, NULL, priv, sizeof(priv) - 1, 0) ==
              WSP_ERR_INVAL);

  pem = slurp("rsa.pem", &len);
  /* a broken base64 body, a changed byte in the DER, no END line */
  p = strchr(pem, '\n') + 5;
  *p = '*';
  T_CHECK(bad, "base64",
          wsp_jwt_keys_add_pem(ks, NULL, pem, len, 0) == WSP_ERR_INVAL);
  *p = 'B';
  T_CHECK(bad, "der",
          wsp_jwt_keys_add_pem(ks, NULL, pem, len, 0) == WSP_ERR_INVAL);
  free(pem);
  pem = slurp("rsa.pem", &len);
  T_CHECK(bad, "no end",
          wsp_jwt_keys_add_pem(ks, NULL, pem, len - 10, 0) == WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_keys_count(ks), 0);

  /* text before the block, and other blocks first, are skipped */
  text = malloc(len + 200);
  assert_non_null(text);
  snprintf(text, len + 200,
           "A key.\n-----BEGIN CERTIFICATE-----\nAAAA\n"
           "-----END CERTIFICATE-----\n%s",
           pem);
  T_CHECK(bad, "text",
          wsp_jwt_keys_add_pem(ks, "k", text, strlen(text), WSP_JWT_PS256) ==
              0);
  free(text);
  free(pem);
  T_CHECK(bad, "secret 0",
          wsp_jwt_keys_add_secret(ks, NULL, "x", 0, 0) == WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_keys_count(ks), 1);
  /* a token without kid tries the key with one */
  bad += EXPECT_OK(ks, "valid-PS256");
  bad += EXPECT_BAD(ks, "valid-RS256", ALG_NOT_ALLOWED);
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

/* Add the DER der[0..n) wrapped in a PUBLIC KEY block. */
static int add_der(struct wsp_jwt_keys *ks, const uint8_t *der, size_t n) {
  char pem[1024];
  size_t len;
  assert_true(BASE64_ENCODE_RAW_LENGTH(n) + 64 < sizeof(pem));
  len = (size_t)sprintf(pem, "-----BEGIN PUBLIC KEY-----\n");
  base64_encode_raw(pem + len, n, der);
  len += BASE64_ENCODE_RAW_LENGTH(n);
  len += (size_t)sprintf(pem + len, "\n-----END PUBLIC KEY-----\n");
  return wsp_jwt_keys_add_pem(ks, NULL, pem, len, 0);
}

/* The DER of a PEM fixture into der; returns its length. */
static size_t fixture_der(const char *file, uint8_t *der, size_t cap) {
  struct base64_decode_ctx ctx;
  size_t len, n = cap;
  char *pem = slurp(file, &len);
  char *b = strchr(pem, '\n') + 1, *e = strstr(b, "-----END");
  base64_decode_init(&ctx);
  assert_true(BASE64_DECODE_LENGTH((size_t)(e - b)) <= cap);
  assert_true(base64_decode_update(&ctx, &n, der, (size_t)(e - b), b));
  assert_true(base64_decode_final(&ctx));
  free(pem);
  return n;
}

static void test_jwt_der_strict(void **state) {
  struct wsp_jwt_keys *ks = NULL;
  uint8_t ed[64], m[80], ec[128];
  size_t n, en;
  int bad = 0;
  (void)state;
  assert_int_equal(wsp_jwt_keys_new(&ks, NULL), 0);
  /* 30 2a | 30 05 06 03 2b 65 70 | 03 21 00 <32 bytes> */
  n = fixture_der("ed25519.pem", ed, sizeof(ed));
  assert_int_equal(n, 44);
  assert_int_equal(ed[0], 0x30);
  assert_int_equal(ed[1], 0x2a);
  T_CHECK(bad, "original", add_der(ks, ed, n) == 0);

  memcpy(m, ed, n);
  m[n] = 0;
  T_CHECK(bad, "trailing byte", add_der(ks, m, n + 1) == WSP_ERR_INVAL);
  T_CHECK(bad, "short", add_der(ks, m, n - 1) == WSP_ERR_INVAL);
  /* 30 81 2a: a long form where the short one fits */
  m[0] = 0x30;
  m[1] = 0x81;
  m[2] = 0x2a;
  memcpy(m + 3, ed + 2, n - 2);
  T_CHECK(bad, "long form", add_der(ks, m, n + 1) == WSP_ERR_INVAL);
  /* 30 80 ... 00 00: indefinite length */
  m[1] = 0x80;
  memcpy(m + 2, ed + 2, n - 2);
  m[n] = m[n + 1] = 0;
  T_CHECK(bad, "indefinite", add_der(ks, m, n + 2) == WSP_ERR_INVAL);
  memcpy(m, ed, n);
  m[11] = 0x01; /* unused bits in the BIT STRING */
  T_CHECK(bad, "unused bits", add_der(ks, m, n) == WSP_ERR_INVAL);
  memcpy(m, ed, n);
  m[8] = 0x6e; /* X25519 */
  T_CHECK(bad, "x25519", add_der(ks, m, n) == WSP_ERR_INVAL);
  memcpy(m, ed, n);
  m[4] = 0x07; /* no such tag */
  T_CHECK(bad, "tag", add_der(ks, m, n) == WSP_ERR_INVAL);
  /* parameters where RFC 8410 wants none: 30 07 06 03 2b 65 70 05 00 */
  m[0] = 0x30;
  m[1] = 0x2c;
  m[2] = 0x30;
  m[3] = 0x07;
  memcpy(m + 4, ed + 4, 5);
  m[9] = 0x05;
  m[10] = 0x00;
  memcpy(m + 11, ed + 9, n - 9);
  T_CHECK(bad, "parameters", add_der(ks, m, n + 2) == WSP_ERR_INVAL);
  /* a 31-byte key */
  memcpy(m, ed, n);
  m[1] = 0x29;
  m[10] = 0x20;
  T_CHECK(bad, "key length", add_der(ks, m, n - 1) == WSP_ERR_INVAL);

  /* EC: the point as 04 || X || Y, not compressed */
  en = fixture_der("ec.pem", ec, sizeof(ec));
  assert_int_equal(en, 91);
  assert_int_equal(ec[26], 0x04);
  T_CHECK(bad, "ec", add_der(ks, ec, en) == 0);
  ec[26] = 0x02;
  T_CHECK(bad, "compressed", add_der(ks, ec, en) == WSP_ERR_INVAL);
  ec[26] = 0x04;
  ec[en - 1] ^= 1; /* off the curve */
  T_CHECK(bad, "off curve", add_der(ks, ec, en) == WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_keys_count(ks), 2);
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

/* ---- Malformed tokens -------------------------------------------------- */

static int verify_text(const struct wsp_jwt_keys *ks, const char *text,
                       size_t len) {
  struct wsp_jwt_options o = opts(NOW);
  return wsp_jwt_verify(ks, text, len, &o, &cl, cbuf, sizeof(cbuf));
}

static void test_jwt_bad_base64url(void **state) {
  struct wsp_jwt_keys *ks = keyset(KS_ALL);
  const struct tok *t = tok("valid-HS256");
  char *m = malloc(t->len + 8);
  char *d1, *d2;
  size_t len;
  int bad = 0, rc;
  (void)state;
  assert_non_null(m);
  d1 = strchr(t->text, '.');
  d2 = strchr(d1 + 1, '.');

#define MUTATE(what, expr, want)                                               \
  do {                                                                         \
    memcpy(m, t->text, t->len + 1);                                            \
    len = t->len;                                                              \
    expr;                                                                      \
    rc = verify_text(ks, m, len);                                              \
    T_CHECK(bad, what, rc == WSP_ERR_TOKEN && cl.reason == (want));            \
  } while (0)

  MUTATE("plus", m[(size_t)(d1 - t->text) + 3] = '+', WSP_JWT_BAD_BASE64);
  MUTATE("slash", m[2] = '/', WSP_JWT_BAD_BASE64);
  MUTATE("space", m[(size_t)(d2 - t->text) + 2] = ' ', WSP_JWT_BAD_BASE64);
  MUTATE("padding", (m[len++] = '=', m[len] = '\0'), WSP_JWT_BAD_BASE64);
  MUTATE("nul", m[5] = '\0', WSP_JWT_BAD_BASE64);
  /* 43 characters for 32 bytes: the last one carries 2 unused bits */
  MUTATE("trailing bits", m[len - 1] = (char)(m[len - 1] == 'B' ? 'C' : 'B'),
         WSP_JWT_BAD_BASE64);
  MUTATE("length", (memmove(m + 1, m, len + 1), len++), WSP_JWT_BAD_BASE64);
  MUTATE("two parts", len = (size_t)(d2 - t->text), WSP_JWT_MALFORMED);
  MUTATE("one part", len = (size_t)(d1 - t->text), WSP_JWT_MALFORMED);
  MUTATE("four parts", (m[len++] = '.', m[len] = '\0'), WSP_JWT_MALFORMED);
  MUTATE("empty header",
         (len -= (size_t)(d1 - t->text), memmove(m, d1, len + 1)),
         WSP_JWT_MALFORMED);
  MUTATE("empty", len = 0, WSP_JWT_MALFORMED);
  MUTATE("dots", (memcpy(m, "..", 3), len = 2), WSP_JWT_MALFORMED);
#undef MUTATE
  free(m);
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

static void test_jwt_bad_json(void **state) {
  struct wsp_jwt_keys *ks = keyset(KS_SECRET);
  int bad = 0;
  (void)state;
  bad += EXPECT_BAD(ks, "header-bad-json", BAD_JSON);
  bad += EXPECT_BAD(ks, "header-array", BAD_JSON);
  bad += EXPECT_BAD(ks, "payload-bad-json", BAD_JSON);
  bad += EXPECT_BAD(ks, "payload-not-object", BAD_JSON);
  bad += EXPECT_BAD(ks, "payload-bad-utf8", BAD_JSON);
  bad += EXPECT_BAD(ks, "header-duplicate", DUPLICATE);
  bad += EXPECT_BAD(ks, "payload-duplicate", DUPLICATE);
  bad += EXPECT_BAD(ks, "payload-duplicate-escaped", DUPLICATE);
  bad += EXPECT_BAD(ks, "payload-duplicate-utf8", DUPLICATE);
  bad += EXPECT_BAD(ks, "payload-duplicate-surrogates", DUPLICATE);
  bad += EXPECT_OK(ks, "payload-escaped-distinct");
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

static void test_jwt_bad_header(void **state) {
  struct wsp_jwt_keys *ks = keyset(KS_SECRET);
  int bad = 0;
  (void)state;
  bad += EXPECT_BAD(ks, "crit", CRIT);
  bad += EXPECT_BAD(ks, "crit-empty", CRIT);
  bad += EXPECT_BAD(ks, "alg-missing", BAD_HEADER);
  bad += EXPECT_BAD(ks, "alg-number", BAD_HEADER);
  bad += EXPECT_BAD(ks, "kid-number", BAD_HEADER);
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

static void test_jwt_claim_types(void **state) {
  struct wsp_jwt_keys *ks = keyset(KS_SECRET);
  int bad = 0;
  (void)state;
  bad += EXPECT_BAD(ks, "sub-number", BAD_CLAIM);
  bad += EXPECT_BAD(ks, "exp-string", BAD_CLAIM);
  bad += EXPECT_BAD(ks, "aud-number", BAD_CLAIM);
  bad += EXPECT_BAD(ks, "aud-array-number", BAD_CLAIM);
  bad += EXPECT_BAD(ks, "channels-not-strings", BAD_CLAIM);
  bad += EXPECT_BAD(ks, "channels-object", BAD_CLAIM);
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

static void test_jwt_too_large(void **state) {
  struct wsp_jwt_keys *ks = keyset(KS_SECRET);
  struct wsp_jwt_options o = opts(NOW);
  int bad = 0;
  (void)state;
  assert_true(tok("large")->len > WSP_JWT_DEFAULT_MAX_SIZE);
  bad += EXPECT_BAD(ks, "large", TOO_LARGE);
  o.max_size = 32768;
  assert_int_equal(verify_opt(ks, "large", &o), 0);
  assert_true(str_is(cl.sub, "big"));
  o.max_size = 40;
  assert_int_equal(verify_opt(ks, "valid-HS256", &o), WSP_ERR_TOKEN);
  assert_int_equal(cl.reason, WSP_JWT_TOO_LARGE);
  wsp_jwt_keys_free(ks);
  assert_int_equal(bad, 0);
}

/* ---- Claims -------------------------------------------------------------- */

static void test_jwt_exp_nbf_iat_with_leeway(void **state) {
  struct wsp_jwt_keys *ks = keyset(KS_SECRET);
  struct wsp_jwt_options o = opts(NOW);
  int rc;
  (void)state;
  /* exp == now: expired (now must be before exp), claims still filled */
  rc = verify_opt(ks, "exp-now", &o);
  assert_int_equal(rc, WSP_ERR_TOKEN_EXPIRED);
  assert_int_equal(cl.reason, WSP_JWT_EXPIRED);
  assert_true(str_is(cl.sub, "u") && cl.has_exp && cl.exp == NOW);
  o.now = NOW - 1;
  assert_int_equal(verify_opt(ks, "exp-now", &o), 0);
  o.now = NOW;
  o.leeway = 1;
  assert_int_equal(verify_opt(ks, "exp-now", &o), 0);
  o.now = NOW + 1;
  assert_int_equal(verify_opt(ks, "exp-now", &o), WSP_ERR_TOKEN_EXPIRED);

  /* nbf 30 s ahead */
  o = opts(NOW);
  assert_int_equal(verify_opt(ks, "nbf-ahead", &o), WSP_ERR_TOKEN);
  assert_int_equal(cl.reason, WSP_JWT_NOT_YET_VALID);
  o.leeway = 29;
  assert_int_equal(verify_opt(ks, "nbf-ahead", &o), WSP_ERR_TOKEN);
  o.leeway = 30;
  assert_int_equal(verify_opt(ks, "nbf-ahead", &o), 0);
  o = opts(NOW + 30);
  assert_int_equal(verify_opt(ks, "nbf-ahead", &o), 0);

  /* iat 30 s ahead */
  o = opts(NOW);
  assert_int_equal(verify_opt(ks, "iat-ahead", &o), WSP_ERR_TOKEN);
  assert_int_equal(cl.reason, WSP_JWT_IAT_FUTURE);
  o.leeway = 30;
  assert_int_equal(verify_opt(ks, "iat-ahead", &o), 0);

  /* maximum age from iat (7200 s old) */
  o = opts(NOW);
  o.max_age = 3600;
  assert_int_equal(verify_opt(ks, "iat-old", &o), WSP_ERR_TOKEN_EXPIRED);
  assert_int_equal(cl.reason, WSP_JWT_TOO_OLD);
  o.max_age = 7200;
  assert_int_equal(verify_opt(ks, "iat-old", &o), 0);
  o.max_age = 7199;
  o.leeway = 1;
  assert_int_equal(verify_opt(ks, "iat-old", &o), 0);
  /* a maximum age needs an iat */
  assert_int_equal(verify_opt(ks, "subscription", &o), WSP_ERR_TOKEN);
  assert_int_equal(cl.reason, WSP_JWT_MISSING_CLAIM);

  /* negative leeway and age are caller errors */
  o = opts(NOW);
  o.leeway = -1;
  assert_int_equal(verify_opt(ks, "valid-HS256", &o), WSP_ERR_INVAL);
  wsp_jwt_keys_free(ks);
}

static void test_jwt_numeric_dates(void **state) {
  struct wsp_jwt_keys *ks = keyset(KS_SECRET);
  struct wsp_jwt_options o = opts(NOW - 1);
  (void)state;
  /* NOW.5 rounds down to NOW */
  assert_int_equal(verify_opt(ks, "exp-fraction", &o), 0);
  assert_true(cl.has_exp && cl.exp == NOW);
  o.now = NOW;
  assert_int_equal(verify_opt(ks, "exp-fraction", &o), WSP_ERR_TOKEN_EXPIRED);
  /* 1.7e9, -1.5 and 1e400 (saturated): iat is in the future */
  o.now = NOW - 10;
  assert_int_equal(verify_opt(ks, "exp-exponent", &o), WSP_ERR_TOKEN);
  assert_int_equal(cl.reason, WSP_JWT_IAT_FUTURE);
  assert_true(cl.has_exp && cl.exp == 1700000000);
  assert_true(cl.has_nbf && cl.nbf == -2);
  assert_true(cl.has_iat && cl.iat == INT64_MAX);
  /* 17000036000e-1 */
  o.now = NOW;
  assert_int_equal(verify_opt(ks, "exp-negative-exponent", &o), 0);
  assert_true(cl.has_exp && cl.exp == NOW + 3600);
  wsp_jwt_keys_free(ks);
}

static void test_jwt_issuer_and_audience(void **state) {
  struct wsp_jwt_keys *ks = keyset(KS_SECRET);
  struct wsp_jwt_options o = opts(NOW);
  (void)state;
  o.issuer = "https://issuer.example";
  o.audience = "wsp-test";
  assert_int_equal(verify_opt(ks, "valid-HS256", &o), 0);
  assert_true(str_is(cl.aud, "wsp-test"));
  assert_int_equal(verify_opt(ks, "aud-array", &o), 0);
  assert_true(str_is(cl.aud, "wsp-test"));
  o.issuer = "https://issuer.example/";
  assert_int_equal(verify_opt(ks, "valid-HS256", &o), WSP_ERR_TOKEN);
  assert_int_equal(cl.reason, WSP_JWT_WRONG_ISSUER);
  o.issuer = NULL;
  o.audience = "wsp";
  assert_int_equal(verify_opt(ks, "valid-HS256", &o), WSP_ERR_TOKEN);
  assert_int_equal(cl.reason, WSP_JWT_WRONG_AUDIENCE);
  assert_int_equal(verify_opt(ks, "aud-array", &o), WSP_ERR_TOKEN);
  assert_int_equal(cl.reason, WSP_JWT_WRONG_AUDIENCE);
  o.audience = "wsp-test";
  assert_int_equal(verify_opt(ks, "aud-other", &o), WSP_ERR_TOKEN);
  assert_int_equal(cl.reason, WSP_JWT_WRONG_AUDIENCE);
  /* a claim that is absent is not accepted either */
  assert_int_equal(verify_opt(ks, "empty-claims", &o), WSP_ERR_TOKEN);
  assert_int_equal(cl.reason, WSP_JWT_WRONG_AUDIENCE);
  o.audience = NULL;
  o.issuer = "x";
  assert_int_equal(verify_opt(ks, "empty-claims", &o), WSP_ERR_TOKEN);
  assert_int_equal(cl.reason, WSP_JWT_WRONG_ISSUER);
  /* unchecked: the first audience is reported */
  o = opts(NOW);
  assert_int_equal(verify_opt(ks, "aud-array", &o), 0);
  assert_true(str_is(cl.aud, "first"));
  assert_int_equal(verify_opt(ks, "aud-other", &o), 0);
  assert_true(str_is(cl.aud, "other") &&
              str_is(cl.iss, "https://evil.example"));
  wsp_jwt_keys_free(ks);
}

static void test_jwt_required_claims(void **state) {
  static const unsigned reqs[] = {WSP_JWT_REQUIRE_EXP, WSP_JWT_REQUIRE_NBF,
                                  WSP_JWT_REQUIRE_IAT, WSP_JWT_REQUIRE_SUB,
                                  WSP_JWT_REQUIRE_ISS, WSP_JWT_REQUIRE_AUD};
  struct wsp_jwt_keys *ks = keyset(KS_SECRET);
  struct wsp_jwt_options o = opts(NOW);
  size_t i;
  (void)state;
  for (i = 0; i < T_ARRAY_LEN(reqs); i++) {
    o.require = reqs[i];
    assert_int_equal(verify_opt(ks, "empty-claims", &o), WSP_ERR_TOKEN);
    assert_int_equal(cl.reason, WSP_JWT_MISSING_CLAIM);
    assert_int_equal(verify_opt(ks, "valid-HS256", &o), 0);
  }
  o.require = 0x3f;
  assert_int_equal(verify_opt(ks, "valid-HS256", &o), 0);
  wsp_jwt_keys_free(ks);
}

static void test_jwt_claims_decoded(void **state) {
  struct wsp_jwt_keys *ks = keyset(KS_SECRET);
  struct wsp_jwt_options o = opts(NOW);
  (void)state;
  assert_int_equal(verify_opt(ks, "payload-escapes", &o), 0);
  assert_true(str_is(cl.sub, "\xc3\xa9t\xc3\xa9\n"));
  assert_true(str_is(cl.iss, "a/b"));
  assert_true(str_is(cl.aud, "x"));
  assert_true(str_is(cl.channel, "$private"));
  o.audience = "wsp-test";
  assert_int_equal(verify_opt(ks, "payload-escapes", &o), 0);
  assert_true(str_is(cl.aud, "wsp-test"));

  o.audience = NULL;
  assert_int_equal(verify_opt(ks, "subscription", &o), 0);
  assert_true(str_is(cl.sub, "user-42") && str_is(cl.channel, "$private"));
  assert_true(cl.has_exp && !cl.has_iat && !cl.has_nbf && cl.iat == 0);

  /* absent claims: NULL spans; present but empty: "" */
  assert_int_equal(verify_opt(ks, "empty-claims", &o), 0);
  assert_true(cl.sub.ptr == NULL && cl.iss.ptr == NULL && cl.aud.ptr == NULL);
  assert_true(cl.info.ptr == NULL && cl.channels.ptr == NULL);
  assert_true(!cl.has_exp && cl.exp == 0);
  assert_true(cl.payload.len == 2);
  assert_int_equal(verify_opt(ks, "no-claims-info", &o), 0);
  assert_true(str_is(cl.sub, "") && cl.sub.len == 0);
  assert_true(cl.info.len == 4 && memcmp(cl.info.ptr, "null", 4) == 0);
  wsp_jwt_keys_free(ks);
}

/* ---- Buffers, arguments, messages -------------------------------------- */

static void test_jwt_buffer_size(void **state) {
  static const char *names[] = {"payload-escapes", "kid-escaped"};
  struct wsp_jwt_keys *ks = keyset(KS_ALL | KS_JWKS);
  struct wsp_jwt_options o = opts(NOW);
  const struct tok *t;
  size_t cap, i, first_ok;
  char *b;
  int rc;
  (void)state;
  /* every size below the need fails cleanly, every size above works */
  for (i = 0; i < T_ARRAY_LEN(names); i++) {
    t = tok(names[i]);
    first_ok = 0;
    for (cap = 0; cap <= WSP_JWT_BUFSIZE(t->len); cap++) {
      b = cap ? malloc(cap) : NULL;
      rc = wsp_jwt_verify(ks, t->text, t->len, &o, &cl, b, cap);
      free(b);
      if (rc == 0 && !first_ok)
        first_ok = cap;
      if (first_ok)
        assert_int_equal(rc, 0);
      else
        assert_true(rc == WSP_ERR_LIMIT && cl.reason == WSP_JWT_BUFFER);
    }
    assert_true(first_ok > 0);
  }
  /* WSP_JWT_BUFSIZE is enough for every fixture */
  o.max_size = 65536;
  for (i = 0; i < ntoks; i++) {
    t = &toks[i];
    b = malloc(WSP_JWT_BUFSIZE(t->len));
    assert_non_null(b);
    rc = wsp_jwt_verify(ks, t->text, t->len, &o, &cl, b,
                        WSP_JWT_BUFSIZE(t->len));
    free(b);
    if (rc == WSP_ERR_LIMIT)
      print_error("%s: buffer too small\n", t->name);
    assert_true(rc == 0 || rc == WSP_ERR_TOKEN || rc == WSP_ERR_TOKEN_EXPIRED);
    assert_true((rc == 0) == (cl.reason == WSP_JWT_OK));
  }
  wsp_jwt_keys_free(ks);
}

static void test_jwt_invalid_arguments(void **state) {
  struct wsp_jwt_keys *ks = keyset(KS_SECRET);
  struct wsp_jwt_options o = opts(NOW);
  const struct tok *t = tok("valid-HS256");
  (void)state;
  assert_int_equal(wsp_jwt_keys_new(NULL, NULL), WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_verify(NULL, t->text, t->len, &o, &cl, cbuf, 10),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_verify(ks, NULL, 0, &o, &cl, cbuf, 10),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_verify(ks, t->text, t->len, NULL, &cl, cbuf, 10),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_verify(ks, t->text, t->len, &o, NULL, cbuf, 10),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_verify(ks, t->text, t->len, &o, &cl, NULL, 10),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_verify(ks, t->text, t->len, &o, &cl, NULL, 0),
                   WSP_ERR_LIMIT);
  assert_int_equal(wsp_jwt_keys_add_secret(NULL, NULL, "a", 1, 0),
                   WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_keys_add_pem(NULL, NULL, "a", 1, 0), WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_keys_add_jwks(NULL, "{}", 2), WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_keys_add_jwks(ks, NULL, 0), WSP_ERR_INVAL);
  assert_int_equal(wsp_jwt_keys_count(NULL), 0);
  wsp_jwt_keys_free(NULL);
  wsp_jwt_keys_free(ks);
}

static void test_jwt_strerror_and_names(void **state) {
  int r;
  (void)state;
  for (r = WSP_JWT_OK; r <= WSP_JWT_BUFFER; r++) {
    assert_non_null(wsp_jwt_strerror(r));
    assert_true(strlen(wsp_jwt_strerror(r)) > 0);
  }
  assert_string_equal(wsp_jwt_strerror(-1), "unknown reason");
  assert_string_equal(wsp_jwt_strerror(WSP_JWT_BUFFER + 1), "unknown reason");
  assert_string_equal(wsp_jwt_alg_name(WSP_JWT_HS256), "HS256");
  assert_string_equal(wsp_jwt_alg_name(WSP_JWT_PS384), "PS384");
  assert_string_equal(wsp_jwt_alg_name(WSP_JWT_EDDSA), "EdDSA");
  assert_null(wsp_jwt_alg_name(0));
  assert_null(wsp_jwt_alg_name(WSP_JWT_HS256 | WSP_JWT_HS384));
  assert_string_equal(wsp_strerror(WSP_ERR_TOKEN), "invalid token");
  assert_string_equal(wsp_strerror(WSP_ERR_TOKEN_EXPIRED), "token expired");
}

/* ---- Allocation failures ------------------------------------------------ */

/* Build a full key set with f's allocator: 0 or the first error. */
static int build_with(struct tfail *f, struct wsp_jwt_keys **out) {
  struct wsp_jwt_keys *ks = NULL;
  int rc;
  *out = NULL;
  if ((rc = wsp_jwt_keys_new(&ks, &f->mem)) < 0)
    return rc;
  if ((rc = add_secret_file(ks, "s")) < 0 ||
      (rc = add_pem_file(ks, "r", "rsa.pem", 0)) < 0 ||
      (rc = add_pem_file(ks, NULL, "ec.pem", 0)) < 0 ||
      (rc = add_pem_file(ks, NULL, "ed25519.pem", 0)) < 0 ||
      (rc = add_jwks_file(ks)) < 0) {
    wsp_jwt_keys_free(ks);
    return rc;
  }
  *out = ks;
  return 0;
}

static void test_jwt_allocation_failures(void **state) {
  struct wsp_jwt_keys *ks;
  struct tfail f;
  long at;
  int rc, sticky;
  (void)state;
  for (sticky = 0; sticky <= 1; sticky++) {
    for (at = 1; at < 1000; at++) {
      tfail_init(&f, at, sticky);
      rc = build_with(&f, &ks);
      if (rc == 0) {
        assert_int_equal(wsp_jwt_keys_count(ks), 9);
        assert_int_equal(EXPECT_OK(ks, "valid-ES256"), 0);
        assert_int_equal(EXPECT_OK(ks, "kid-rsa2-ps256"), 0);
        wsp_jwt_keys_free(ks);
      } else {
        assert_int_equal(rc, WSP_ERR_NOMEM);
      }
      assert_int_equal(f.live, 0);
      assert_int_equal(f.bad_frees, 0);
      if (rc == 0 && f.failures == 0)
        break;
    }
    assert_true(at > 5 && at < 1000);
  }
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_jwt_every_algorithm_verifies),
      cmocka_unit_test(test_jwt_key_only_verifies_its_algorithms),
      cmocka_unit_test(test_jwt_hmac_with_rsa_key_bytes_refused),
      cmocka_unit_test(test_jwt_pkcs1_pem),
      cmocka_unit_test(test_jwt_tampered_token_refused),
      cmocka_unit_test(test_jwt_wrong_key_refused),
      cmocka_unit_test(test_jwt_alg_none_refused),
      cmocka_unit_test(test_jwt_signature_length),
      cmocka_unit_test(test_jwt_jwks_kid_selects_key),
      cmocka_unit_test(test_jwt_unknown_kid),
      cmocka_unit_test(test_jwt_jwks_loading),
      cmocka_unit_test(test_jwt_pem_loading),
      cmocka_unit_test(test_jwt_der_strict),
      cmocka_unit_test(test_jwt_bad_base64url),
      cmocka_unit_test(test_jwt_bad_json),
      cmocka_unit_test(test_jwt_bad_header),
      cmocka_unit_test(test_jwt_claim_types),
      cmocka_unit_test(test_jwt_too_large),
      cmocka_unit_test(test_jwt_exp_nbf_iat_with_leeway),
      cmocka_unit_test(test_jwt_numeric_dates),
      cmocka_unit_test(test_jwt_issuer_and_audience),
      cmocka_unit_test(test_jwt_required_claims),
      cmocka_unit_test(test_jwt_claims_decoded),
      cmocka_unit_test(test_jwt_buffer_size),
      cmocka_unit_test(test_jwt_invalid_arguments),
      cmocka_unit_test(test_jwt_strerror_and_names),
      cmocka_unit_test(test_jwt_allocation_failures),
  };
  fixture_dir = argc > 1 ? argv[1] : getenv("WSP_JWT_FIXTURES");
  if (!fixture_dir) {
    fprintf(stderr, "test_jwt: pass the fixture directory (tests/jwt) as "
                    "argv[1] or in WSP_JWT_FIXTURES\n");
    return 1;
  }
  return cmocka_run_group_tests(tests, load_tokens, free_tokens);
}

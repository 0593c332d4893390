/*
 * JWT verification (wsp/jwt.h). The first byte picks what the rest is:
 *   0  a token, verified with a fixed key set (an HMAC secret, and an
 *      RSA, an EC P-256 and an Ed25519 public key);
 *   1  "header\0claims": the harness signs them with HS256 and the fixed
 *      secret, so that the claims checks behind the signature are reached;
 *   2  a PEM document for wsp_jwt_keys_add_pem;
 *   3  a JWK Set for wsp_jwt_keys_add_jwks, with allocations failing
 *      from a point the second byte chooses.
 * The low bits of the second byte choose options. Results must be one of
 * the documented codes, and every span of the claims must lie in the
 * caller's buffer and be NUL-terminated where documented.
 *
 * The keys are public keys of tests/jwt/; the seeds in corpus/fuzz_jwt/
 * hold tokens of tests/jwt/tokens.txt signed with them.
 */
#include "fuzz_common.h"

#include <nettle/base64.h>
#include <nettle/hmac.h>

#define NOW INT64_C(1700000000)

#define FZ_ASSERT(cond)                                                        \
  do {                                                                         \
    if (!(cond))                                                               \
      abort();                                                                 \
  } while (0)

static const char secret[] = "libwsp-test-hmac-secret-0123456789abcdef";

static const char rsa_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAkLgk5mlOGHflgWB3f/YY\n"
    "57RTXEH2OIgBMt/TdSGJJpht77aB5+JtsTqtjFLj1Bok1XqHGTXWMPkrh2MSNnwo\n"
    "in60YvQRpJrr/83slRIiSrHItrQwVlxg7nejm0fwUPk6KnD0T08/5BtGBv1qcMqN\n"
    "yrUT3n5qbkeg8VS4MVADJTTYaomKTPUIeDjn2eDkYuatVkYcYIEZl2Y0CjuMlseq\n"
    "AyOXviCabCuBZO9L+XgI1MrF/A7xaoZC412Rp+F59nUoN3uDYSGi+dbm2E8zpzKJ\n"
    "HvV9stEjg95BPfJTMFpkxdNTV+/Krbpfb9GN/wFmdPxERpGV2SzppnUur3YVyjgK\n"
    "JQIDAQAB\n"
    "-----END PUBLIC KEY-----\n";
static const char ec_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEvVWTpDRtV/HClip1hqdeNvNk5qa3\n"
    "2qwi/LdLLsf2typ7vZOdob+uGhFGtvTsgFxKx/htsr4NAQfIrAgVh+rpBA==\n"
    "-----END PUBLIC KEY-----\n";
static const char ed_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAIWcXwMzXoYYvvao0jB6xVr3lvts95dEFcIixNmOmgU8=\n"
    "-----END PUBLIC KEY-----\n";

static struct wsp_jwt_keys *KS;

static void fz_keys(void) {
  if (KS)
    return;
  FZ_ASSERT(wsp_jwt_keys_new(&KS, NULL) == 0);
  FZ_ASSERT(wsp_jwt_keys_add_secret(KS, NULL, secret, sizeof(secret) - 1, 0) ==
            0);
  FZ_ASSERT(wsp_jwt_keys_add_pem(KS, "rsa1", rsa_pem, sizeof(rsa_pem) - 1, 0) ==
            0);
  FZ_ASSERT(wsp_jwt_keys_add_pem(KS, NULL, ec_pem, sizeof(ec_pem) - 1, 0) == 0);
  FZ_ASSERT(wsp_jwt_keys_add_pem(KS, "ed1", ed_pem, sizeof(ed_pem) - 1, 0) ==
            0);
}

static int fz_in(const struct wsp_str *s, const char *buf, size_t cap) {
  return s->ptr == NULL ||
         (s->ptr >= buf && s->len < cap && s->ptr + s->len <= buf + cap);
}

static void fz_verify(const struct wsp_jwt_keys *ks, const char *tok,
                      size_t len, unsigned flags) {
  struct wsp_jwt_options o;
  struct wsp_jwt_claims c;
  size_t cap = flags & 8 ? len / 2 : WSP_JWT_BUFSIZE(len);
  char *buf = malloc(cap ? cap : 1);
  int rc;
  const struct wsp_str *strs[5];
  size_t i;
  FZ_ASSERT(buf != NULL);
  memset(&o, 0, sizeof(o));
  o.now = NOW;
  o.leeway = flags & 1 ? 60 : 0;
  o.issuer = flags & 2 ? "https://issuer.example" : NULL;
  o.audience = flags & 4 ? "wsp-test" : NULL;
  o.max_age = flags & 16 ? 3600 : 0;
  o.require = flags & 32 ? WSP_JWT_REQUIRE_EXP | WSP_JWT_REQUIRE_SUB : 0;
  o.max_size = flags & 64 ? 65536 : 0;
  rc = wsp_jwt_verify(ks, tok, len, &o, &c, buf, cap);
  FZ_ASSERT(rc == 0 || rc == WSP_ERR_TOKEN || rc == WSP_ERR_TOKEN_EXPIRED ||
            rc == WSP_ERR_LIMIT);
  FZ_ASSERT((rc == 0) == (c.reason == WSP_JWT_OK));
  FZ_ASSERT(rc != WSP_ERR_LIMIT || c.reason == WSP_JWT_BUFFER);
  FZ_ASSERT(rc != WSP_ERR_TOKEN_EXPIRED || c.reason == WSP_JWT_EXPIRED ||
            c.reason == WSP_JWT_TOO_OLD);
  FZ_ASSERT(strcmp(wsp_jwt_strerror(c.reason), "unknown reason") != 0);
  /* a buffer of WSP_JWT_BUFSIZE is always enough */
  FZ_ASSERT(rc != WSP_ERR_LIMIT || (flags & 8));
  if (rc == 0 || rc == WSP_ERR_TOKEN_EXPIRED) {
    strs[0] = &c.sub;
    strs[1] = &c.iss;
    strs[2] = &c.aud;
    strs[3] = &c.channel;
    strs[4] = &c.kid;
    for (i = 0; i < 5; i++) {
      FZ_ASSERT(fz_in(strs[i], buf, cap));
      if (strs[i]->ptr) {
        fz_touch_str(*strs[i]);
        FZ_ASSERT(strs[i]->ptr[strs[i]->len] == '\0');
      }
    }
    FZ_ASSERT(c.payload.ptr == buf && c.payload.len <= cap);
    FZ_ASSERT(fz_in(&c.info, buf, cap) && fz_in(&c.channels, buf, cap));
    fz_touch_str(c.info);
    fz_touch_str(c.channels);
    FZ_ASSERT(wsp_jwt_alg_name(c.alg) != NULL);
  }
  free(buf);
}

/* Sign "header\0claims" with HS256 and verify the token. */
static void fz_signed(const uint8_t *d, size_t n, unsigned flags) {
  const uint8_t *nul = memchr(d, 0, n);
  struct base64_encode_ctx e;
  struct hmac_sha256_ctx h;
  uint8_t mac[SHA256_DIGEST_SIZE];
  size_t hl, pl, len = 0;
  char *tok;
  if (!nul)
    return;
  hl = (size_t)(nul - d);
  pl = n - hl - 1;
  tok = malloc(BASE64_ENCODE_LENGTH(hl) + BASE64_ENCODE_LENGTH(pl) + 64);
  FZ_ASSERT(tok != NULL);
  base64url_encode_init(&e);
  len += base64_encode_update(&e, (char *)tok + len, hl, d);
  len += base64_encode_final(&e, (char *)tok + len);
  tok[len++] = '.';
  base64url_encode_init(&e);
  len += base64_encode_update(&e, (char *)tok + len, pl, nul + 1);
  len += base64_encode_final(&e, (char *)tok + len);
  /* nettle pads; JWS does not */
  while (len && tok[len - 1] == '=')
    len--;
  hmac_sha256_set_key(&h, sizeof(secret) - 1, (const uint8_t *)secret);
  hmac_sha256_update(&h, len, (const uint8_t *)tok);
  hmac_sha256_digest(&h, sizeof(mac), mac);
  tok[len++] = '.';
  base64url_encode_init(&e);
  len += base64_encode_update(&e, (char *)tok + len, sizeof(mac), mac);
  len += base64_encode_final(&e, (char *)tok + len);
  while (tok[len - 1] == '=')
    len--;
  fz_verify(KS, tok, len, flags);
  free(tok);
}

static void fz_loaders(int jwks, const uint8_t *d, size_t n, unsigned fail) {
  struct fz_alloc a = {0, 0, fail & 31, fail & 32};
  struct wsp_mem mem = {fz_malloc, fz_realloc, fz_free, &a, NULL};
  struct wsp_jwt_keys *ks = NULL;
  char *text = malloc(n ? n : 1);
  int rc;
  FZ_ASSERT(text != NULL);
  if (n)
    memcpy(text, d, n);
  FZ_ASSERT(wsp_jwt_keys_new(&ks, &mem) == 0);
  a.armed = 1;
  if (jwks) {
    rc = wsp_jwt_keys_add_jwks(ks, text, n);
    FZ_ASSERT(rc >= 0 || rc == WSP_ERR_INVAL || rc == WSP_ERR_NOMEM);
    FZ_ASSERT(wsp_jwt_keys_count(ks) == (rc > 0 ? (size_t)rc : 0));
  } else {
    rc = wsp_jwt_keys_add_pem(ks, "k", text, n, 0);
    FZ_ASSERT(rc == 0 || rc == WSP_ERR_INVAL || rc == WSP_ERR_NOMEM);
    FZ_ASSERT(wsp_jwt_keys_count(ks) == (rc == 0 ? 1u : 0u));
  }
  a.armed = 0;
  /* whatever was loaded verifies (or refuses) a token cleanly */
  if (wsp_jwt_keys_count(ks) > 0) {
    static const char t[] =
        "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    fz_verify(ks, t, sizeof(t) - 1, 0);
  }
  wsp_jwt_keys_free(ks);
  free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  unsigned flags;
  char *tok;
  if (size < 2)
    return 0;
  fz_keys();
  flags = data[1];
  switch (data[0] & 3) {
  case 0:
    /* an exact-size copy, so that any read past the end is caught */
    tok = malloc(size - 2 ? size - 2 : 1);
    FZ_ASSERT(tok != NULL);
    memcpy(tok, data + 2, size - 2);
    fz_verify(KS, tok, size - 2, flags);
    free(tok);
    break;
  case 1:
    fz_signed(data + 2, size - 2, flags);
    break;
  case 2:
    fz_loaders(0, data + 2, size - 2, flags);
    break;
  default:
    fz_loaders(1, data + 2, size - 2, flags);
    break;
  }
  return 0;
}

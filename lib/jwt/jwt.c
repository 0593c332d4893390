/*
 * JWT verification: the compact JWS form, strict base64url, the header
 * (alg, kid, crit), the signature against the allowed keys of a set, and
 * the registered claims. Nothing of the header or claims is trusted
 * before the signature is checked, except what selects the key.
 */
#include <limits.h>
#include <string.h>

#include <gmp.h>
#include <nettle/dsa.h>
#include <nettle/ecdsa.h>
#include <nettle/eddsa.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <nettle/pss.h>
#include <nettle/sha2.h>

#include "internal.h"
#include "jwt_private.h"

/* Nesting allowed in a header and in a claims set. */
#define HEADER_DEPTH 16
#define CLAIMS_DEPTH 64
/* Members allowed in a header: duplicate names are searched pairwise
 * before the signature is known to be good. */
#define HEADER_MEMBERS 32
/* Largest signature of any algorithm: RSA with an 8192-bit modulus. */
#define SIG_MAX WSP__JWT_RSA_MAX

/* ---- Names and messages ----------------------------------------------- */

static const struct {
  const char *name;
  unsigned bit;
} alg_names[] = {
    {"HS256", WSP_JWT_HS256}, {"HS384", WSP_JWT_HS384},
    {"HS512", WSP_JWT_HS512}, {"RS256", WSP_JWT_RS256},
    {"RS384", WSP_JWT_RS384}, {"RS512", WSP_JWT_RS512},
    {"PS256", WSP_JWT_PS256}, {"PS384", WSP_JWT_PS384},
    {"PS512", WSP_JWT_PS512}, {"ES256", WSP_JWT_ES256},
    {"EdDSA", WSP_JWT_EDDSA}, {"Ed25519", WSP_JWT_EDDSA},
};

const char *wsp_jwt_alg_name(unsigned alg) {
  size_t i;
  for (i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
    if (alg_names[i].bit == alg)
      return alg_names[i].name;
  return NULL;
}

unsigned wsp__jwt_alg_from_name(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
    if (strlen(alg_names[i].name) == n && memcmp(alg_names[i].name, s, n) == 0)
      return alg_names[i].bit;
  return 0;
}

const char *wsp_jwt_strerror(int reason) {
  static const char *const msgs[] = {
#define WSP__JWT_REASON_STR(name, msg) msg,
      WSP_JWT_REASON_MAP(WSP__JWT_REASON_STR)
#undef WSP__JWT_REASON_STR
  };
  if (reason < 0 || (size_t)reason >= sizeof(msgs) / sizeof(msgs[0]))
    return "unknown reason";
  return msgs[reason];
}

/* ---- base64url ---------------------------------------------------------- */

/* 0..63 for the URL-safe alphabet, 64 for every other byte. */
/* clang-format off */
static const uint8_t b64url_val[256] = {
#define X4 64, 64, 64, 64
#define X16 X4, X4, X4, X4
    X16, X16,
    /* 0x20 */ 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 62, 64, 64,
    /* 0x30 */ 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 64, 64, 64, 64, 64, 64,
    /* 0x40 */ 64, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    /* 0x50 */ 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 64, 64, 64, 64, 63,
    /* 0x60 */ 64, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    /* 0x70 */ 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 64, 64, 64, 64, 64,
    X16, X16, X16, X16, X16, X16, X16, X16,
#undef X16
#undef X4
};
/* clang-format on */

long wsp__jwt_b64url_len(const char *s, size_t n) {
  const uint8_t *p = (const uint8_t *)s;
  size_t i;
  if (n % 4 == 1 || n > (size_t)(LONG_MAX / 3))
    return -1;
  for (i = 0; i < n; i++)
    if (b64url_val[p[i]] == 64)
      return -1;
  /* the bits past the last whole byte must be zero (canonical form) */
  if (n % 4 == 2 && (b64url_val[p[n - 1]] & 0x0f))
    return -1;
  if (n % 4 == 3 && (b64url_val[p[n - 1]] & 0x03))
    return -1;
  return (long)(n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0));
}

size_t wsp__jwt_b64url_decode(const char *s, size_t n, uint8_t *out) {
  const uint8_t *p = (const uint8_t *)s;
  size_t i, o = 0;
  uint32_t v;
  /* out never overtakes p: 4 characters become at most 3 bytes */
  for (i = 0; i + 4 <= n; i += 4) {
    v = (uint32_t)b64url_val[p[i]] << 18 |
        (uint32_t)b64url_val[p[i + 1]] << 12 |
        (uint32_t)b64url_val[p[i + 2]] << 6 | b64url_val[p[i + 3]];
    out[o++] = (uint8_t)(v >> 16);
    out[o++] = (uint8_t)(v >> 8);
    out[o++] = (uint8_t)v;
  }
  if (n - i >= 2) {
    v = (uint32_t)b64url_val[p[i]] << 18 | (uint32_t)b64url_val[p[i + 1]] << 12;
    if (n - i == 3)
      v |= (uint32_t)b64url_val[p[i + 2]] << 6;
    out[o++] = (uint8_t)(v >> 16);
    if (n - i == 3)
      out[o++] = (uint8_t)(v >> 8);
  }
  return o;
}

/* ---- JSON member names ------------------------------------------------- */

/* Reads the decoded bytes of a JSON string one at a time. */
struct strit {
  const char *p, *end;
  char pend[5];
  size_t npend, ipend;
};

static void strit_init(struct strit *it, const struct wsp__json_val *v) {
  it->p = v->ptr + 1;
  it->end = v->ptr + v->len - 1;
  it->npend = it->ipend = 0;
}

/* The next decoded byte, or -1 at the end. */
static int strit_next(struct strit *it) {
  struct wsp__json_val esc;
  char tmp[16];
  size_t n;
  if (it->ipend < it->npend)
    return (unsigned char)it->pend[it->ipend++];
  if (it->p >= it->end)
    return -1;
  if (*it->p != '\\')
    return (unsigned char)*it->p++;
  /* one escape, or a surrogate pair, decoded by the JSON module */
  n = it->p[1] == 'u' ? 6 : 2;
  if (n == 6 && it->end - it->p >= 12 && it->p[6] == '\\' && it->p[7] == 'u' &&
      (it->p[2] == 'd' || it->p[2] == 'D') &&
      strchr("89abAB", it->p[3]) != NULL)
    n = 12;
  if ((size_t)(it->end - it->p) < n)
    return -1;
  tmp[0] = '"';
  memcpy(tmp + 1, it->p, n);
  tmp[n + 1] = '"';
  esc.type = WSP__JSON_STRING;
  esc.ptr = tmp;
  esc.len = n + 2;
  if (wsp__json_string_decode(&esc, it->pend, sizeof(it->pend), &it->npend) <
          0 ||
      it->npend == 0)
    return -1;
  it->p += n;
  it->ipend = 1;
  return (unsigned char)it->pend[0];
}

int wsp__jwt_key_eq(const struct wsp__json_val *a,
                    const struct wsp__json_val *b) {
  struct strit ia, ib;
  int ca, cb;
  if (a->len == b->len && memcmp(a->ptr, b->ptr, a->len) == 0)
    return 1;
  if (!memchr(a->ptr, '\\', a->len) && !memchr(b->ptr, '\\', b->len))
    return 0;
  strit_init(&ia, a);
  strit_init(&ib, b);
  do {
    ca = strit_next(&ia);
    cb = strit_next(&ib);
    if (ca != cb)
      return 0;
  } while (ca >= 0);
  return 1;
}

/* Pairwise, with at most max members (0: no limit). */
static int check_names(const char *obj, size_t len, size_t max) {
  struct wsp__json_val k1, k2, v;
  size_t p1 = 0, p2, count = 0;
  int rc;
  while ((rc = wsp__json_object_next(obj, len, &p1, &k1, &v)) == 1) {
    if (max && ++count > max)
      return -2;
    p2 = p1;
    while ((rc = wsp__json_object_next(obj, len, &p2, &k2, &v)) == 1)
      if (wsp__jwt_key_eq(&k1, &k2))
        return -1;
    if (rc < 0)
      return -1;
  }
  return rc < 0 ? -1 : 0;
}

int wsp__jwt_no_duplicates(const char *obj, size_t len) {
  return check_names(obj, len, 0) < 0 ? -1 : 0;
}

/* ---- Signatures -------------------------------------------------------- */

/* DigestInfo prefix for SHA-384 (RFC 8017, 9.2 note 1): nettle has no
 * rsa_sha384 helpers, so RS384 goes through rsa_pkcs1_verify. */
static const uint8_t sha384_prefix[] = {
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
    0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30};

/* The digest of msg with the hash of alg into d; returns its length. */
static size_t digest(unsigned alg, const uint8_t *msg, size_t len, uint8_t *d) {
  struct sha256_ctx c256;
  struct sha512_ctx c512;
  if (alg & (WSP_JWT_RS256 | WSP_JWT_PS256 | WSP_JWT_ES256)) {
    sha256_init(&c256);
    sha256_update(&c256, len, msg);
    sha256_digest(&c256, SHA256_DIGEST_SIZE, d);
    return SHA256_DIGEST_SIZE;
  }
  if (alg & (WSP_JWT_RS384 | WSP_JWT_PS384)) {
    sha384_init(&c512);
    sha384_update(&c512, len, msg);
    sha384_digest(&c512, SHA384_DIGEST_SIZE, d);
    return SHA384_DIGEST_SIZE;
  }
  sha512_init(&c512);
  sha512_update(&c512, len, msg);
  sha512_digest(&c512, SHA512_DIGEST_SIZE, d);
  return SHA512_DIGEST_SIZE;
}

static int verify_hmac(const struct wsp__jwt_key *k, unsigned alg,
                       const uint8_t *msg, size_t len, const uint8_t *sig,
                       size_t siglen) {
  uint8_t mac[SHA512_DIGEST_SIZE];
  size_t n;
  struct hmac_sha256_ctx h256;
  struct hmac_sha384_ctx h384;
  struct hmac_sha512_ctx h512;
  int ok;
  n = alg == WSP_JWT_HS256   ? SHA256_DIGEST_SIZE
      : alg == WSP_JWT_HS384 ? SHA384_DIGEST_SIZE
                             : SHA512_DIGEST_SIZE;
  if (siglen != n)
    return WSP_JWT_SIG_LENGTH;
  if (alg == WSP_JWT_HS256) {
    hmac_sha256_set_key(&h256, k->u.secret.len, k->u.secret.data);
    hmac_sha256_update(&h256, len, msg);
    hmac_sha256_digest(&h256, n, mac);
  } else if (alg == WSP_JWT_HS384) {
    hmac_sha384_set_key(&h384, k->u.secret.len, k->u.secret.data);
    hmac_sha384_update(&h384, len, msg);
    hmac_sha384_digest(&h384, n, mac);
  } else {
    hmac_sha512_set_key(&h512, k->u.secret.len, k->u.secret.data);
    hmac_sha512_update(&h512, len, msg);
    hmac_sha512_digest(&h512, n, mac);
  }
  /* constant time: the comparison tells nothing about the MAC */
  ok = memeql_sec(mac, sig, n);
  return ok ? WSP_JWT_OK : WSP_JWT_BAD_SIGNATURE;
}

static int verify_rsa(const struct wsp__jwt_key *k, unsigned alg,
                      const uint8_t *msg, size_t len, const uint8_t *sig,
                      size_t siglen) {
  uint8_t d[sizeof(sha384_prefix) + SHA512_DIGEST_SIZE];
  mpz_t s;
  size_t dn;
  int ok = 0;
  /* RFC 7518 3.3: the signature has exactly the modulus's length */
  if (siglen != k->u.rsa.size)
    return WSP_JWT_SIG_LENGTH;
  dn = digest(alg, msg, len, d + sizeof(sha384_prefix));
  mpz_init(s);
  mpz_import(s, siglen, 1, 1, 0, 0, sig);
  switch (alg) {
  case WSP_JWT_RS256:
    ok = rsa_sha256_verify_digest(&k->u.rsa, d + sizeof(sha384_prefix), s);
    break;
  case WSP_JWT_RS384:
    memcpy(d, sha384_prefix, sizeof(sha384_prefix));
    ok = rsa_pkcs1_verify(&k->u.rsa, sizeof(d) - SHA512_DIGEST_SIZE + dn, d, s);
    break;
  case WSP_JWT_RS512:
    ok = rsa_sha512_verify_digest(&k->u.rsa, d + sizeof(sha384_prefix), s);
    break;
  /* PSS: MGF1 with the same hash, salt as long as the hash (RFC 7518) */
  case WSP_JWT_PS256:
    ok = rsa_pss_sha256_verify_digest(&k->u.rsa, dn, d + sizeof(sha384_prefix),
                                      s);
    break;
  case WSP_JWT_PS384:
    ok = rsa_pss_sha384_verify_digest(&k->u.rsa, dn, d + sizeof(sha384_prefix),
                                      s);
    break;
  case WSP_JWT_PS512:
    ok = rsa_pss_sha512_verify_digest(&k->u.rsa, dn, d + sizeof(sha384_prefix),
                                      s);
    break;
  default:
    break;
  }
  mpz_clear(s);
  return ok ? WSP_JWT_OK : WSP_JWT_BAD_SIGNATURE;
}

/* ES256: the JOSE form is R || S, 32 bytes each (RFC 7518 3.4). */
static int verify_ec(const struct wsp__jwt_key *k, const uint8_t *msg,
                     size_t len, const uint8_t *sig, size_t siglen) {
  struct dsa_signature rs;
  uint8_t d[SHA256_DIGEST_SIZE];
  int ok;
  if (siglen != 64)
    return WSP_JWT_SIG_LENGTH;
  digest(WSP_JWT_ES256, msg, len, d);
  dsa_signature_init(&rs);
  mpz_import(rs.r, 32, 1, 1, 0, 0, sig);
  mpz_import(rs.s, 32, 1, 1, 0, 0, sig + 32);
  ok = ecdsa_verify(&k->u.ec, sizeof(d), d, &rs);
  dsa_signature_clear(&rs);
  return ok ? WSP_JWT_OK : WSP_JWT_BAD_SIGNATURE;
}

static int verify_sig(const struct wsp__jwt_key *k, unsigned alg,
                      const uint8_t *msg, size_t len, const uint8_t *sig,
                      size_t siglen) {
  switch (k->type) {
  case WSP__JWT_HMAC:
    return verify_hmac(k, alg, msg, len, sig, siglen);
  case WSP__JWT_RSA:
    return verify_rsa(k, alg, msg, len, sig, siglen);
  case WSP__JWT_EC:
    return verify_ec(k, msg, len, sig, siglen);
  case WSP__JWT_ED25519:
    if (siglen != ED25519_SIGNATURE_SIZE)
      return WSP_JWT_SIG_LENGTH;
    return ed25519_sha512_verify(k->u.ed25519, len, msg, sig)
               ? WSP_JWT_OK
               : WSP_JWT_BAD_SIGNATURE;
  default:
    return WSP_JWT_BAD_SIGNATURE;
  }
}

/* ---- Claims ------------------------------------------------------------- */

/*
 * A NumericDate (RFC 7519 2): any JSON number of seconds, rounded down
 * to a whole second and saturated to the int64_t range. 0 or -1.
 */
static int numeric_date(const struct wsp__json_val *v, int64_t *out) {
  const char *p, *end, *digits, *dend;
  int neg, eneg = 0, rem = 0;
  long ex = 0, point, ip;
  uint64_t mag = 0;
  int sat = 0;
  long i, nd;
  if (v->type != WSP__JSON_NUMBER)
    return -1;
  if (wsp__json_get_i64(v, out) == 0)
    return 0;
  p = v->ptr;
  end = v->ptr + v->len;
  neg = *p == '-';
  p += neg;
  /* the digits of the integer and fraction parts, and where the point is */
  digits = p;
  while (p < end && *p >= '0' && *p <= '9')
    p++;
  point = (long)(p - digits);
  dend = p;
  if (p < end && *p == '.') {
    p++;
    while (p < end && *p >= '0' && *p <= '9')
      p++;
    dend = p;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-'))
      eneg = *p++ == '-';
    for (; p < end && *p >= '0' && *p <= '9'; p++)
      if (ex < 1000000)
        ex = ex * 10 + (*p - '0');
  }
  if (p != end)
    return -1;
  /* digit k (0-based, the point skipped) is worth 10^(ip - 1 - k) */
  ip = point + (eneg ? -ex : ex);
  nd = (long)(dend - digits) - (dend > digits + point ? 1 : 0);
  for (i = 0; i < nd || i < ip; i++) {
    int dgt = 0;
    if (i < nd) {
      const char *c = digits + i + (i >= point ? 1 : 0);
      dgt = *c - '0';
    }
    if (i < ip) {
      if (!sat && (mag > (UINT64_MAX - (uint64_t)dgt) / 10))
        sat = 1;
      if (!sat)
        mag = mag * 10 + (uint64_t)dgt;
    } else if (dgt) {
      rem = 1;
      break;
    }
    if (sat && i >= nd)
      break;
  }
  if (!neg) {
    *out = sat || mag > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)mag;
  } else {
    mag += (uint64_t)rem; /* floor */
    *out = sat || mag > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)mag;
  }
  return 0;
}

static int64_t sat_add(int64_t a, int64_t b) {
  if (b > 0 && a > INT64_MAX - b)
    return INT64_MAX;
  if (b < 0 && a < INT64_MIN - b)
    return INT64_MIN;
  return a + b;
}

static int64_t sat_sub(int64_t a, int64_t b) {
  if (b < 0 && a > INT64_MAX + b)
    return INT64_MAX;
  if (b > 0 && a < INT64_MIN + b)
    return INT64_MIN;
  return a - b;
}

/* Output space in the caller's buffer. */
struct obuf {
  char *p;
  size_t len, cap;
};

/* Decode the string v into ob as a NUL-terminated span. 0 or -1. */
static int put_str(struct obuf *ob, const struct wsp__json_val *v,
                   struct wsp_str *dst) {
  size_t n;
  char *at = ob->p + ob->len;
  if (ob->len >= ob->cap ||
      wsp__json_string_decode(v, at, ob->cap - ob->len, &n) < 0 ||
      n >= ob->cap - ob->len)
    return -1;
  at[n] = '\0';
  dst->ptr = at;
  dst->len = n;
  ob->len += n + 1;
  return 0;
}

/* Is the NUL-terminated want equal to the string v? */
static int str_equals(const struct wsp__json_val *v, const char *want) {
  return v->type == WSP__JSON_STRING && wsp__json_key_is(v, want);
}

/* The claims we know, read from the verified payload[0..len). */
struct seen {
  struct wsp__json_val sub, iss, aud, channel, info, channels, aud_match;
  int has_sub, has_iss, has_aud, has_channel;
};

static int read_claims(const char *payload, size_t len,
                       const struct wsp_jwt_options *opt,
                       struct wsp_jwt_claims *out, struct seen *s) {
  struct wsp__json_val k, v, e;
  size_t pos = 0, ep;
  int rc;
  memset(s, 0, sizeof(*s));
  while ((rc = wsp__json_object_next(payload, len, &pos, &k, &v)) == 1) {
    if (wsp__json_key_is(&k, "exp")) {
      if (numeric_date(&v, &out->exp) < 0)
        return WSP_JWT_BAD_CLAIM;
      out->has_exp = 1;
    } else if (wsp__json_key_is(&k, "nbf")) {
      if (numeric_date(&v, &out->nbf) < 0)
        return WSP_JWT_BAD_CLAIM;
      out->has_nbf = 1;
    } else if (wsp__json_key_is(&k, "iat")) {
      if (numeric_date(&v, &out->iat) < 0)
        return WSP_JWT_BAD_CLAIM;
      out->has_iat = 1;
    } else if (wsp__json_key_is(&k, "sub")) {
      if (v.type != WSP__JSON_STRING)
        return WSP_JWT_BAD_CLAIM;
      s->sub = v, s->has_sub = 1;
    } else if (wsp__json_key_is(&k, "iss")) {
      if (v.type != WSP__JSON_STRING)
        return WSP_JWT_BAD_CLAIM;
      s->iss = v, s->has_iss = 1;
    } else if (wsp__json_key_is(&k, "channel")) {
      if (v.type != WSP__JSON_STRING)
        return WSP_JWT_BAD_CLAIM;
      s->channel = v, s->has_channel = 1;
    } else if (wsp__json_key_is(&k, "info")) {
      s->info = v;
    } else if (wsp__json_key_is(&k, "channels")) {
      if (v.type != WSP__JSON_ARRAY)
        return WSP_JWT_BAD_CLAIM;
      ep = 0;
      while ((rc = wsp__json_array_next(v.ptr, v.len, &ep, &e)) == 1)
        if (e.type != WSP__JSON_STRING)
          return WSP_JWT_BAD_CLAIM;
      if (rc < 0)
        return WSP_JWT_BAD_JSON;
      s->channels = v;
    } else if (wsp__json_key_is(&k, "aud")) {
      /* a string, or an array of strings (RFC 7519 4.1.3) */
      if (v.type == WSP__JSON_STRING) {
        s->aud = v;
        if (opt->audience && str_equals(&v, opt->audience))
          s->aud_match = v;
      } else if (v.type == WSP__JSON_ARRAY) {
        ep = 0;
        while ((rc = wsp__json_array_next(v.ptr, v.len, &ep, &e)) == 1) {
          if (e.type != WSP__JSON_STRING)
            return WSP_JWT_BAD_CLAIM;
          if (!s->aud.type)
            s->aud = e;
          if (!s->aud_match.type && opt->audience &&
              str_equals(&e, opt->audience))
            s->aud_match = e;
        }
        if (rc < 0)
          return WSP_JWT_BAD_JSON;
      } else {
        return WSP_JWT_BAD_CLAIM;
      }
      s->has_aud = 1;
    }
  }
  return rc < 0 ? WSP_JWT_BAD_JSON : WSP_JWT_OK;
}

/* The checks after the signature, in the order of their reasons. */
static int check_claims(const struct wsp_jwt_options *opt,
                        const struct wsp_jwt_claims *out,
                        const struct seen *s) {
  unsigned req = opt->require;
  if (((req & WSP_JWT_REQUIRE_EXP) && !out->has_exp) ||
      ((req & WSP_JWT_REQUIRE_NBF) && !out->has_nbf) ||
      ((req & WSP_JWT_REQUIRE_IAT) && !out->has_iat) ||
      (opt->max_age > 0 && !out->has_iat) ||
      ((req & WSP_JWT_REQUIRE_SUB) && !s->has_sub) ||
      ((req & WSP_JWT_REQUIRE_ISS) && !s->has_iss) ||
      ((req & WSP_JWT_REQUIRE_AUD) && !s->has_aud))
    return WSP_JWT_MISSING_CLAIM;
  if (opt->issuer && !(s->has_iss && str_equals(&s->iss, opt->issuer)))
    return WSP_JWT_WRONG_ISSUER;
  if (opt->audience && !s->aud_match.type)
    return WSP_JWT_WRONG_AUDIENCE;
  /* nbf: now may be up to leeway before it; exp: now must be before
   * exp + leeway (RFC 7519 4.1.4, 4.1.5) */
  if (out->has_nbf && out->nbf > sat_add(opt->now, opt->leeway))
    return WSP_JWT_NOT_YET_VALID;
  if (out->has_iat && out->iat > sat_add(opt->now, opt->leeway))
    return WSP_JWT_IAT_FUTURE;
  if (out->has_exp && out->exp <= sat_sub(opt->now, opt->leeway))
    return WSP_JWT_EXPIRED;
  if (opt->max_age > 0 &&
      sat_sub(opt->now, out->iat) > sat_add(opt->max_age, opt->leeway))
    return WSP_JWT_TOO_OLD;
  return WSP_JWT_OK;
}

/* ---- Verification ------------------------------------------------------ */

/* The header: alg and kid (decoded into kid[WSP__JWT_MAX_KID + 1]). */
struct header {
  unsigned alg;
  int has_kid, kid_long;
  char kid[WSP__JWT_MAX_KID + 1];
  size_t kid_len;
};

static int read_header(const char *h, size_t len, struct header *hd) {
  struct wsp__json_val k, v, alg;
  size_t pos = 0, n;
  int rc, has_alg = 0;
  char name[16];
  if (wsp__json_validate(h, len, HEADER_DEPTH, NULL) < 0)
    return WSP_JWT_BAD_JSON;
  rc = check_names(h, len, HEADER_MEMBERS);
  if (rc == -2)
    return WSP_JWT_BAD_HEADER;
  if (rc < 0) /* not an object, or a name twice */
    return wsp__json_object_next(h, len, &pos, &k, &v) < 0 ? WSP_JWT_BAD_JSON
                                                           : WSP_JWT_DUPLICATE;
  pos = 0;
  memset(hd, 0, sizeof(*hd));
  while ((rc = wsp__json_object_next(h, len, &pos, &k, &v)) == 1) {
    if (wsp__json_key_is(&k, "crit")) {
      /* no extension is understood, so any crit is refused (7515 4.1.11) */
      return WSP_JWT_CRIT;
    } else if (wsp__json_key_is(&k, "alg")) {
      alg = v;
      has_alg = 1;
    } else if (wsp__json_key_is(&k, "kid")) {
      if (v.type != WSP__JSON_STRING)
        return WSP_JWT_BAD_HEADER;
      hd->has_kid = 1;
      if (wsp__json_string_decode(&v, hd->kid, sizeof(hd->kid), &hd->kid_len) <
              0 ||
          hd->kid_len >= sizeof(hd->kid))
        hd->kid_long = 1; /* matches no key */
    }
    /* "jwk", "jku", "x5u", "x5c" are ignored: keys come from the set */
  }
  if (rc < 0)
    return WSP_JWT_BAD_JSON;
  if (!has_alg || alg.type != WSP__JSON_STRING)
    return WSP_JWT_BAD_HEADER;
  if (wsp__json_string_decode(&alg, name, sizeof(name), &n) < 0 ||
      n >= sizeof(name))
    return WSP_JWT_ALG_UNKNOWN;
  if (n == 4 && (name[0] | 0x20) == 'n' && (name[1] | 0x20) == 'o' &&
      (name[2] | 0x20) == 'n' && (name[3] | 0x20) == 'e')
    return WSP_JWT_ALG_NONE;
  if (!(hd->alg = wsp__jwt_alg_from_name(name, n)))
    return WSP_JWT_ALG_UNKNOWN;
  return WSP_JWT_OK;
}

static int kid_is(const struct wsp__jwt_key *k, const struct header *hd) {
  return k->kid && !hd->kid_long && k->kid_len == hd->kid_len &&
         memcmp(k->kid, hd->kid, k->kid_len) == 0;
}

/*
 * Try the keys the header selects: those with its kid, else (or when it
 * has none) those without a kid, or every key for a token without kid.
 */
static int check_signature(const struct wsp_jwt_keys *ks,
                           const struct header *hd, const char *token,
                           size_t signed_len, const uint8_t *sig,
                           size_t siglen) {
  size_t i, named = 0, candidates = 0, tried = 0, short_sigs = 0;
  const struct wsp__jwt_key *k;
  int rc;
  if (hd->has_kid)
    for (i = 0; i < ks->n; i++)
      named += kid_is(&ks->keys[i], hd);
  for (i = 0; i < ks->n; i++) {
    k = &ks->keys[i];
    if (hd->has_kid && (named ? !kid_is(k, hd) : k->kid != NULL))
      continue;
    candidates++;
    /* a key only ever verifies its own algorithms: no HS/RS confusion */
    if (!(k->algs & hd->alg))
      continue;
    tried++;
    rc =
        verify_sig(k, hd->alg, (const uint8_t *)token, signed_len, sig, siglen);
    if (rc == WSP_JWT_OK)
      return WSP_JWT_OK;
    short_sigs += rc == WSP_JWT_SIG_LENGTH;
  }
  if (candidates == 0)
    return hd->has_kid ? WSP_JWT_UNKNOWN_KID : WSP_JWT_NO_KEY;
  if (tried == 0)
    return WSP_JWT_ALG_NOT_ALLOWED;
  return short_sigs == tried ? WSP_JWT_SIG_LENGTH : WSP_JWT_BAD_SIGNATURE;
}

static int fail(struct wsp_jwt_claims *out, int reason) {
  out->reason = reason;
  if (reason == WSP_JWT_EXPIRED || reason == WSP_JWT_TOO_OLD)
    return WSP_ERR_TOKEN_EXPIRED;
  if (reason == WSP_JWT_BUFFER)
    return WSP_ERR_LIMIT;
  return WSP_ERR_TOKEN;
}

int wsp_jwt_verify(const struct wsp_jwt_keys *ks, const char *token, size_t len,
                   const struct wsp_jwt_options *opt,
                   struct wsp_jwt_claims *out, char *buf, size_t bufcap) {
  const char *d1, *d2, *sp;
  size_t hlen, plen, slen, max;
  long hdec, pdec, sdec;
  uint8_t sig[SIG_MAX];
  struct header hd;
  struct seen s;
  struct obuf ob;
  char *payload;
  int rc;
  if (!out)
    return WSP_ERR_INVAL;
  memset(out, 0, sizeof(*out));
  if (!ks || !token || !opt || (!buf && bufcap) || opt->leeway < 0 ||
      opt->max_age < 0) {
    out->reason = WSP_JWT_MALFORMED;
    return WSP_ERR_INVAL;
  }
  max = opt->max_size ? opt->max_size : WSP_JWT_DEFAULT_MAX_SIZE;
  if (len > max)
    return fail(out, WSP_JWT_TOO_LARGE);

  /* header.payload.signature */
  d1 = memchr(token, '.', len);
  d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
  if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
    return fail(out, WSP_JWT_MALFORMED);
  hlen = (size_t)(d1 - token);
  plen = (size_t)(d2 - d1 - 1);
  sp = d2 + 1;
  slen = len - (size_t)(sp - token);
  if (hlen == 0 || plen == 0)
    return fail(out, WSP_JWT_MALFORMED);
  if ((hdec = wsp__jwt_b64url_len(token, hlen)) < 0 ||
      (pdec = wsp__jwt_b64url_len(d1 + 1, plen)) < 0 ||
      (sdec = wsp__jwt_b64url_len(sp, slen)) < 0)
    return fail(out, WSP_JWT_BAD_BASE64);

  /* the header, decoded at the end of buf for now */
  if ((size_t)hdec > bufcap)
    return fail(out, WSP_JWT_BUFFER);
  {
    char *h = buf + bufcap - (size_t)hdec;
    wsp__jwt_b64url_decode(token, hlen, (uint8_t *)h);
    if ((rc = read_header(h, (size_t)hdec, &hd)) != WSP_JWT_OK)
      return fail(out, rc);
  }

  /* a signature longer than any key's is tried as an empty one, which
   * every algorithm refuses for its length */
  rc = check_signature(
      ks, &hd, token, (size_t)(d2 - token), sig,
      (size_t)sdec > sizeof(sig) ? 0 : wsp__jwt_b64url_decode(sp, slen, sig));
  if (rc != WSP_JWT_OK)
    return fail(out, rc);
  out->alg = hd.alg;

  /* the signature is good: now the claims, decoded at the start of buf */
  if ((size_t)pdec > bufcap)
    return fail(out, WSP_JWT_BUFFER);
  payload = buf;
  wsp__jwt_b64url_decode(d1 + 1, plen, (uint8_t *)payload);
  if (wsp__json_validate(payload, (size_t)pdec, CLAIMS_DEPTH, NULL) < 0)
    return fail(out, WSP_JWT_BAD_JSON);
  if ((rc = check_names(payload, (size_t)pdec, 0)) < 0) {
    size_t pos = 0;
    struct wsp__json_val k, v;
    return fail(out,
                wsp__json_object_next(payload, (size_t)pdec, &pos, &k, &v) < 0
                    ? WSP_JWT_BAD_JSON
                    : WSP_JWT_DUPLICATE);
  }
  out->payload.ptr = payload;
  out->payload.len = (size_t)pdec;
  if ((rc = read_claims(payload, (size_t)pdec, opt, out, &s)) != WSP_JWT_OK)
    return fail(out, rc);
  if (s.info.type) {
    out->info.ptr = s.info.ptr;
    out->info.len = s.info.len;
  }
  if (s.channels.type) {
    out->channels.ptr = s.channels.ptr;
    out->channels.len = s.channels.len;
  }

  /* decoded strings after the payload */
  ob.p = buf;
  ob.len = (size_t)pdec;
  ob.cap = bufcap;
  if ((s.has_sub && put_str(&ob, &s.sub, &out->sub) < 0) ||
      (s.has_iss && put_str(&ob, &s.iss, &out->iss) < 0) ||
      (s.has_aud && s.aud.type &&
       put_str(&ob, s.aud_match.type ? &s.aud_match : &s.aud, &out->aud) < 0) ||
      (s.has_channel && put_str(&ob, &s.channel, &out->channel) < 0))
    return fail(out, WSP_JWT_BUFFER);
  if (hd.has_kid && !hd.kid_long) {
    if (ob.cap - ob.len <= hd.kid_len)
      return fail(out, WSP_JWT_BUFFER);
    memcpy(ob.p + ob.len, hd.kid, hd.kid_len);
    ob.p[ob.len + hd.kid_len] = '\0';
    out->kid.ptr = ob.p + ob.len;
    out->kid.len = hd.kid_len;
    ob.len += hd.kid_len + 1;
  }

  if ((rc = check_claims(opt, out, &s)) != WSP_JWT_OK)
    return fail(out, rc);
  out->reason = WSP_JWT_OK;
  return 0;
}

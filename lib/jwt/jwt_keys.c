/*
 * JWT key sets: HMAC secrets, and RSA, EC P-256 and Ed25519 public keys
 * read from PEM (SubjectPublicKeyInfo or PKCS #1, through a small strict
 * DER reader) or from JWK Sets. Every key carries the algorithms it may
 * verify, never more than its type allows.
 */
#include <string.h>

#include <gmp.h>
#include <nettle/base64.h>
#include <nettle/ecc-curve.h>

#include "internal.h"
#include "jwt_private.h"

/* Largest PEM text and DER key read, in bytes. */
#define PEM_MAX 65536
/* Nesting allowed in a JWK Set. */
#define JWKS_DEPTH 16

unsigned wsp__jwt_natural_algs(int type) {
  switch (type) {
  case WSP__JWT_HMAC:
    return WSP_JWT_HS;
  case WSP__JWT_RSA:
    return WSP_JWT_RS | WSP_JWT_PS;
  case WSP__JWT_EC:
    return WSP_JWT_ES256;
  case WSP__JWT_ED25519:
    return WSP_JWT_EDDSA;
  default:
    return 0;
  }
}

void wsp__jwt_key_clear(const struct wsp_mem *mem, struct wsp__jwt_key *k) {
  switch (k->type) {
  case WSP__JWT_HMAC:
    if (k->u.secret.data) {
      /* the secret does not outlive the key in freed memory */
      memset(k->u.secret.data, 0, k->u.secret.len);
      wsp__free(mem, k->u.secret.data);
    }
    break;
  case WSP__JWT_RSA:
    rsa_public_key_clear(&k->u.rsa);
    break;
  case WSP__JWT_EC:
    ecc_point_clear(&k->u.ec);
    break;
  default:
    break;
  }
  wsp__free(mem, k->kid);
  memset(k, 0, sizeof(*k));
}

int wsp_jwt_keys_new(struct wsp_jwt_keys **pks, const struct wsp_mem *mem) {
  struct wsp_mem m;
  struct wsp_jwt_keys *ks;
  if (!pks)
    return WSP_ERR_INVAL;
  *pks = NULL;
  wsp__mem_init(&m, mem);
  ks = wsp__malloc(&m, sizeof(*ks));
  if (!ks)
    return WSP_ERR_NOMEM;
  memset(ks, 0, sizeof(*ks));
  ks->mem = m;
  *pks = ks;
  return 0;
}

void wsp_jwt_keys_free(struct wsp_jwt_keys *ks) {
  size_t i;
  if (!ks)
    return;
  for (i = 0; i < ks->n; i++)
    wsp__jwt_key_clear(&ks->mem, &ks->keys[i]);
  wsp__free(&ks->mem, ks->keys);
  wsp__free(&ks->mem, ks);
}

size_t wsp_jwt_keys_count(const struct wsp_jwt_keys *ks) {
  return ks ? ks->n : 0;
}

/* Room for more keys: 0 or WSP_ERR_NOMEM. */
static int keys_reserve(struct wsp_jwt_keys *ks, size_t more) {
  struct wsp__jwt_key *nk;
  size_t cap;
  if (ks->cap - ks->n >= more)
    return 0;
  if (more > SIZE_MAX / 2 / sizeof(*nk) - ks->n)
    return WSP_ERR_NOMEM;
  cap = ks->cap ? ks->cap : 4;
  while (cap - ks->n < more)
    cap *= 2;
  nk = wsp__realloc(&ks->mem, ks->keys, cap * sizeof(*nk));
  if (!nk)
    return WSP_ERR_NOMEM;
  ks->keys = nk;
  ks->cap = cap;
  return 0;
}

/* The algorithms for a key of type: algs (0: all natural ones) or
 * 0 when algs asks for any the type cannot do. */
static unsigned pick_algs(int type, unsigned algs) {
  unsigned nat = wsp__jwt_natural_algs(type);
  if (algs == 0)
    return nat;
  return (algs & ~nat) ? 0 : algs;
}

static int set_kid(const struct wsp_mem *mem, struct wsp__jwt_key *k,
                   const char *kid, size_t len) {
  if (!kid)
    return 0;
  if (len > WSP__JWT_MAX_KID)
    return WSP_ERR_INVAL;
  k->kid = wsp__strndup(mem, kid, len);
  if (!k->kid)
    return WSP_ERR_NOMEM;
  k->kid_len = len;
  return 0;
}

int wsp_jwt_keys_add_secret(struct wsp_jwt_keys *ks, const char *kid,
                            const void *secret, size_t len, unsigned algs) {
  struct wsp__jwt_key k;
  int rc;
  if (!ks || !secret || len == 0 || len > PEM_MAX)
    return WSP_ERR_INVAL;
  memset(&k, 0, sizeof(k));
  k.type = WSP__JWT_HMAC;
  if (!(k.algs = pick_algs(k.type, algs)))
    return WSP_ERR_INVAL;
  if ((rc = keys_reserve(ks, 1)) < 0)
    return rc;
  if ((rc = set_kid(&ks->mem, &k, kid, kid ? strlen(kid) : 0)) < 0)
    return rc;
  k.u.secret.data = wsp__malloc(&ks->mem, len);
  if (!k.u.secret.data) {
    wsp__jwt_key_clear(&ks->mem, &k);
    return WSP_ERR_NOMEM;
  }
  memcpy(k.u.secret.data, secret, len);
  k.u.secret.len = len;
  ks->keys[ks->n++] = k;
  return 0;
}

/* ---- Public key material ---------------------------------------------- */

/* An RSA key from big-endian n and e (leading zero bytes allowed). */
static int rsa_from_bytes(struct wsp__jwt_key *k, const uint8_t *n, size_t nlen,
                          const uint8_t *e, size_t elen) {
  while (nlen && n[0] == 0)
    n++, nlen--;
  while (elen && e[0] == 0)
    e++, elen--;
  /* moduli of 2048..8192 bits, an odd exponent of at least 3 below n */
  if (nlen < WSP__JWT_RSA_MIN || nlen > WSP__JWT_RSA_MAX || elen == 0 ||
      elen > nlen || !(e[elen - 1] & 1) || (elen == 1 && e[0] < 3) ||
      !(n[nlen - 1] & 1))
    return WSP_ERR_INVAL;
  k->type = WSP__JWT_RSA;
  rsa_public_key_init(&k->u.rsa);
  mpz_import(k->u.rsa.n, nlen, 1, 1, 0, 0, n);
  mpz_import(k->u.rsa.e, elen, 1, 1, 0, 0, e);
  if (mpz_cmp(k->u.rsa.e, k->u.rsa.n) >= 0 ||
      mpz_sizeinbase(k->u.rsa.n, 2) < 8 * WSP__JWT_RSA_MIN ||
      !rsa_public_key_prepare(&k->u.rsa) || k->u.rsa.size != nlen) {
    rsa_public_key_clear(&k->u.rsa);
    k->type = 0;
    return WSP_ERR_INVAL;
  }
  return 0;
}

/* A P-256 point from its 32-byte coordinates; it must be on the curve. */
static int ec_from_bytes(struct wsp__jwt_key *k, const uint8_t *x,
                         const uint8_t *y) {
  mpz_t mx, my;
  int ok;
  mpz_init(mx);
  mpz_init(my);
  mpz_import(mx, 32, 1, 1, 0, 0, x);
  mpz_import(my, 32, 1, 1, 0, 0, y);
  ecc_point_init(&k->u.ec, nettle_get_secp_256r1());
  ok = ecc_point_set(&k->u.ec, mx, my);
  mpz_clear(mx);
  mpz_clear(my);
  if (!ok) {
    ecc_point_clear(&k->u.ec);
    return WSP_ERR_INVAL;
  }
  k->type = WSP__JWT_EC;
  return 0;
}

static int ed25519_from_bytes(struct wsp__jwt_key *k, const uint8_t *x,
                              size_t len) {
  if (len != 32)
    return WSP_ERR_INVAL;
  memcpy(k->u.ed25519, x, 32);
  k->type = WSP__JWT_ED25519;
  return 0;
}

/* ---- DER --------------------------------------------------------------- */

/* A span of DER being read. */
struct der {
  const uint8_t *p, *end;
};

/* Read one element with tag into *in (its contents): definite, minimal
 * lengths only. 0 or -1. */
static int der_get(struct der *d, uint8_t tag, struct der *in) {
  size_t len, i, nb;
  if (d->end - d->p < 2 || d->p[0] != tag)
    return -1;
  len = d->p[1];
  d->p += 2;
  if (len & 0x80) {
    nb = len & 0x7f;
    /* 0x80 is the indefinite form; keys never need 4 length bytes */
    if (nb == 0 || nb > 3 || (size_t)(d->end - d->p) < nb || d->p[0] == 0)
      return -1;
    for (len = 0, i = 0; i < nb; i++)
      len = (len << 8) | d->p[i];
    d->p += nb;
    if (len < 0x80)
      return -1;
  }
  if ((size_t)(d->end - d->p) < len)
    return -1;
  in->p = d->p;
  in->end = d->p + len;
  d->p += len;
  return 0;
}

/* A positive INTEGER in minimal form; *v and *n get its magnitude. */
static int der_uint(struct der *d, const uint8_t **v, size_t *n) {
  struct der in;
  if (der_get(d, 0x02, &in) < 0 || in.p == in.end || (in.p[0] & 0x80))
    return -1;
  if (in.p[0] == 0 && in.end - in.p > 1) {
    if (!(in.p[1] & 0x80))
      return -1;
    in.p++;
  }
  *v = in.p;
  *n = (size_t)(in.end - in.p);
  return 0;
}

static int der_is(const struct der *d, const uint8_t *bytes, size_t n) {
  return (size_t)(d->end - d->p) == n && memcmp(d->p, bytes, n) == 0;
}

/* RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER },
 * the whole of d. */
static int der_rsa_public_key(struct der d, struct wsp__jwt_key *k) {
  struct der seq;
  const uint8_t *n, *e;
  size_t nlen, elen;
  if (der_get(&d, 0x30, &seq) < 0 || d.p != d.end ||
      der_uint(&seq, &n, &nlen) < 0 || der_uint(&seq, &e, &elen) < 0 ||
      seq.p != seq.end)
    return WSP_ERR_INVAL;
  return rsa_from_bytes(k, n, nlen, e, elen);
}

/* DER of the object identifiers, tag and length included. */
static const uint8_t oid_rsa[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                  0xf7, 0x0d, 0x01, 0x01, 0x01};
static const uint8_t oid_ec[] = {0x06, 0x07, 0x2a, 0x86, 0x48,
                                 0xce, 0x3d, 0x02, 0x01};
static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                   0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
static const uint8_t der_null[] = {0x05, 0x00};

/*
 * SubjectPublicKeyInfo ::= SEQUENCE {
 *   algorithm AlgorithmIdentifier ::= SEQUENCE { OID, parameters },
 *   subjectPublicKey BIT STRING }
 */
static int der_spki(struct der d, struct wsp__jwt_key *k) {
  struct der spki, alg, oid, bits;
  const uint8_t *oid_start;
  if (der_get(&d, 0x30, &spki) < 0 || d.p != d.end ||
      der_get(&spki, 0x30, &alg) < 0)
    return WSP_ERR_INVAL;
  oid_start = alg.p;
  if (der_get(&alg, 0x06, &oid) < 0)
    return WSP_ERR_INVAL;
  oid.p = oid_start; /* compare with the tag and length */
  if (der_get(&spki, 0x03, &bits) < 0 || spki.p != spki.end ||
      bits.p == bits.end || bits.p[0] != 0)
    return WSP_ERR_INVAL;
  bits.p++; /* no unused bits */

  if (der_is(&oid, oid_rsa, sizeof(oid_rsa))) {
    /* parameters NULL (RFC 3279), tolerated when absent */
    if (alg.p != alg.end && !der_is(&alg, der_null, sizeof(der_null)))
      return WSP_ERR_INVAL;
    return der_rsa_public_key(bits, k);
  }
  if (der_is(&oid, oid_ec, sizeof(oid_ec))) {
    /* named curve P-256 and an uncompressed point 04 || X || Y */
    if (!der_is(&alg, oid_p256, sizeof(oid_p256)) || bits.end - bits.p != 65 ||
        bits.p[0] != 0x04)
      return WSP_ERR_INVAL;
    return ec_from_bytes(k, bits.p + 1, bits.p + 33);
  }
  if (der_is(&oid, oid_ed25519, sizeof(oid_ed25519))) {
    if (alg.p != alg.end) /* RFC 8410: parameters absent */
      return WSP_ERR_INVAL;
    return ed25519_from_bytes(k, bits.p, (size_t)(bits.end - bits.p));
  }
  return WSP_ERR_INVAL;
}

/* ---- PEM --------------------------------------------------------------- */

static const char *find_str(const char *s, const char *end, const char *lit) {
  size_t n = strlen(lit);
  while ((size_t)(end - s) >= n) {
    const char *q = memchr(s, lit[0], (size_t)(end - s) - n + 1);
    if (!q)
      return NULL;
    if (memcmp(q, lit, n) == 0)
      return q;
    s = q + 1;
  }
  return NULL;
}

/*
 * The first "PUBLIC KEY" or "RSA PUBLIC KEY" block of pem[0..len) (other
 * blocks and text around them are skipped): its base64 body in
 * [*b, *e) and *pkcs1 set for the RSA form. 0 or -1.
 */
static int pem_block(const char *pem, size_t len, const char **b,
                     const char **e, int *pkcs1) {
  static const char begin[] = "-----BEGIN ";
  static const char *const labels[] = {"PUBLIC KEY-----",
                                       "RSA PUBLIC KEY-----"};
  static const char *const ends[] = {"-----END PUBLIC KEY-----",
                                     "-----END RSA PUBLIC KEY-----"};
  const char *p = pem, *end = pem + len, *q;
  size_t i;
  while ((q = find_str(p, end, begin)) != NULL) {
    q += sizeof(begin) - 1;
    for (i = 0; i < 2; i++) {
      size_t n = strlen(labels[i]);
      if ((size_t)(end - q) >= n && memcmp(q, labels[i], n) == 0) {
        *b = q + n;
        *e = find_str(*b, end, ends[i]);
        if (!*e)
          return -1;
        *pkcs1 = (int)i;
        return 0;
      }
    }
    p = q;
  }
  return -1;
}

int wsp_jwt_keys_add_pem(struct wsp_jwt_keys *ks, const char *kid,
                         const char *pem, size_t len, unsigned algs) {
  struct base64_decode_ctx ctx;
  struct wsp__jwt_key k;
  struct der d;
  const char *b, *e;
  uint8_t *der;
  size_t n;
  int pkcs1, rc;
  if (!ks || !pem || len > PEM_MAX || pem_block(pem, len, &b, &e, &pkcs1) < 0)
    return WSP_ERR_INVAL;
  if (kid && strlen(kid) > WSP__JWT_MAX_KID)
    return WSP_ERR_INVAL;
  der = wsp__malloc(&ks->mem, BASE64_DECODE_LENGTH((size_t)(e - b)));
  if (!der)
    return WSP_ERR_NOMEM;
  /* nettle's decoder skips the line breaks and checks the padding */
  base64_decode_init(&ctx);
  n = BASE64_DECODE_LENGTH((size_t)(e - b));
  if (!base64_decode_update(&ctx, &n, der, (size_t)(e - b), b) ||
      !base64_decode_final(&ctx) || n == 0) {
    wsp__free(&ks->mem, der);
    return WSP_ERR_INVAL;
  }
  memset(&k, 0, sizeof(k));
  d.p = der;
  d.end = der + n;
  rc = pkcs1 ? der_rsa_public_key(d, &k) : der_spki(d, &k);
  wsp__free(&ks->mem, der);
  if (rc < 0)
    return rc;
  if (!(k.algs = pick_algs(k.type, algs)))
    rc = WSP_ERR_INVAL;
  else if ((rc = keys_reserve(ks, 1)) == 0)
    rc = set_kid(&ks->mem, &k, kid, kid ? strlen(kid) : 0);
  if (rc < 0) {
    wsp__jwt_key_clear(&ks->mem, &k);
    return rc;
  }
  ks->keys[ks->n++] = k;
  return 0;
}

/* ---- JWK Sets ---------------------------------------------------------- */

/* The members of one JWK that matter; type 0 where absent. */
struct jwk {
  struct wsp__json_val kty, kid, use, key_ops, alg, crv, n, e, x, y, k;
};

static int str_is(const struct wsp__json_val *v, const char *s) {
  return v->type == WSP__JSON_STRING && wsp__json_key_is(v, s);
}

/*
 * Decode the base64url string v into a new buffer of ks's allocator:
 * 0 with *out (free it) and *n, WSP_ERR_INVAL or WSP_ERR_NOMEM.
 */
static int jwk_bytes(struct wsp_jwt_keys *ks, const struct wsp__json_val *v,
                     uint8_t **out, size_t *n) {
  char *s;
  size_t slen;
  long dl;
  *out = NULL;
  if (v->type != WSP__JSON_STRING)
    return WSP_ERR_INVAL;
  s = wsp__malloc(&ks->mem, v->len);
  if (!s)
    return WSP_ERR_NOMEM;
  if (wsp__json_string_decode(v, s, v->len, &slen) < 0 ||
      (dl = wsp__jwt_b64url_len(s, slen)) < 0) {
    wsp__free(&ks->mem, s);
    return WSP_ERR_INVAL;
  }
  *n = wsp__jwt_b64url_decode(s, slen, (uint8_t *)s);
  *out = (uint8_t *)s;
  return 0;
}

/* Read the members of one JWK object. */
static int jwk_members(const struct wsp__json_val *obj, struct jwk *j) {
  static const struct {
    const char *name;
    size_t off;
  } names[] = {
      /* clang-format off */
      {"kty", offsetof(struct jwk, kty)}, {"kid", offsetof(struct jwk, kid)},
      {"use", offsetof(struct jwk, use)}, {"alg", offsetof(struct jwk, alg)},
      {"crv", offsetof(struct jwk, crv)}, {"n", offsetof(struct jwk, n)},
      {"e", offsetof(struct jwk, e)},     {"x", offsetof(struct jwk, x)},
      {"y", offsetof(struct jwk, y)},     {"k", offsetof(struct jwk, k)},
      {"key_ops", offsetof(struct jwk, key_ops)},
      /* clang-format on */
  };
  struct wsp__json_val key, val;
  size_t pos = 0, i;
  int rc;
  memset(j, 0, sizeof(*j));
  if (obj->type != WSP__JSON_OBJECT ||
      wsp__jwt_no_duplicates(obj->ptr, obj->len) < 0)
    return WSP_ERR_INVAL;
  while ((rc = wsp__json_object_next(obj->ptr, obj->len, &pos, &key, &val)) ==
         1) {
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
      if (wsp__json_key_is(&key, names[i].name)) {
        struct wsp__json_val *dst =
            (struct wsp__json_val *)((char *)j + names[i].off);
        /* every member used is a string but key_ops, an array */
        int want = names[i].off == offsetof(struct jwk, key_ops)
                       ? WSP__JSON_ARRAY
                       : WSP__JSON_STRING;
        if (val.type != want)
          return WSP_ERR_INVAL;
        *dst = val;
      }
    }
  }
  return rc < 0 ? WSP_ERR_INVAL : 0;
}

/* Whether the JWK may verify signatures ("use", "key_ops"). */
static int jwk_for_signing(const struct jwk *j) {
  struct wsp__json_val op;
  size_t pos = 0;
  int rc, verify = 0;
  if (j->use.type && !str_is(&j->use, "sig"))
    return 0;
  if (!j->key_ops.type)
    return 1;
  while ((rc = wsp__json_array_next(j->key_ops.ptr, j->key_ops.len, &pos,
                                    &op)) == 1) {
    if (op.type != WSP__JSON_STRING)
      return -1;
    if (wsp__json_key_is(&op, "verify"))
      verify = 1;
  }
  return rc < 0 ? -1 : verify;
}

/*
 * Make *k from the JWK j: 1 when made, 0 when the key is of a kind not
 * used (skipped), or an error.
 */
static int jwk_key(struct wsp_jwt_keys *ks, const struct jwk *j,
                   struct wsp__jwt_key *k) {
  uint8_t *a = NULL, *b = NULL;
  size_t alen = 0, blen = 0, kidlen;
  int rc, use;
  unsigned alg = 0;
  memset(k, 0, sizeof(*k));
  if (j->kty.type != WSP__JSON_STRING)
    return WSP_ERR_INVAL;
  if ((use = jwk_for_signing(j)) <= 0)
    return use < 0 ? WSP_ERR_INVAL : 0;
  if (j->alg.type) {
    char name[16];
    size_t nlen;
    if (wsp__json_string_decode(&j->alg, name, sizeof(name), &nlen) < 0 ||
        !(alg = wsp__jwt_alg_from_name(name, nlen)))
      return 0; /* an algorithm not supported: not a key for us */
  }

  if (str_is(&j->kty, "RSA")) {
    if (!j->n.type || !j->e.type)
      return WSP_ERR_INVAL;
    if ((rc = jwk_bytes(ks, &j->n, &a, &alen)) == 0 &&
        (rc = jwk_bytes(ks, &j->e, &b, &blen)) == 0)
      rc = rsa_from_bytes(k, a, alen, b, blen);
  } else if (str_is(&j->kty, "EC")) {
    if (!str_is(&j->crv, "P-256"))
      return j->crv.type ? 0 : WSP_ERR_INVAL;
    if (!j->x.type || !j->y.type)
      return WSP_ERR_INVAL;
    if ((rc = jwk_bytes(ks, &j->x, &a, &alen)) == 0 &&
        (rc = jwk_bytes(ks, &j->y, &b, &blen)) == 0)
      rc = alen == 32 && blen == 32 ? ec_from_bytes(k, a, b) : WSP_ERR_INVAL;
  } else if (str_is(&j->kty, "OKP")) {
    if (!str_is(&j->crv, "Ed25519"))
      return j->crv.type ? 0 : WSP_ERR_INVAL;
    if (!j->x.type)
      return WSP_ERR_INVAL;
    if ((rc = jwk_bytes(ks, &j->x, &a, &alen)) == 0)
      rc = ed25519_from_bytes(k, a, alen);
  } else if (str_is(&j->kty, "oct")) {
    if (!j->k.type)
      return WSP_ERR_INVAL;
    if ((rc = jwk_bytes(ks, &j->k, &a, &alen)) == 0) {
      if (alen == 0) {
        rc = WSP_ERR_INVAL;
      } else {
        k->type = WSP__JWT_HMAC;
        k->u.secret.data = a; /* kept */
        k->u.secret.len = alen;
        a = NULL;
      }
    }
  } else {
    return 0; /* another key type */
  }
  wsp__free(&ks->mem, a);
  wsp__free(&ks->mem, b);
  if (rc < 0) {
    wsp__jwt_key_clear(&ks->mem, k);
    return rc;
  }
  if (alg && !(alg & wsp__jwt_natural_algs(k->type))) {
    /* "alg" names an algorithm of another key type: not ours */
    wsp__jwt_key_clear(&ks->mem, k);
    return 0;
  }
  k->algs = alg ? alg : wsp__jwt_natural_algs(k->type);
  if (j->kid.type) {
    /* the length first: a valid string only fails with WSP_ERR_LIMIT */
    rc = wsp__json_string_decode(&j->kid, NULL, 0, &kidlen);
    if (rc == WSP_ERR_JSON || kidlen > WSP__JWT_MAX_KID) {
      wsp__jwt_key_clear(&ks->mem, k);
      return WSP_ERR_INVAL;
    }
    if (!(k->kid = wsp__malloc(&ks->mem, kidlen + 1))) {
      wsp__jwt_key_clear(&ks->mem, k);
      return WSP_ERR_NOMEM;
    }
    wsp__json_string_decode(&j->kid, k->kid, kidlen + 1, &k->kid_len);
  }
  return 1;
}

/* Read one JWK and append its key, if used, to the list *tmp. */
static int jwks_one(struct wsp_jwt_keys *ks, const struct wsp__json_val *el,
                    struct wsp__jwt_key **tmp, size_t *ntmp, size_t *cap) {
  struct jwk j;
  int rc;
  if ((rc = jwk_members(el, &j)) < 0)
    return rc;
  if (*ntmp == *cap) {
    size_t ncap = *cap ? *cap * 2 : 4;
    struct wsp__jwt_key *nt =
        wsp__realloc(&ks->mem, *tmp, ncap * sizeof(**tmp));
    if (!nt)
      return WSP_ERR_NOMEM;
    *tmp = nt;
    *cap = ncap;
  }
  if ((rc = jwk_key(ks, &j, &(*tmp)[*ntmp])) < 0)
    return rc;
  *ntmp += (size_t)rc;
  return 0;
}

int wsp_jwt_keys_add_jwks(struct wsp_jwt_keys *ks, const char *json,
                          size_t len) {
  struct wsp__json_val keys, el;
  struct wsp__jwt_key *tmp = NULL;
  size_t pos = 0, ntmp = 0, cap = 0, i;
  int rc;
  if (!ks || !json || len > (size_t)1 << 24 ||
      wsp__json_validate(json, len, JWKS_DEPTH, NULL) < 0 ||
      wsp__jwt_no_duplicates(json, len) < 0)
    return WSP_ERR_INVAL;
  /* a set {"keys": [...]} or a single key {"kty": ...} */
  rc = wsp__json_find(json, len, "keys", &keys);
  if (rc == 0) {
    el.type = WSP__JSON_OBJECT;
    el.ptr = json;
    el.len = len;
    rc = jwks_one(ks, &el, &tmp, &ntmp, &cap);
  } else if (rc < 0 || keys.type != WSP__JSON_ARRAY) {
    rc = WSP_ERR_INVAL;
  } else {
    while ((rc = wsp__json_array_next(keys.ptr, keys.len, &pos, &el)) == 1 &&
           (rc = jwks_one(ks, &el, &tmp, &ntmp, &cap)) == 0)
      ;
  }
  if (rc == 0 && ntmp > (size_t)INT32_MAX)
    rc = WSP_ERR_INVAL;
  if (rc == 0)
    rc = keys_reserve(ks, ntmp);
  if (rc < 0) {
    for (i = 0; i < ntmp; i++)
      wsp__jwt_key_clear(&ks->mem, &tmp[i]);
    wsp__free(&ks->mem, tmp);
    return rc == WSP_ERR_NOMEM ? rc : WSP_ERR_INVAL;
  }
  if (ntmp)
    memcpy(ks->keys + ks->n, tmp, ntmp * sizeof(*tmp));
  ks->n += ntmp;
  wsp__free(&ks->mem, tmp);
  return (int)ntmp;
}

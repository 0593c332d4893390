/* Private parts of the JWT module shared by jwt.c (verification) and
 * jwt_keys.c (key sets and key formats). Not installed. */
#ifndef WSP_JWT_PRIVATE_H
#define WSP_JWT_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <nettle/ecc.h>
#include <nettle/rsa.h>

#include "wsp/jwt.h"
#include "json/json_private.h"

/* Longest key id kept, in bytes. */
#define WSP__JWT_MAX_KID 256
/* Largest RSA modulus accepted, in bytes (8192 bits), and the smallest. */
#define WSP__JWT_RSA_MAX 1024
#define WSP__JWT_RSA_MIN 256

enum { WSP__JWT_HMAC = 1, WSP__JWT_RSA, WSP__JWT_EC, WSP__JWT_ED25519 };

#define WSP__JWT_ALL_ALGS                                                      \
  (WSP_JWT_HS | WSP_JWT_RS | WSP_JWT_PS | WSP_JWT_ES256 | WSP_JWT_EDDSA)

/* One key. The RSA and EC forms hold GMP memory (mpz and limbs), which
 * GMP allocates itself; wsp__jwt_key_clear releases it. */
struct wsp__jwt_key {
  int type;
  unsigned algs;
  char *kid; /* NULL: tried for any token */
  size_t kid_len;
  union {
    struct {
      uint8_t *data;
      size_t len;
    } secret;
    struct rsa_public_key rsa;
    struct ecc_point ec;
    uint8_t ed25519[32];
  } u;
};

struct wsp_jwt_keys {
  struct wsp_mem mem;
  struct wsp__jwt_key *keys;
  size_t n, cap;
};

/* ---- jwt.c ------------------------------------------------------------ */

/*
 * Strict base64url without padding: every byte from the URL-safe
 * alphabet, a length that is not 1 more than a multiple of 4, and unused
 * trailing bits zero. Returns the decoded length, or -1.
 */
long wsp__jwt_b64url_len(const char *s, size_t n);
/* Decode text that wsp__jwt_b64url_len() accepted into out (which may be
 * s itself); returns the decoded length. */
size_t wsp__jwt_b64url_decode(const char *s, size_t n, uint8_t *out);
/* Non-zero when the JSON strings a and b decode to the same bytes. */
int wsp__jwt_key_eq(const struct wsp__json_val *a,
                    const struct wsp__json_val *b);
/* 0 when no two members of the object obj[0..len) share a name, else -1
 * (also when obj is not an object). */
int wsp__jwt_no_duplicates(const char *obj, size_t len);
/* The WSP_JWT_* bit for the algorithm name s[0..n), 0 if unknown. */
unsigned wsp__jwt_alg_from_name(const char *s, size_t n);

/* ---- jwt_keys.c ------------------------------------------------------- */

/* The algorithms a key of this type can ever verify. */
unsigned wsp__jwt_natural_algs(int type);
void wsp__jwt_key_clear(const struct wsp_mem *mem, struct wsp__jwt_key *k);

#endif /* WSP_JWT_PRIVATE_H */

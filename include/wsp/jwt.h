/*
 * libwsp - jwt.h: JSON Web Token verification (RFC 7519) for signed
 * tokens in the JWS compact serialisation (RFC 7515). A key set
 * (struct wsp_jwt_keys) holds HMAC secrets and RSA, EC P-256 and Ed25519
 * public keys, each allowed a fixed set of algorithms; wsp_jwt_verify()
 * checks a token's signature against it and then its claims, and fills a
 * read-only view of the claims. The library reads no clock: the caller
 * passes the time.
 *
 * A key set that is no longer being modified may be used by several
 * threads at once: verification does not change it.
 */
#ifndef WSP_JWT_H
#define WSP_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Algorithms ------------------------------------------------------- */

/* One bit per JWS algorithm (RFC 7518, RFC 8037). */
#define WSP_JWT_HS256 0x0001u /* HMAC SHA-256 */
#define WSP_JWT_HS384 0x0002u
#define WSP_JWT_HS512 0x0004u
#define WSP_JWT_RS256 0x0008u /* RSASSA-PKCS1-v1_5 SHA-256 */
#define WSP_JWT_RS384 0x0010u
#define WSP_JWT_RS512 0x0020u
#define WSP_JWT_PS256 0x0040u /* RSASSA-PSS SHA-256, MGF1 SHA-256 */
#define WSP_JWT_PS384 0x0080u
#define WSP_JWT_PS512 0x0100u
#define WSP_JWT_ES256 0x0200u /* ECDSA P-256 SHA-256 */
#define WSP_JWT_EDDSA 0x0400u /* Ed25519 ("EdDSA" or "Ed25519") */

#define WSP_JWT_HS (WSP_JWT_HS256 | WSP_JWT_HS384 | WSP_JWT_HS512)
#define WSP_JWT_RS (WSP_JWT_RS256 | WSP_JWT_RS384 | WSP_JWT_RS512)
#define WSP_JWT_PS (WSP_JWT_PS256 | WSP_JWT_PS384 | WSP_JWT_PS512)

/* The JWS name of one algorithm bit ("HS256"), NULL for anything else. */
WSP_API const char *wsp_jwt_alg_name(unsigned alg);

/* ---- Key sets --------------------------------------------------------- */

struct wsp_jwt_keys;

/* An empty key set; mem NULL means the C library's allocator. */
WSP_API int wsp_jwt_keys_new(struct wsp_jwt_keys **pks,
                             const struct wsp_mem *mem);
/* Free the set and every key in it; NULL is a no-op. */
WSP_API void wsp_jwt_keys_free(struct wsp_jwt_keys *ks);

/*
 * Add an HMAC secret of len bytes (len > 0; copied). kid: the key id a
 * token's "kid" header must name, or NULL for a key tried for any
 * token. algs: WSP_JWT_HS* bits, 0 for all three. WSP_ERR_INVAL for any
 * other bit.
 */
WSP_API int wsp_jwt_keys_add_secret(struct wsp_jwt_keys *ks, const char *kid,
                                    const void *secret, size_t len,
                                    unsigned algs);
/*
 * Add the first public key found in the PEM text pem[0..len): a
 * "PUBLIC KEY" (SubjectPublicKeyInfo: RSA, EC P-256 or Ed25519) or an
 * "RSA PUBLIC KEY" (PKCS #1). algs: bits natural to the key type (RSA:
 * WSP_JWT_RS and WSP_JWT_PS; P-256: WSP_JWT_ES256; Ed25519:
 * WSP_JWT_EDDSA), 0 for all of them. WSP_ERR_INVAL for anything else,
 * RSA moduli outside 2048..8192 bits and points not on the curve.
 */
WSP_API int wsp_jwt_keys_add_pem(struct wsp_jwt_keys *ks, const char *kid,
                                 const char *pem, size_t len, unsigned algs);
/*
 * Add the keys of the JWK Set (RFC 7517) json[0..len), or of one JWK.
 * Used: kty "RSA" (n, e), "EC" with crv "P-256" (x, y), "OKP" with crv
 * "Ed25519" (x) and "oct" (k); "kid" is kept; "alg" narrows the key to
 * that one algorithm; keys whose "use" is not "sig", whose "key_ops"
 * lacks "verify", or whose kty, crv or alg is not supported are skipped.
 * All or nothing: returns the number of keys added (0 when none was
 * usable), or WSP_ERR_INVAL for a malformed document or key, leaving the
 * set unchanged.
 */
WSP_API int wsp_jwt_keys_add_jwks(struct wsp_jwt_keys *ks, const char *json,
                                  size_t len);
/* The number of keys in the set. */
WSP_API size_t wsp_jwt_keys_count(const struct wsp_jwt_keys *ks);

/* ---- Verification ----------------------------------------------------- */

#define WSP_JWT_DEFAULT_MAX_SIZE 16384

/* Claims a token must carry, for wsp_jwt_options.require. */
#define WSP_JWT_REQUIRE_EXP 0x01u
#define WSP_JWT_REQUIRE_NBF 0x02u
#define WSP_JWT_REQUIRE_IAT 0x04u
#define WSP_JWT_REQUIRE_SUB 0x08u
#define WSP_JWT_REQUIRE_ISS 0x10u
#define WSP_JWT_REQUIRE_AUD 0x20u

/* What to check besides the signature. Zero it, then set what is needed;
 * it is read during the call only. */
struct wsp_jwt_options {
  int64_t now;          /* seconds since the epoch, UTC */
  int64_t leeway;       /* seconds of clock skew allowed, >= 0 */
  int64_t max_age;      /* seconds since "iat" at most; 0: no limit */
  const char *issuer;   /* "iss" must equal this; NULL: not checked */
  const char *audience; /* "aud" must hold this; NULL: not checked */
  size_t max_size;      /* bytes of token; 0: WSP_JWT_DEFAULT_MAX_SIZE */
  unsigned require;     /* WSP_JWT_REQUIRE_* */
  void *reserved[4];    /* NULL */
};

/*
 * A buffer of WSP_JWT_BUFSIZE(len) bytes always holds the claims of a
 * token of len bytes.
 */
#define WSP_JWT_BUFSIZE(len) ((len) + (len) / 2 + 272)

/* Why a token was refused. X(name, message) */
#define WSP_JWT_REASON_MAP(X)                                                  \
  X(OK, "valid")                                                               \
  X(MALFORMED, "not three dot-separated parts")                                \
  X(TOO_LARGE, "token larger than the size limit")                             \
  X(BAD_BASE64, "invalid base64url")                                           \
  X(BAD_JSON, "header or claims are not a valid JSON object")                  \
  X(DUPLICATE, "duplicate member name in header or claims")                    \
  X(BAD_HEADER, "header without a string alg, or with a non-string kid")       \
  X(ALG_NONE, "unsigned token (alg none)")                                     \
  X(ALG_UNKNOWN, "unsupported algorithm")                                      \
  X(ALG_NOT_ALLOWED, "algorithm not allowed for the key")                      \
  X(CRIT, "critical header extension not understood")                          \
  X(UNKNOWN_KID, "no key with the token's kid")                                \
  X(NO_KEY, "the key set is empty")                                            \
  X(SIG_LENGTH, "wrong signature length")                                      \
  X(BAD_SIGNATURE, "signature does not verify")                                \
  X(BAD_CLAIM, "claim of the wrong type")                                      \
  X(MISSING_CLAIM, "required claim missing")                                   \
  X(WRONG_ISSUER, "issuer not accepted")                                       \
  X(WRONG_AUDIENCE, "audience not accepted")                                   \
  X(NOT_YET_VALID, "token not valid yet (nbf)")                                \
  X(IAT_FUTURE, "token issued in the future (iat)")                            \
  X(EXPIRED, "token expired (exp)")                                            \
  X(TOO_OLD, "token older than the maximum age (iat)")                         \
  X(BUFFER, "claims buffer too small")

enum wsp_jwt_reason {
#define WSP__JWT_REASON_ENUM(name, msg) WSP_JWT_##name,
  WSP_JWT_REASON_MAP(WSP__JWT_REASON_ENUM)
#undef WSP__JWT_REASON_ENUM
};

/*
 * The verified token. Strings are decoded (JSON escapes undone), NUL-
 * terminated and may hold NUL bytes; a ptr is NULL when the claim is
 * absent. info, channels and payload are raw JSON. Every span points
 * into the caller's buffer given to wsp_jwt_verify().
 */
struct wsp_jwt_claims {
  int reason;              /* WSP_JWT_OK, or why the token was refused */
  unsigned alg;            /* the WSP_JWT_* algorithm that verified it */
  struct wsp_str kid;      /* header "kid" */
  struct wsp_str sub;      /* "sub": the user id */
  struct wsp_str iss;      /* "iss" */
  struct wsp_str aud;      /* the "aud" value matched, else the first */
  struct wsp_str channel;  /* "channel" (subscription tokens) */
  struct wsp_str info;     /* "info": any JSON value */
  struct wsp_str channels; /* "channels": an array of strings */
  struct wsp_str payload;  /* the whole claims object */
  int64_t exp, nbf, iat;   /* seconds; 0 when absent */
  int has_exp, has_nbf, has_iat;
  void *reserved[4];
};

/*
 * Verify the token token[0..len) with the keys of ks and check its
 * claims as opt says; fill *out, with strings in buf[0..bufcap).
 * Returns 0; WSP_ERR_TOKEN_EXPIRED when the token is valid but for
 * "exp" or opt->max_age (every field of *out is then filled);
 * WSP_ERR_TOKEN for any other fault of the token; WSP_ERR_LIMIT when
 * bufcap is too small; WSP_ERR_INVAL for bad arguments. out->reason
 * always says why.
 */
WSP_API int wsp_jwt_verify(const struct wsp_jwt_keys *ks, const char *token,
                           size_t len, const struct wsp_jwt_options *opt,
                           struct wsp_jwt_claims *out, char *buf,
                           size_t bufcap);

/* A short English description of a wsp_jwt_reason; never NULL. */
WSP_API const char *wsp_jwt_strerror(int reason);

#ifdef __cplusplus
}
#endif

#endif /* WSP_JWT_H */

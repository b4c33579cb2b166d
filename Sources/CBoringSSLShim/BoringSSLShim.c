// The few BoringSSL functions the confidential hot path calls directly: X25519, an AEAD seal and
// open, HMAC-SHA256, SHA-256 and random bytes, over plain buffers. swift-crypto wraps the same calls in generic Swift
// (DataProtocol, SymmetricKey, sealed boxes), which costs about 3 µs per AEAD call and 0.5 µs
// per HMAC on the build machine, more than the cryptography itself; a confidential invocation
// makes two AEAD calls and about fifteen HMACs.
//
// The functions are BoringSSL's public API as swift-crypto vendors it, with its symbol prefix
// (CCryptoBoringSSL_); swift-crypto is pinned to an exact version in Package.swift, and every
// binary that links this target links swift-crypto too. RFC 9180's, RFC 5869's and RFC 9458's
// test vectors check the results through TabulaWire.
#include "BoringSSLShim.h"

typedef struct evp_aead_st EVP_AEAD;
typedef struct evp_aead_ctx_st EVP_AEAD_CTX;
typedef struct env_md_st EVP_MD;

extern const EVP_AEAD *CCryptoBoringSSL_EVP_aead_aes_128_gcm(void);
extern const EVP_AEAD *CCryptoBoringSSL_EVP_aead_chacha20_poly1305(void);
extern EVP_AEAD_CTX *CCryptoBoringSSL_EVP_AEAD_CTX_new(const EVP_AEAD *aead, const uint8_t *key, size_t key_len, size_t tag_len);
extern void CCryptoBoringSSL_EVP_AEAD_CTX_free(EVP_AEAD_CTX *ctx);
extern int CCryptoBoringSSL_EVP_AEAD_CTX_seal(const EVP_AEAD_CTX *ctx, uint8_t *out, size_t *out_len, size_t max_out_len,
                                              const uint8_t *nonce, size_t nonce_len, const uint8_t *in, size_t in_len,
                                              const uint8_t *ad, size_t ad_len);
extern int CCryptoBoringSSL_EVP_AEAD_CTX_open(const EVP_AEAD_CTX *ctx, uint8_t *out, size_t *out_len, size_t max_out_len,
                                              const uint8_t *nonce, size_t nonce_len, const uint8_t *in, size_t in_len,
                                              const uint8_t *ad, size_t ad_len);
extern const EVP_MD *CCryptoBoringSSL_EVP_sha256(void);
extern uint8_t *CCryptoBoringSSL_HMAC(const EVP_MD *evp_md, const void *key, size_t key_len, const uint8_t *data, size_t data_len,
                                      uint8_t *out, unsigned int *out_len);

extern uint8_t *CCryptoBoringSSL_SHA256(const uint8_t *data, size_t len, uint8_t out[32]);
extern int CCryptoBoringSSL_RAND_bytes(uint8_t *buf, size_t len);
extern int CCryptoBoringSSL_X25519(uint8_t out_shared_key[32], const uint8_t private_key[32], const uint8_t peer_public_value[32]);

static const EVP_AEAD *aead_named(int aead) {
    switch (aead) {
    case TABULA_AEAD_AES_128_GCM: return CCryptoBoringSSL_EVP_aead_aes_128_gcm();
    case TABULA_AEAD_CHACHA20_POLY1305: return CCryptoBoringSSL_EVP_aead_chacha20_poly1305();
    default: return NULL;
    }
}

int tabula_aead_seal(int aead, const uint8_t *key, size_t key_len, const uint8_t *nonce, size_t nonce_len,
                     const uint8_t *in, size_t in_len, const uint8_t *ad, size_t ad_len, uint8_t *out, size_t *out_len) {
    const EVP_AEAD *algorithm = aead_named(aead);
    if (algorithm == NULL) return 0;
    // The context holds the expanded key: freed (and cleansed by BoringSSL) before returning.
    EVP_AEAD_CTX *ctx = CCryptoBoringSSL_EVP_AEAD_CTX_new(algorithm, key, key_len, 16);
    if (ctx == NULL) return 0;
    int ok = CCryptoBoringSSL_EVP_AEAD_CTX_seal(ctx, out, out_len, in_len + 16, nonce, nonce_len, in, in_len, ad, ad_len);
    CCryptoBoringSSL_EVP_AEAD_CTX_free(ctx);
    return ok;
}

int tabula_aead_open(int aead, const uint8_t *key, size_t key_len, const uint8_t *nonce, size_t nonce_len,
                     const uint8_t *in, size_t in_len, const uint8_t *ad, size_t ad_len, uint8_t *out, size_t *out_len) {
    const EVP_AEAD *algorithm = aead_named(aead);
    if (algorithm == NULL) return 0;
    EVP_AEAD_CTX *ctx = CCryptoBoringSSL_EVP_AEAD_CTX_new(algorithm, key, key_len, 16);
    if (ctx == NULL) return 0;
    int ok = CCryptoBoringSSL_EVP_AEAD_CTX_open(ctx, out, out_len, in_len, nonce, nonce_len, in, in_len, ad, ad_len);
    CCryptoBoringSSL_EVP_AEAD_CTX_free(ctx);
    return ok;
}

int tabula_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t data_len, uint8_t out[32]) {
    unsigned int length = 0;
    return CCryptoBoringSSL_HMAC(CCryptoBoringSSL_EVP_sha256(), key, key_len, data, data_len, out, &length) != NULL && length == 32;
}

void tabula_sha256(const uint8_t *data, size_t data_len, uint8_t out[32]) {
    CCryptoBoringSSL_SHA256(data, data_len, out);
}

int tabula_random_bytes(uint8_t *out, size_t count) {
    return CCryptoBoringSSL_RAND_bytes(out, count);
}

int tabula_x25519(uint8_t out[32], const uint8_t private_key[32], const uint8_t peer_public_value[32]) {
    return CCryptoBoringSSL_X25519(out, private_key, peer_public_value);
}

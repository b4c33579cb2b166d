#ifndef TABULA_BORINGSSL_SHIM_H
#define TABULA_BORINGSSL_SHIM_H

#include <stddef.h>
#include <stdint.h>

/// The AEADs of Oblivious HTTP's key configurations.
enum tabula_aead {
    TABULA_AEAD_AES_128_GCM = 1,
    TABULA_AEAD_CHACHA20_POLY1305 = 3,
};

/// Seals `in` with `key` and `nonce` (and `ad`): `out` gets ciphertext ‖ tag (16 bytes), so it
/// must hold `in_len + 16` bytes. 1 on success, 0 on failure (a bad key or nonce length).
int tabula_aead_seal(int aead, const uint8_t *key, size_t key_len, const uint8_t *nonce, size_t nonce_len,
                     const uint8_t *in, size_t in_len, const uint8_t *ad, size_t ad_len, uint8_t *out, size_t *out_len);

/// Opens ciphertext ‖ tag: `out` must hold `in_len` bytes. 1 on success, 0 when it does not
/// authenticate (or a length is wrong).
int tabula_aead_open(int aead, const uint8_t *key, size_t key_len, const uint8_t *nonce, size_t nonce_len,
                     const uint8_t *in, size_t in_len, const uint8_t *ad, size_t ad_len, uint8_t *out, size_t *out_len);

/// HMAC-SHA256 of `data` under `key` into `out` (32 bytes). 1 on success.
int tabula_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t data_len, uint8_t out[32]);

/// X25519 of `private_key` and `peer_public_value` into `out` (32 bytes each). 0 when the result
/// is all zeros (a small-order peer point, which RFC 9180 §7.1.4 requires refusing).
int tabula_x25519(uint8_t out[32], const uint8_t private_key[32], const uint8_t peer_public_value[32]);

/// SHA-256 of `data` into `out` (32 bytes).
void tabula_sha256(const uint8_t *data, size_t data_len, uint8_t out[32]);

/// `count` bytes from BoringSSL's CSPRNG (the one swift-crypto's keys come from). 1 on success.
int tabula_random_bytes(uint8_t *out, size_t count);

#endif

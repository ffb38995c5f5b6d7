#ifndef NP_P384_H
#define NP_P384_H
#include <stddef.h>
#include <stdint.h>

/// ECDSA P-384 with SHA-384 (COSE ES384), raw r||s signatures (96 bytes) and
/// uncompressed SEC1 public keys (97 bytes). Private keys are 48-byte big-endian scalars.
/// All functions return 1 on success and 0 on any failure; they never abort.

/// Derives a valid private scalar from `seed` (any length) by hashing with a counter until the
/// value lies in [1, n-1]. Deterministic, so a platform root can be re-derived from a secret.
int np_p384_scalar_from_seed(const uint8_t *seed, size_t seed_len, uint8_t priv_out[48]);
int np_p384_public_key(const uint8_t priv[48], uint8_t pub_out[97]);
int np_p384_sign(const uint8_t priv[48], const uint8_t *msg, size_t msg_len, uint8_t sig_out[96]);
int np_p384_verify(const uint8_t pub[97], const uint8_t *msg, size_t msg_len, const uint8_t sig[96]);
/// SHA-384 of a buffer.
int np_sha384(const uint8_t *msg, size_t msg_len, uint8_t out[48]);
/// SHA-384 of a file's bytes (the measurement of an executable). Returns 0 if unreadable.
int np_sha384_file(const char *path, uint8_t out[48]);

#endif

#include "np_p384.h"
#include <stdio.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>
#include <openssl/crypto.h>

static EC_KEY *key_from_priv(const uint8_t priv[48]) {
    EC_KEY *key = EC_KEY_new_by_curve_name(NID_secp384r1);
    if (!key) return NULL;
    const EC_GROUP *group = EC_KEY_get0_group(key);
    BIGNUM *d = BN_bin2bn(priv, 48, NULL);
    EC_POINT *pub = EC_POINT_new(group);
    int ok = d && pub && EC_KEY_set_private_key(key, d) == 1 &&
             EC_POINT_mul(group, pub, d, NULL, NULL, NULL) == 1 &&
             EC_KEY_set_public_key(key, pub) == 1;
    BN_clear_free(d);
    EC_POINT_free(pub);
    if (!ok) { EC_KEY_free(key); return NULL; }
    return key;
}

int np_p384_scalar_from_seed(const uint8_t *seed, size_t seed_len, uint8_t priv_out[48]) {
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_secp384r1);
    if (!group) return 0;
    const BIGNUM *order = EC_GROUP_get0_order(group);
    int ok = 0;
    for (uint8_t counter = 0; counter < 16 && !ok; counter++) {
        uint8_t digest[48];
        SHA512_CTX ctx; /* SHA-384 uses the SHA-512 context */
        SHA384_Init(&ctx);
        SHA384_Update(&ctx, "CyberNanoPay:p384-scalar:v1", 27);
        SHA384_Update(&ctx, &counter, 1);
        SHA384_Update(&ctx, seed, seed_len);
        SHA384_Final(digest, &ctx);
        BIGNUM *d = BN_bin2bn(digest, 48, NULL);
        if (d && !BN_is_zero(d) && BN_cmp(d, order) < 0) {
            memcpy(priv_out, digest, 48);
            ok = 1;
        }
        BN_clear_free(d);
        OPENSSL_cleanse(digest, sizeof digest);
    }
    EC_GROUP_free(group);
    return ok;
}

int np_p384_public_key(const uint8_t priv[48], uint8_t pub_out[97]) {
    EC_KEY *key = key_from_priv(priv);
    if (!key) return 0;
    size_t n = EC_POINT_point2oct(EC_KEY_get0_group(key), EC_KEY_get0_public_key(key),
                                  POINT_CONVERSION_UNCOMPRESSED, pub_out, 97, NULL);
    EC_KEY_free(key);
    return n == 97;
}

int np_p384_sign(const uint8_t priv[48], const uint8_t *msg, size_t msg_len, uint8_t sig_out[96]) {
    uint8_t digest[48];
    if (!np_sha384(msg, msg_len, digest)) return 0;
    EC_KEY *key = key_from_priv(priv);
    if (!key) return 0;
    ECDSA_SIG *sig = ECDSA_do_sign(digest, sizeof digest, key);
    EC_KEY_free(key);
    if (!sig) return 0;
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(sig, &r, &s);
    int ok = BN_bn2binpad(r, sig_out, 48) == 48 && BN_bn2binpad(s, sig_out + 48, 48) == 48;
    ECDSA_SIG_free(sig);
    return ok;
}

int np_p384_verify(const uint8_t pub[97], const uint8_t *msg, size_t msg_len, const uint8_t sig[96]) {
    uint8_t digest[48];
    if (!np_sha384(msg, msg_len, digest)) return 0;
    EC_KEY *key = EC_KEY_new_by_curve_name(NID_secp384r1);
    if (!key) return 0;
    EC_POINT *point = EC_POINT_new(EC_KEY_get0_group(key));
    int ok = point && EC_POINT_oct2point(EC_KEY_get0_group(key), point, pub, 97, NULL) == 1 &&
             EC_KEY_set_public_key(key, point) == 1 && EC_KEY_check_key(key) == 1;
    EC_POINT_free(point);
    if (!ok) { EC_KEY_free(key); return 0; }
    ECDSA_SIG *esig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 48, NULL), *s = BN_bin2bn(sig + 48, 48, NULL);
    if (!esig || !r || !s || ECDSA_SIG_set0(esig, r, s) != 1) {
        BN_free(r); BN_free(s); ECDSA_SIG_free(esig); EC_KEY_free(key);
        return 0;
    }
    int result = ECDSA_do_verify(digest, sizeof digest, esig, key);
    ECDSA_SIG_free(esig);
    EC_KEY_free(key);
    return result == 1;
}

int np_sha384(const uint8_t *msg, size_t msg_len, uint8_t out[48]) {
    return SHA384(msg, msg_len, out) != NULL;
}

int np_sha384_file(const char *path, uint8_t out[48]) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    SHA512_CTX ctx;
    SHA384_Init(&ctx);
    uint8_t buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) SHA384_Update(&ctx, buf, n);
    int ok = !ferror(f);
    fclose(f);
    SHA384_Final(out, &ctx);
    return ok;
}

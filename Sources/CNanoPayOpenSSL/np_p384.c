// P-384 (ES384) for the software attestation platform, on OpenSSL 3's EVP interface only: no
// EC_KEY, no low-level SHA contexts, no deprecation warnings switched off. Keys travel as raw
// bytes (48-byte scalar, 97-byte uncompressed point) and signatures as r || s (96 bytes), the
// forms the quote format fixes; DER exists only inside these functions.
#include "np_p384.h"
#include <stdio.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

/// An EVP_PKEY on P-384 from a public point and, when given, the private scalar.
static EVP_PKEY *pkey_from(const uint8_t *priv, const uint8_t pub[97]) {
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *d = priv ? BN_bin2bn(priv, 48, NULL) : NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    int selection = priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
    if (!bld || (priv && !d)) goto done;
    if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "secp384r1", 0) != 1) goto done;
    if (OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 97) != 1) goto done;
    if (d && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1) goto done;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1) goto done;
    if (EVP_PKEY_fromdata(ctx, &pkey, selection, params) != 1) { pkey = NULL; goto done; }
done:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(d);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

int np_p384_scalar_from_seed(const uint8_t *seed, size_t seed_len, uint8_t priv_out[48]) {
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_secp384r1);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = 0;
    if (!group || !md) goto done;
    const BIGNUM *order = EC_GROUP_get0_order(group);
    for (uint8_t counter = 0; counter < 16 && !ok; counter++) {
        uint8_t digest[48];
        unsigned int n = 0;
        int hashed = EVP_DigestInit_ex(md, EVP_sha384(), NULL) == 1 &&
                     EVP_DigestUpdate(md, "CyberNanoPay:p384-scalar:v1", 27) == 1 &&
                     EVP_DigestUpdate(md, &counter, 1) == 1 &&
                     EVP_DigestUpdate(md, seed, seed_len) == 1 &&
                     EVP_DigestFinal_ex(md, digest, &n) == 1 && n == 48;
        BIGNUM *d = hashed ? BN_bin2bn(digest, 48, NULL) : NULL;
        if (d && !BN_is_zero(d) && BN_cmp(d, order) < 0) {
            memcpy(priv_out, digest, 48);
            ok = 1;
        }
        BN_clear_free(d);
        OPENSSL_cleanse(digest, sizeof digest);
        if (!hashed) break;
    }
done:
    EVP_MD_CTX_free(md);
    EC_GROUP_free(group);
    return ok;
}

int np_p384_public_key(const uint8_t priv[48], uint8_t pub_out[97]) {
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_secp384r1);
    BIGNUM *d = BN_bin2bn(priv, 48, NULL);
    EC_POINT *pub = group ? EC_POINT_new(group) : NULL;
    int ok = group && d && pub && EC_POINT_mul(group, pub, d, NULL, NULL, NULL) == 1 &&
             EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED, pub_out, 97, NULL) == 97;
    EC_POINT_free(pub);
    BN_clear_free(d);
    EC_GROUP_free(group);
    return ok;
}

int np_p384_sign(const uint8_t priv[48], const uint8_t *msg, size_t msg_len, uint8_t sig_out[96]) {
    uint8_t pub[97];
    if (!np_p384_public_key(priv, pub)) return 0;
    EVP_PKEY *pkey = pkey_from(priv, pub);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[128];
    size_t der_len = sizeof der;
    ECDSA_SIG *sig = NULL;
    int ok = 0;
    if (!pkey || !md) goto done;
    if (EVP_DigestSignInit_ex(md, NULL, "SHA384", NULL, NULL, pkey, NULL) != 1) goto done;
    if (EVP_DigestSign(md, der, &der_len, msg, msg_len) != 1) goto done;
    const unsigned char *p = der;
    sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (!sig) goto done;
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(sig, &r, &s);
    ok = BN_bn2binpad(r, sig_out, 48) == 48 && BN_bn2binpad(s, sig_out + 48, 48) == 48;
done:
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    return ok;
}

int np_p384_verify(const uint8_t pub[97], const uint8_t *msg, size_t msg_len, const uint8_t sig[96]) {
    EVP_PKEY *pkey = pkey_from(NULL, pub);
    EVP_PKEY_CTX *check = pkey ? EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL) : NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ECDSA_SIG *esig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 48, NULL), *s = BN_bin2bn(sig + 48, 48, NULL);
    unsigned char *der = NULL;
    int result = 0;
    if (!pkey || !check || !md || !esig || !r || !s) goto done;
    if (EVP_PKEY_public_check(check) != 1) goto done; // the point is on the curve
    if (ECDSA_SIG_set0(esig, r, s) != 1) goto done;
    r = NULL; s = NULL; // owned by esig now
    int der_len = i2d_ECDSA_SIG(esig, &der);
    if (der_len <= 0) goto done;
    if (EVP_DigestVerifyInit_ex(md, NULL, "SHA384", NULL, NULL, pkey, NULL) != 1) goto done;
    result = EVP_DigestVerify(md, der, (size_t)der_len, msg, msg_len) == 1;
done:
    OPENSSL_free(der);
    BN_free(r); BN_free(s);
    ECDSA_SIG_free(esig);
    EVP_MD_CTX_free(md);
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_free(pkey);
    return result;
}

int np_sha384(const uint8_t *msg, size_t msg_len, uint8_t out[48]) {
    unsigned int n = 0;
    return EVP_Digest(msg, msg_len, out, &n, EVP_sha384(), NULL) == 1 && n == 48;
}

int np_sha384_file(const char *path, uint8_t out[48]) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestInit_ex(md, EVP_sha384(), NULL) == 1;
    uint8_t buf[1 << 16];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0) ok = EVP_DigestUpdate(md, buf, n) == 1;
    ok = ok && !ferror(f);
    unsigned int len = 0;
    ok = ok && EVP_DigestFinal_ex(md, out, &len) == 1 && len == 48;
    EVP_MD_CTX_free(md);
    fclose(f);
    return ok;
}

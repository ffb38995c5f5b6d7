#!/usr/bin/env python3
"""Independent verifier of CyberNanoPay tickets, with PyJWT and `cryptography` only.

A seller that is not written in Swift checks a ticket like this: the JWKS key must be the ticket
key its verified attestation quote names (`verify.py quote` prints it), then the JWT must verify
under it with EdDSA only, and its claims must be what the seller itself sells.

usage: verify_ticket.py TICKET_FILE --jwks JWKS_FILE --ticket-key HEX --iss HEX --aud AUD
                        --pay-to RAW --asset ASSET --min-amount N --max-lifetime S
                        --scope "GET:/api/x/*" [--uses N] --method GET --path /api/x [--now UNIX]
--scope and --uses are what the seller sells: the ticket must carry exactly them (a buyer can ask
nanopayd for any terms, so wider ones were never sold).
Exit 0: valid (prints the claims). Exit 2: refused (prints why). Exit 64: usage.
"""
import argparse
import base64
import json
import sys
import time

import jwt

LEEWAY_SECONDS = 5


class Refused(Exception):
    pass


def covers(scope, method, path):
    for entry in scope.split(" "):
        m, _, p = entry.partition(":")
        if m in ("*", method.upper()) and (path.startswith(p[:-1]) if p.endswith("*") else path == p):
            return True
    return False


def verify(token, jwks, a):
    header = jwt.get_unverified_header(token)
    if header.get("alg") != "EdDSA" or header.get("typ", "JWT") != "JWT":
        raise Refused("alg must be EdDSA and typ JWT")
    keys = {k["kid"]: k for k in jwks["keys"] if k.get("kty") == "OKP" and k.get("crv") == "Ed25519"}
    jwk = keys.get(header.get("kid"))
    if jwk is None:
        raise Refused("kid is not in the JWKS")
    x = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    if x.hex() != a.ticket_key.lower():
        raise Refused("the JWKS key is not the attested ticket key")
    key = jwt.PyJWK(jwk, algorithm="EdDSA").key
    # PyJWT checks the signature (EdDSA only), iss, aud and that every claim is there; times are
    # judged below against --now (default: the clock), with the same leeway as the Swift seller.
    claims = jwt.decode(token, key, algorithms=["EdDSA"], audience=a.aud, issuer=a.iss,
                        options={"require": ["iss", "sub", "aud", "iat", "nbf", "exp", "jti"],
                                 "verify_exp": False, "verify_nbf": False, "verify_iat": False})
    now = a.now if a.now is not None else int(time.time())
    if not (claims["nbf"] <= now + LEEWAY_SECONDS and now < claims["exp"] + LEEWAY_SECONDS):
        raise Refused("not valid now")
    if claims.get("payTo") != a.pay_to:
        raise Refused("paid another account")
    if claims.get("asset") != a.asset:
        raise Refused("paid in another asset")
    amt = claims.get("amt")
    if not (isinstance(amt, str) and amt.isdigit() and (amt == "0" or amt[0] != "0") and int(amt) >= a.min_amount):
        raise Refused("paid less than the ticket price")
    if not (claims["iat"] <= claims["nbf"] < claims["exp"] and claims["exp"] - claims["iat"] <= a.max_lifetime):
        raise Refused("lives longer than allowed")
    if claims.get("scope") != a.scope or claims.get("uses") != a.uses:
        raise Refused("bought for a scope or number of uses this seller does not sell")
    if not covers(claims.get("scope", ""), a.method, a.path):
        raise Refused("scope does not cover the request")
    return claims


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("ticket")
    for name in ("--jwks", "--ticket-key", "--iss", "--aud", "--pay-to", "--asset", "--scope", "--method", "--path"):
        p.add_argument(name, required=True)
    p.add_argument("--uses", type=int)
    p.add_argument("--min-amount", type=int, required=True)
    p.add_argument("--max-lifetime", type=int, required=True)
    p.add_argument("--now", type=int)
    try:
        a = p.parse_args(argv)
    except SystemExit:
        return 64
    try:
        token = open(a.ticket).read().strip()
        jwks = json.load(open(a.jwks))
        token_claims = verify(token, jwks, a)
        print("valid ticket")
        print(json.dumps(token_claims, sort_keys=True))
        return 0
    except (Refused, jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        print(f"INVALID: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

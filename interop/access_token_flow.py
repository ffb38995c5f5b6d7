"""The x402_mock access-token flow against a CyberNanoPay ticket-mode route, with `requests`, as
that project's client does it: GET the paid endpoint, read `access_token_endpoint` from the 402,
POST the signed payment there, then call with `Authorization: Bearer <access_token>`.

usage: access_token_flow.py URL SEED_HEX ADDRESS CALLS
Exit 0 only if every call after the one payment answers 200 and a call without the token 402s.
"""
import base64
import hashlib
import json
import os
import sys
import time

import requests
from nacl.signing import SigningKey

sys.path.insert(0, os.path.dirname(__file__))
from ton_nanopay import authorization_message  # noqa: E402


def main(url, seed_hex, address, calls):
    first = requests.get(url, timeout=10)
    assert first.status_code == 402, (first.status_code, first.text)
    body = first.json()
    assert "payment-required" in {k.lower() for k in first.headers}, "no PAYMENT-REQUIRED header next to the JSON body"
    endpoint = body["access_token_endpoint"]
    offer = body["accepts"][0]
    assert offer["extra"]["ticket"]["scope"], offer

    key = SigningKey(bytes.fromhex(seed_hex))
    nonce = os.urandom(32)
    valid_before = int(time.time()) + 300
    service = bytes.fromhex(offer["extra"]["enclavePublicKey"])
    message = authorization_message(2, address, offer["payTo"], int(offer["amount"]), valid_before, nonce, offer["network"], service)
    authorization = {"from": address, "to": offer["payTo"], "amount": offer["amount"], "validBefore": valid_before,
                     "nonce": nonce.hex(), "signature": key.sign(hashlib.sha256(message).digest()).signature.hex(), "version": 2}
    permit = {"x402Version": 2, "accepted": offer, "payload": {"authorization": authorization}}
    token = requests.post(endpoint, json=permit, timeout=10)
    assert token.status_code == 200, (token.status_code, token.text)
    answer = token.json()
    assert answer["token_type"] == "Bearer" and 0 < answer["expires_in"] <= offer["extra"]["ticket"]["lifetimeSeconds"], answer
    header_claims = json.loads(base64.urlsafe_b64decode(answer["access_token"].split(".")[1] + "=="))
    print("access token for", header_claims["scope"], "expires in", answer["expires_in"], "s")

    for i in range(int(calls)):
        r = requests.get(url.rsplit("/", 1)[0] + f"/day-{i}", headers={"Authorization": f"Bearer {answer['access_token']}"}, timeout=10)
        assert r.status_code == 200, (i, r.status_code, r.text)
    assert requests.get(url, timeout=10).status_code == 402
    print(f"{calls} calls with one payment")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))

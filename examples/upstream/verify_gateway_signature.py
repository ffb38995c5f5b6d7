"""Checks nanopay-gateway's `signed` upstream auth (docs/GATEWAY.md). Standard library only."""
import base64, hashlib, hmac, time

MAX_AGE_SECONDS = 300


def verify_gateway_signature(secrets, method, path_and_query, body, headers, now=None):
    """secrets: bytes, current first, then the previous ones during a rotation; headers: any
    case-insensitive mapping. Returns the payment id (a reservation id, a ticket's jti, or ""
    on a free route), or None when the gateway did not sign this very request recently."""
    timestamp = headers.get("X-NanoPay-Timestamp") or ""
    payment_id = headers.get("X-NanoPay-Payment-Id") or ""
    request_id = headers.get("X-NanoPay-Request-Id") or ""  # unique: remember 5 min to refuse replays
    signature = headers.get("X-NanoPay-Signature") or ""
    if not (timestamp.isascii() and timestamp.isdigit()) or not signature.startswith("v1="):
        return None
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_AGE_SECONDS:
        return None
    canonical = "\n".join(["nanopay-gateway-v1", method, path_and_query,
                           hashlib.sha256(body).hexdigest(), timestamp, payment_id, request_id]).encode()
    try:
        given = base64.b64decode(signature[3:], validate=True)
    except ValueError:
        return None
    ok = False
    for secret in secrets:  # every secret is tried: timing does not tell which one matched
        ok |= hmac.compare_digest(hmac.new(secret, canonical, hashlib.sha256).digest(), given)
    return payment_id if ok else None

#!/usr/bin/env python3
"""Independent verifier for CyberNanoPay attestation quotes and receipts (see FORMAT.md).

Written from the format document, not from the Swift code, with only the `cryptography`
package. Exit 0 and print the verified facts when valid; exit 2 and print the failing check
otherwise (whatever the input holds: hostile values are a failed check, never a traceback);
exit 64 on bad usage. Only canonical text is accepted: one receipt has one spelling.

  verify.py quote QUOTE.json --root HEX --nonce HEX [--allow-software] [--now UNIX] [--expect-measurement HEX]
  verify.py receipt RECEIPT.json --enclave-key HEX
"""
import argparse
import base64
import re
import hashlib
import json
import struct
import sys
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


class Invalid(Exception):
    def __init__(self, check, detail):
        super().__init__(f"attestation check '{check}' failed: {detail}")
        self.check = check


HEX = re.compile(r"[0-9a-fA-F]*")
LOWER_HEX = re.compile(r"[0-9a-f]*")
DECIMAL = re.compile(r"0|[1-9][0-9]*")
ADDRESS = re.compile(r"(0|-?[1-9][0-9]{0,9}):([0-9a-f]{64})")


def unhex(value, length=None, what="value", canonical=False):
    pattern = LOWER_HEX if canonical else HEX
    if not isinstance(value, str) or len(value) % 2 or not pattern.fullmatch(value):
        raise Invalid("format", f"{what} is not {'lowercase ' if canonical else ''}hex")
    raw = bytes.fromhex(value)
    if length is not None and len(raw) != length:
        raise Invalid("format", f"{what} must be {length} bytes")
    return raw


def u64(value, what):
    """An integer JSON number in 0 ..< 2^64 (not a bool, not a float)."""
    if type(value) is not int or not 0 <= value < 1 << 64:
        raise Invalid("format", f"{what} must be an integer from 0 to 2^64-1")
    return value


def text(value, what):
    if not isinstance(value, str):
        raise Invalid("format", f"{what} must be a string")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("format", f"{what} is not valid UTF-8 text")


def amount(value, what):
    """A canonical decimal string of a u128: no sign, no spaces, no leading zeros, no '_'."""
    if not isinstance(value, str) or not value.isascii() or not DECIMAL.fullmatch(value) or len(value) > 39:
        raise Invalid("format", f"{what} is not a canonical decimal amount")
    n = int(value)
    if n >= 1 << 128:
        raise Invalid("format", f"{what} is larger than 2^128-1")
    return n


def field(data):
    if len(data) > 0xFFFF:
        raise Invalid("format", "a field is longer than its u16 length prefix allows")
    return struct.pack(">H", len(data)) + data


def es384_ok(public_key, message, signature):
    if len(signature) != 96:
        return False
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), public_key)
        der = encode_dss_signature(int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big"))
        key.verify(der, message, ec.ECDSA(hashes.SHA384()))
        return True
    except (InvalidSignature, ValueError):
        return False


def report_data(claims):
    c = claims
    nonce = unhex(c["nonce"], None, "nonce")
    if len(nonce) > 64:
        raise Invalid("format", "nonce is longer than 64 bytes")
    canonical = (field(text(c["platform"], "platform")) + field(unhex(c["enclavePublicKey"], 32, "enclavePublicKey"))
                 + field(unhex(c["measurement"], 48, "measurement")) + field(unhex(c["configHash"], 32, "configHash"))
                 + field(nonce) + struct.pack(">QQ", u64(c["issuedAt"], "issuedAt"), u64(c["expiresAt"], "expiresAt"))
                 + field(text(c["network"], "network")) + field(text(c["asset"], "asset"))
                 + field(ticket_key(c)))
    return hashlib.sha512(b"CyberNanoPay:attest:v2:" + canonical).digest()


def ticket_kid(ticket_key_hex):
    """The ticket key's JWK thumbprint (RFC 7638), the `kid` its tickets and the JWKS carry."""
    x = base64.urlsafe_b64encode(bytes.fromhex(ticket_key_hex)).rstrip(b"=").decode()
    member = '{"crv":"Ed25519","kty":"OKP","x":"' + x + '"}'
    return base64.urlsafe_b64encode(hashlib.sha256(member.encode()).digest()).rstrip(b"=").decode()


def ticket_key(claims):
    key = unhex(claims["ticketPublicKey"], 32, "ticketPublicKey")
    if key == unhex(claims["enclavePublicKey"], 32, "enclavePublicKey"):
        raise Invalid("format", "the ticket key must not be the receipt key")
    return key


def verify_quote(quote, root_hex, nonce_hex, allow_software, now, expect_measurement=None):
    try:
        claims, evidence = quote["claims"], quote["evidence"]
        if quote["type"] != "cybernanopay-attestation" or quote["version"] != 2:
            raise Invalid("format", "unknown quote type or version")
        if quote["platform"] != claims["platform"]:
            raise Invalid("platform", "envelope and claims disagree")
        if quote["platform"] != "software":
            raise Invalid("platform", f"platform {quote['platform']!r} is not supported here")
        if not allow_software:
            raise Invalid("platform", "software evidence has no hardware isolation; pass --allow-software")
        if evidence["format"] != "software-es384/v1":
            raise Invalid("format", "unknown evidence format")
        root = unhex(root_hex, 97, "root")
        cert_bytes = base64.b64decode(evidence["certificate"], validate=True)
        if not es384_ok(root, b"CyberNanoPay:platform-cert:v1\0" + cert_bytes,
                        unhex(evidence["certificateSignature"], 96, "certificateSignature")):
            raise Invalid("root", "certificate is not signed by the pinned platform root")
        cert = json.loads(cert_bytes)
        if cert["platform"] != quote["platform"]:
            raise Invalid("certificate", "certificate is for another platform")
        if not (u64(cert["notBefore"], "notBefore") <= now + 60 and now < u64(cert["notAfter"], "notAfter")):
            raise Invalid("certificate", "certificate is not valid now")
        doc_bytes = base64.b64decode(evidence["document"], validate=True)
        if not es384_ok(unhex(cert["publicKey"], 97, "attestation key"), b"CyberNanoPay:evidence:v1\0" + doc_bytes,
                        unhex(evidence["signature"], 96, "signature")):
            raise Invalid("evidence", "evidence signature does not verify under the certified key")
        doc = json.loads(doc_bytes)
        if doc["digest"] != "SHA384" or not isinstance(doc["moduleId"], str) or not doc["moduleId"].startswith("sw:"):
            raise Invalid("evidence", "not a software evidence document")
        rd = report_data(claims)
        if rd.hex() != quote["reportData"].lower():
            raise Invalid("report_data", "report data does not match the claims")
        if doc["userData"].lower() != rd.hex():
            raise Invalid("report_data", "evidence does not carry this report data")
        if doc["publicKey"].lower() != claims["enclavePublicKey"].lower():
            raise Invalid("enclave_key", "evidence names a different enclave key")
        if doc["pcrs"].get("0", "").lower() != claims["measurement"].lower():
            raise Invalid("measurement", "PCR0 is not the claimed measurement")
        if doc["pcrs"].get("1", "").lower() != hashlib.sha384(unhex(claims["configHash"], 32)).hexdigest():
            raise Invalid("config", "PCR1 does not match the claimed config hash")
        if not nonce_hex:
            raise Invalid("nonce", "an empty nonce proves no freshness")
        if claims["nonce"].lower() != nonce_hex.lower() or doc["nonce"].lower() != nonce_hex.lower():
            raise Invalid("nonce", "quote was not made for this nonce")
        if claims["issuedAt"] > now + 60:
            raise Invalid("freshness", "quote is issued in the future")
        if now >= claims["expiresAt"]:
            raise Invalid("freshness", "quote has expired")
        if expect_measurement and expect_measurement.lower() != claims["measurement"].lower():
            raise Invalid("measurement", "measurement is not the expected one")
        return claims
    except Invalid:
        raise
    except Exception as exc:  # hostile shapes (wrong types, huge values, deep nesting) fail the format check
        raise Invalid("format", f"malformed quote ({type(exc).__name__})")


def receipt_bytes(r):
    def address(value, what):
        match = ADDRESS.fullmatch(value) if isinstance(value, str) else None
        if not match or not -(1 << 31) <= int(match.group(1)) < 1 << 31:
            raise Invalid("format", f"{what} is not a canonical raw address (workchain:64 lowercase hex)")
        return struct.pack(">i", int(match.group(1))) + bytes.fromhex(match.group(2))
    network, asset = text(r["network"], "network"), text(r["asset"], "asset")
    if len(network) > 255 or len(asset) > 255:
        raise Invalid("format", "network and asset are at most 255 bytes")
    return (b"CyberNanoPay:receipt:v1" + unhex(r["confirmationId"], 16, "confirmationId", canonical=True)
            + address(r["from"], "from") + address(r["to"], "to") + amount(r["amount"], "amount").to_bytes(16, "big")
            + unhex(r["nonce"], 32, "nonce", canonical=True) + struct.pack(">Q", u64(r["validBefore"], "validBefore"))
            + amount(r["remainingBalance"], "remainingBalance").to_bytes(16, "big")
            + struct.pack(">Q", u64(r["confirmedAt"], "confirmedAt"))
            + unhex(r["authorizationDigest"], 32, "authorizationDigest", canonical=True)
            + field(network) + field(asset))


def verify_receipt(receipt, enclave_key_hex):
    try:
        if type(receipt["version"]) is not int or receipt["version"] != 1:
            raise Invalid("format", "unknown receipt version")
        Ed25519PublicKey.from_public_bytes(unhex(enclave_key_hex, 32, "enclave key")).verify(
            unhex(receipt["signature"], 64, "signature"), receipt_bytes(receipt))
    except InvalidSignature:
        raise Invalid("receipt_signature", "receipt signature does not verify under the pinned enclave key")
    except Invalid:
        raise
    except Exception as exc:  # hostile shapes fail the format check, never a traceback
        raise Invalid("format", f"malformed receipt ({type(exc).__name__})")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="kind", required=True)
    q = sub.add_parser("quote")
    q.add_argument("file")
    q.add_argument("--root", required=True)
    q.add_argument("--nonce", required=True)
    q.add_argument("--allow-software", action="store_true")
    q.add_argument("--now", type=int)
    q.add_argument("--expect-measurement")
    r = sub.add_parser("receipt")
    r.add_argument("file")
    r.add_argument("--enclave-key", required=True)
    try:
        args = parser.parse_args(argv)
    except SystemExit:
        return 64
    try:
        with open(args.file, "rb") as fh:
            document = json.load(fh)
        if args.kind == "quote":
            claims = verify_quote(document, args.root, args.nonce, args.allow_software,
                                  args.now if args.now is not None else int(time.time()), args.expect_measurement)
            print("valid quote")
            print(f"platform: {claims['platform']}  enclave key: {claims['enclavePublicKey']}  measurement: {claims['measurement']}")
            print(f"ticket key: {claims['ticketPublicKey']}  kid: {ticket_kid(claims['ticketPublicKey'])}")
        else:
            verify_receipt(document, args.enclave_key)
            print("valid receipt")
        return 0
    except Invalid as exc:
        print(f"INVALID: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, RecursionError, MemoryError) as exc:  # unreadable, not JSON, nested too deep
        print(f"INVALID: attestation check 'format' failed: {type(exc).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A `ton-nanopay` scheme for the official x402 Python SDK (x402==2.25.0).

Written from docs/AUTHORIZATION.md, independently of the Swift code: the client side signs v2
authorizations (v1 when the offer names no service key) with PyNaCl; the server side lets an
SDK resource server offer `ton-nanopay` and delegate verify/settle to nanopayd's /x402 API.
"""
import hashlib
import os
import struct
import time
from typing import Any

from nacl.signing import SigningKey
from x402.schemas import AssetAmount, PaymentRequirements

SCHEME = "ton-nanopay"


def _address(text: str) -> tuple[int, bytes]:
    workchain, _, account = text.partition(":")
    raw = bytes.fromhex(account)
    assert len(raw) == 32, "raw TON address expected"
    return int(workchain), raw


def authorization_message(version: int, frm: str, to: str, amount: int, valid_before: int, nonce: bytes,
                          network: str | None = None, service_id: bytes | None = None) -> bytes:
    fw, fh = _address(frm)
    tw, th = _address(to)
    tail = amount.to_bytes(16, "big") + struct.pack(">Q", valid_before) + nonce
    if version == 1:
        return b"CyberGateway:v1:" + fh + th + tail
    net = network.encode()
    return (b"CyberGateway:v2:" + bytes([len(net)]) + net + service_id + struct.pack(">i", fw) + fh
            + struct.pack(">i", tw) + th + tail)


class TonNanoPayClientScheme:
    """SchemeNetworkClient: signs an authorization for the chosen requirements."""

    scheme = SCHEME

    def __init__(self, seed: bytes, address: str):
        self._key = SigningKey(seed)
        self.address = address
        self.public_key = bytes(self._key.verify_key)

    def create_payment_payload(self, requirements: PaymentRequirements, **_: Any) -> dict[str, Any]:
        extra = requirements.extra or {}
        nonce = os.urandom(32)
        valid_before = int(time.time()) + min(int(requirements.max_timeout_seconds or 300), 300)
        service = extra.get("enclavePublicKey")
        version = 2 if service else 1
        message = authorization_message(version, self.address, requirements.pay_to, int(requirements.amount), valid_before, nonce,
                                        requirements.network, bytes.fromhex(service) if service else None)
        signature = self._key.sign(hashlib.sha256(message).digest()).signature
        authorization = {"from": self.address, "to": requirements.pay_to, "amount": requirements.amount,
                         "validBefore": valid_before, "nonce": nonce.hex(), "signature": signature.hex()}
        if version == 2:
            authorization["version"] = 2
        return {"authorization": authorization}


class TonNanoPayServerScheme:
    """SchemeNetworkServer: prices are atomic amounts of the service's asset."""

    scheme = SCHEME
    default_asset_transfer_method = "default"
    payment_flows = {"default": {"supported": ("authorization",), "default": "authorization"}}

    def __init__(self, asset: str):
        self.asset = asset

    def parse_price(self, price: Any, network: str) -> AssetAmount:
        if isinstance(price, dict):
            return AssetAmount(amount=str(price["amount"]), asset=price.get("asset", self.asset))
        if isinstance(price, AssetAmount):
            return price
        return AssetAmount(amount=str(int(price)), asset=self.asset)

    def enhance_payment_requirements(self, requirements: PaymentRequirements, supported_kind: Any, extensions: list[str]) -> PaymentRequirements:
        extra = dict(requirements.extra or {})
        extra.update(getattr(supported_kind, "extra", None) or {})
        requirements.extra = extra
        return requirements

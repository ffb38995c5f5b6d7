"""The official SDK's x402HttpxClient, with the ton-nanopay scheme, pays a URL.

usage: sdk_client_pays.py URL SEED_HEX ADDRESS ENCLAVE_KEY_HEX
Exit 0 only if the paid answer is 200 and its PAYMENT-RESPONSE carries a receipt that verifies
under ENCLAVE_KEY_HEX (checked with attestation/verify.py's receipt code).
"""
import asyncio
import base64
import json
import os
import sys

from x402 import x402Client
from x402.http.clients.httpx import x402HttpxClient

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "attestation"))
from ton_nanopay import TonNanoPayClientScheme  # noqa: E402
import verify as attestation_verify  # noqa: E402


async def main(url: str, seed_hex: str, address: str, enclave_key: str) -> int:
    client = x402Client()
    client.register("tvm:-239", TonNanoPayClientScheme(bytes.fromhex(seed_hex), address))
    client.set_spend_controls({"allowed_assets": [{"network": "tvm:-239", "asset": "USDT", "max_amount_per_payment": "2000"}]})
    async with x402HttpxClient(client) as http:
        response = await http.get(url)
    print("status", response.status_code, response.text)
    if response.status_code != 200:
        return 1
    settle = json.loads(base64.b64decode(response.headers["payment-response"]))
    receipt = settle["extra"]["receipt"]
    attestation_verify.verify_receipt(receipt, enclave_key)
    print("receipt verified:", receipt["confirmationId"], "transaction", settle["transaction"])
    return 0 if settle["success"] and settle["transaction"] == receipt["confirmationId"] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:5])))

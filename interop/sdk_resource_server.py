"""A FastAPI resource server from the official SDK, using nanopayd as its facilitator.

usage: sdk_resource_server.py PORT FACILITATOR_URL PAY_TO
Serves GET /paid for 1000 units of USDT on tvm:-239 (ton-nanopay) and GET /free.
"""
import os
import sys

import uvicorn
from fastapi import FastAPI
from x402 import x402ResourceServer
from x402.http import FacilitatorConfig, HTTPFacilitatorClient
from x402.http.middleware.fastapi import payment_middleware

sys.path.insert(0, os.path.dirname(__file__))
from ton_nanopay import TonNanoPayServerScheme  # noqa: E402

port, facilitator_url, pay_to = int(sys.argv[1]), sys.argv[2], sys.argv[3]
server = x402ResourceServer(HTTPFacilitatorClient(FacilitatorConfig(url=facilitator_url)))
server.register("tvm:-239", TonNanoPayServerScheme(asset="USDT"))
routes = {
    "GET /paid": {
        "accepts": {"scheme": "ton-nanopay", "payTo": pay_to, "price": {"amount": "1000", "asset": "USDT"}, "network": "tvm:-239"},
        "description": "interop paid resource",
        "mimeType": "application/json",
    }
}
app = FastAPI()
app.middleware("http")(payment_middleware(routes, server))


@app.get("/paid")
async def paid() -> dict:
    return {"data": "paid through CyberNanoPay as facilitator"}


@app.get("/free")
async def free() -> dict:
    return {"data": "free"}


uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")

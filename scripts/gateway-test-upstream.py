#!/usr/bin/env python3
"""The upstream API nanopay-gateway's tests forward to. Standard library only.

The first path segment picks how the gateway must authenticate:
  /hmac/...    seed 004's HMAC, checked by seed 004's own Python function (verify_hmac_request)
  /plain/...   seed 004's plaintext `sigwei-secret`
  /signed/... (and /narrow/...)  our signed mode, checked by examples/upstream/verify_gateway_signature.py, and a
               reservation id is accepted once (a replayed capture is refused)
  /open/...    signed mode too (free routes: the payment id is empty)
A request that fails its check gets 403 and is not counted. The rest of the path is the action:
  echo | slow?ms=N | status/NNN | big?bytes=N[&chunked=1] | hang
  drip?bytes=N&ms=M   Content-Length N, half the body, a pause of M ms, the rest
  stall               a chunked answer whose first chunk comes, then nothing for an hour
GET /__hits (not routed by the gateway) answers {"count": authenticated requests so far}.
Prints "PORT <n>" once listening."""
import argparse, base64, hashlib, hmac, json, os, signal, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "upstream"))
from verify_gateway_signature import verify_gateway_signature  # noqa: E402

ARGS = None
LOCK = threading.Lock()
HITS = {"count": 0}
SEEN_REQUESTS = set()


def verify_hmac_request(request):
    """Seed 004's Python example, unchanged but for where the secret comes from."""
    x_payment = request.headers.get('x-payment')
    x_payment_response = request.headers.get('x-payment-response')
    signature_header = request.headers.get('sigwei-auth-signature')
    secret = ARGS.hmac_secret

    if not x_payment or not x_payment_response:
        return False, None, None

    if not signature_header:
        return False, None, None

    # Construct message from payment headers
    message = x_payment + '|' + x_payment_response

    # Verify HMAC signature
    expected_signature = base64.b64encode(
        hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    ).decode()

    if signature_header != expected_signature:
        return False, None, None

    # Optional: Decode payment data for additional verification
    payment_data = json.loads(base64.b64decode(x_payment))
    settlement_data = json.loads(base64.b64decode(x_payment_response))

    return True, payment_data, settlement_data


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        if url.path == "/__hits":
            with LOCK:
                return self.send_json(200, dict(HITS))
        parts = url.path.split("/", 2)
        mode, action = (parts[1], parts[2] if len(parts) > 2 else "")
        if mode == "hmac":
            ok = verify_hmac_request(self)[0]
        elif mode == "plain":
            ok = self.headers.get("sigwei-secret") == ARGS.plain_secret
        elif mode in ("signed", "narrow", "open"):  # free routes are signed too, with an empty payment id
            secrets = [s.encode() for s in ARGS.signed_secrets.split(",")]
            payment_id = verify_gateway_signature(secrets, self.command, self.path, body, self.headers)
            ok = payment_id is not None
            if ok:  # every request id once, as docs/GATEWAY.md recommends
                request_id = self.headers.get("X-NanoPay-Request-Id")
                with LOCK:
                    ok = request_id not in SEEN_REQUESTS
                    SEEN_REQUESTS.add(request_id)
        else:
            ok = False
        if not ok:
            return self.send_json(403, {"error": "unauthorized", "mode": mode})
        with LOCK:
            HITS["count"] += 1
            n = HITS["count"]
        query = parse_qs(url.query)
        if action == "slow":
            time.sleep(int(query.get("ms", ["1000"])[0]) / 1000)
        elif action == "hang":
            time.sleep(3600)
        elif action.startswith("status/"):
            return self.send_json(int(action.split("/")[1]), {"error": "as asked"})
        elif action == "drip":
            size, pause = int(query.get("bytes", ["1000"])[0]), int(query.get("ms", ["500"])[0])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            try:
                self.wfile.write(b"d" * (size // 2)); self.wfile.flush()
                time.sleep(pause / 1000)
                self.wfile.write(b"d" * (size - size // 2))
            except OSError:
                pass
            return
        elif action == "stall":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                self.wfile.write(b"5\r\nfirst\r\n"); self.wfile.flush()
                time.sleep(3600)
            except OSError:
                pass
            return
        elif action == "big":
            size = int(query.get("bytes", ["0"])[0])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if query.get("chunked"):
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                left = size
                while left > 0:
                    n_ = min(left, 65536)
                    self.wfile.write(b"%x\r\n" % n_ + b"x" * n_ + b"\r\n")
                    left -= n_
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(size))
                self.end_headers()
                self.wfile.write(b"x" * size)
            return
        self.send_json(200, {"method": self.command, "path": self.path, "n": n,
                             "headers": {k.lower(): v for k, v in self.headers.items()},
                             "bodySHA256": hashlib.sha256(body).hexdigest()})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--hmac-secret", required=True)
    p.add_argument("--plain-secret", required=True)
    p.add_argument("--signed-secrets", required=True, help="comma-separated, current first")
    p.add_argument("--port-file", help="also write the port here, once listening")
    ARGS = p.parse_args()
    # A parent may start us with signals blocked (Foundation's Process does): take SIGTERM back.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a client that went away (the tests SIGKILL a gateway mid-request)

    server = Server(("127.0.0.1", ARGS.port), Handler)
    server.daemon_threads = True
    print("PORT", server.server_address[1], flush=True)
    if ARGS.port_file:
        with open(ARGS.port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()

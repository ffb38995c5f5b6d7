#!/usr/bin/env bash
# Installs the native dependencies (Debian): libsodium, SQLite, OpenSSL headers, pkg-config,
# and python3 for the schema test (with `cryptography` and PyJWT for the independent verifiers). Skips apt when everything is already there.
set -euo pipefail
bash "$(dirname "$0")/apt-ensure.sh" libsodium-dev libsqlite3-dev libssl-dev pkg-config python3
# The independent attestation verifier (attestation/verify.py) needs Python's `cryptography`.
if ! python3 -c "import cryptography" 2>/dev/null; then
  python3 -m pip install --quiet cryptography 2>/dev/null || { SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"; $SUDO apt-get install -y -qq python3-cryptography; }
fi
# The independent ticket verifier (attestation/verify_ticket.py) needs PyJWT.
if ! python3 -c "import jwt" 2>/dev/null; then
  python3 -m pip install --quiet "pyjwt==2.10.1" 2>/dev/null || { SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"; $SUDO apt-get install -y -qq python3-jwt; }
fi

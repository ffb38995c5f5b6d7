#!/usr/bin/env python3
"""Property test of verify.py: on any input it exits 0 (valid) or 2 (a named failed check),
never a traceback, and it accepts only the canonical spelling of a receipt.

Hostile values are planted at every leaf of the golden quote and receipt, then a seeded
random walk mutates them further. Standard library only (plus what verify.py needs).

  python3 attestation/test_verify.py [--cases N] [--seed S]
"""
import argparse
import contextlib
import copy
import io
import json
import os
import random
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import verify  # noqa: E402

VECTORS = os.path.join(HERE, "vectors")
META = json.load(open(os.path.join(VECTORS, "vectors.json")))
QUOTE = json.load(open(os.path.join(VECTORS, "quote.json")))
RECEIPT = json.load(open(os.path.join(VECTORS, "receipt.json")))

HOSTILE = [
    -1, -(1 << 63), 1 << 64, (1 << 64) + 1, 1 << 200, 1.5, float("1e300"), True, False, None,
    "", "x" * 70_000, "\ud800", "+0", "1_000", " 1000", "01000", "1e3", "٣", [], {}, [[[]]],
    "0:" + "A" * 64, "+0:" + "1" * 64, "-0:" + "1" * 64, "2147483648:" + "1" * 64,
]

passed = failed = 0


def run(kind, document=None, raw=None):
    """verify.py's exit code for a document (JSON-encoded) or raw file bytes."""
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as fh:
        fh.write(raw if raw is not None else json.dumps(document).encode("utf-8", "surrogatepass"))
        path = fh.name
    try:
        if kind == "quote":
            argv = ["quote", path, "--root", META["platformRoot"], "--nonce", META["nonce"],
                    "--allow-software", "--now", str(META["verifyAt"])]
        else:
            argv = ["receipt", path, "--enclave-key", META["enclavePublicKey"]]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return verify.main(argv)
    finally:
        os.unlink(path)


def check(name, condition):
    global passed, failed
    if condition:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {name}")


def leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, path + (i,))
    yield path


def replaced(document, path, new):
    doc = copy.deepcopy(document)
    if not path:
        return new
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return doc


def exit_code_is_0_or_2(kind, document):
    try:
        return run(kind, document) in (0, 2)
    except BaseException as exc:  # noqa: BLE001 - anything escaping main is the bug we look for
        print(f"  raised {type(exc).__name__}: {exc}"[:300])
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--seed", type=int, default=402)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    check("golden quote verifies", run("quote", QUOTE) == 0)
    check("golden receipt verifies", run("receipt", RECEIPT) == 0)

    # Non-canonical spellings of the same receipt are refused (exit 2), not silently accepted.
    for key, value in [("from", "+0:" + RECEIPT["from"][2:]), ("from", "00:" + RECEIPT["from"][2:]),
                       ("amount", "1_000_000"), ("amount", "+1000000"), ("amount", " 1000000"), ("amount", "01000000"),
                       ("remainingBalance", "4000000.0"), ("nonce", RECEIPT["nonce"].upper()),
                       ("confirmationId", RECEIPT["confirmationId"].upper()), ("confirmedAt", float(RECEIPT["confirmedAt"])),
                       ("validBefore", str(RECEIPT["validBefore"])), ("version", True)]:
        check(f"non-canonical receipt {key}={str(value)[:30]!r} refused", run("receipt", replaced(RECEIPT, (key,), value)) == 2)

    # Every hostile value at every leaf: a clean verdict, and never 0 unless nothing changed.
    for kind, golden in (("quote", QUOTE), ("receipt", RECEIPT)):
        for path in list(leaves(golden)):
            for value in HOSTILE:
                check(f"{kind} {'/'.join(map(str, path))} = {str(value)[:20]!r}", exit_code_is_0_or_2(kind, replaced(golden, path, value)))

    # Whole-file hostility: not JSON, not UTF-8, nested far too deep, empty.
    for kind in ("quote", "receipt"):
        for raw in [b"", b"{", b"\xff\xfe\x00", b"[" * 100_000 + b"]" * 100_000, b"1", b"null", b'"x"']:
            try:
                code = run(kind, raw=raw)
            except BaseException as exc:  # noqa: BLE001
                code = f"raised {type(exc).__name__}"
            check(f"{kind} raw {raw[:12]!r}", code == 2)

    # A seeded random walk: several hostile replacements at once.
    for case in range(args.cases):
        kind, golden = rng.choice((("quote", QUOTE), ("receipt", RECEIPT)))
        doc = golden
        for _ in range(rng.randint(1, 4)):
            paths = list(leaves(doc))
            doc = replaced(doc, rng.choice(paths), rng.choice(HOSTILE + [rng.randint(-(1 << 70), 1 << 70)]))
        check(f"random case {case} ({kind})", exit_code_is_0_or_2(kind, doc))

    print(f"verify.py property test: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

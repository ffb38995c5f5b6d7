/// Hand-written JSON for the hot path: the writer stores a receipt per payment and `/verify`
/// answers with one, and Foundation's `JSONEncoder` cost several microseconds each time. The
/// output is what `JSONEncoder` with sorted keys produces, and `JSONDecoder` reads it back
/// (tested in `ReceiptJSONTests`).
extension Receipt {
    public func canonicalJSON() -> String {
        var out = "{\"amount\":\""
        out.reserveCapacity(720)
        out += amount.description
        out += "\",\"asset\":"; JSONText.appendQuoted(asset, to: &out)
        out += ",\"authorizationDigest\":"; JSONText.appendQuoted(authorizationDigest, to: &out)
        out += ",\"confirmationId\":"; JSONText.appendQuoted(confirmationId, to: &out)
        out += ",\"confirmedAt\":" + String(confirmedAt)
        out += ",\"enclavePublicKey\":"; JSONText.appendQuoted(enclavePublicKey, to: &out)
        out += ",\"from\":"; JSONText.appendQuoted(from, to: &out)
        out += ",\"network\":"; JSONText.appendQuoted(network, to: &out)
        out += ",\"nonce\":"; JSONText.appendQuoted(nonce, to: &out)
        out += ",\"remainingBalance\":\"" + remainingBalance.description + "\""
        out += ",\"signature\":"; JSONText.appendQuoted(signature, to: &out)
        out += ",\"to\":"; JSONText.appendQuoted(to, to: &out)
        out += ",\"validBefore\":" + String(validBefore)
        out += ",\"version\":" + String(version) + "}"
        return out
    }

    /// A copy signed by `signer`. Ed25519 signatures are deterministic (RFC 8032), so a receipt
    /// is stored unsigned and signed whenever it is served, off the ledger's single writer.
    public func signed(by signer: any ReceiptSigner) -> Receipt {
        guard let bytes = signingBytes() else { return self }
        var copy = self
        copy.signature = Hex.encode(signer.sign(receiptBytes: bytes))
        return copy
    }
}

/// JSON string literals.
public enum JSONText {
    public static func appendQuoted(_ s: String, to out: inout String) {
        out += "\""
        var plain = true
        for b in s.utf8 where b < 0x20 || b == 0x22 || b == 0x5c { plain = false; break }
        if plain {
            out += s
        } else {
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "\u{08}": out += "\\b"
                case "\u{0C}": out += "\\f"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    public static func quoted(_ s: String) -> String {
        var out = ""
        appendQuoted(s, to: &out)
        return out
    }
}

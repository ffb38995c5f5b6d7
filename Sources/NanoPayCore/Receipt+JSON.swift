/// Hand-written JSON for the hot path: the writer stores a receipt per payment and `/verify`
/// answers with one, and Foundation's `JSONEncoder` cost several microseconds each time. The
/// output is what `JSONEncoder` with sorted keys produces, and `JSONDecoder` reads it back
/// (tested in `ReceiptJSONTests`).
extension Receipt {
    public func canonicalJSON() -> String {
        var w = JSONWriter(capacity: 720)
        writeCanonicalJSON(to: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// Appends the receipt object to `w` (inside a larger answer, without a String in between).
    public func writeCanonicalJSON(to w: inout JSONWriter) {
        w.raw("{\"amount\":"); w.quoted(amount)
        w.raw(",\"asset\":"); w.quoted(asset)
        w.raw(",\"authorizationDigest\":"); w.quoted(authorizationDigest)
        w.raw(",\"confirmationId\":"); w.quoted(confirmationId)
        w.raw(",\"confirmedAt\":"); w.decimal(confirmedAt)
        w.raw(",\"enclavePublicKey\":"); w.quoted(enclavePublicKey)
        w.raw(",\"from\":"); w.quoted(from)
        w.raw(",\"network\":"); w.quoted(network)
        w.raw(",\"nonce\":"); w.quoted(nonce)
        w.raw(",\"remainingBalance\":"); w.quoted(remainingBalance)
        w.raw(",\"signature\":"); w.quoted(signature)
        w.raw(",\"to\":"); w.quoted(to)
        w.raw(",\"validBefore\":"); w.decimal(validBefore)
        w.raw(",\"version\":"); w.integer(version)
        w.raw("}")
    }
}

extension X402.SettleResponse {
    /// The PAYMENT-RESPONSE for a posted payment: the confirmation id is the transaction and the
    /// signed receipt travels in `extra.receipt` (the facilitator, the seller middleware and the
    /// gateway answer the same shape).
    public init(settled receipt: Receipt, network: String, extensions: [String: JSONValue]? = nil) {
        self.init(success: true, transaction: receipt.confirmationId, network: network, payer: receipt.from,
                  amount: receipt.amount.description,
                  extra: ["receipt": receipt.jsonValue, "remainingBalance": .string(receipt.remainingBalance.description)],
                  extensions: extensions)
    }
}

import NanoPayCore

extension PaymentService {
    /// The ticket key as a JWK set (`GET /.well-known/jwks.json`). The attestation quote binds
    /// the same key, so a seller that pinned the quote can check a JWKS it fetched.
    public var ticketKeys: TicketJWK.Set { TicketJWK.Set(keys: [TicketJWK(publicKey: enclave.ticketPublicKey)]) }
}

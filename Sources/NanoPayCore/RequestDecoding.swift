import Foundation

/// The decoders for request bodies that come from outside. They live here, with no HTTP
/// dependency, so the HTTP layer stays thin and each decoder can be fuzzed on its own
/// (`Fuzz/`). Every failure is a `NanoPayError`, never a trap.
public enum RequestDecoding {
    /// A JSON body as one type; every failure is `invalid_request` naming the field.
    public static func decode<T: Decodable>(_ type: T.Type, json data: Data) throws(NanoPayError) -> T {
        guard !data.isEmpty else { throw .invalid("request body is empty; expected JSON") }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw .invalid(JSONErrors.describe(error))
        }
    }

    /// `POST /verify`: the authorization, validated (typed addresses, amount, nonce, signature bytes).
    public static func verifyRequest(_ data: Data) throws(NanoPayError) -> (fields: AuthorizationFields, authorization: PaymentAuthorization) {
        let fields = try decode(AuthorizationFields.self, json: data)
        return (fields, try fields.validated().authorization)
    }

    /// `POST /verify/batch`: `{"authorizations": [...]}` with 1 to `itemsMax` items. A malformed
    /// envelope fails the whole request; a malformed item fails only its own slot, with the
    /// message `/verify` would give for it alone. Items are decoded in one pass.
    public static func verifyBatch(_ data: Data, itemsMax: Int) throws(NanoPayError) -> [Result<AuthorizationFields, NanoPayError>] {
        let envelope: BatchEnvelope
        do { envelope = try JSONDecoder().decode(BatchEnvelope.self, from: data) } catch {
            if let e = error as? DecodingError, JSONErrors.concerns(e, key: "authorizations") {
                throw .invalid("missing field authorizations (an array)")
            }
            throw .invalid("body must be {\"authorizations\": [...]}")
        }
        guard !envelope.authorizations.isEmpty, envelope.authorizations.count <= itemsMax else {
            throw .invalid("authorizations must hold 1 to \(itemsMax) items")
        }
        return envelope.authorizations.map(\.result)
    }

    private struct BatchEnvelope: Decodable {
        var authorizations: [BatchItem]
    }

    /// One item: its authorization, or the error it alone would get from `/verify`.
    private struct BatchItem: Decodable {
        var result: Result<AuthorizationFields, NanoPayError>
        init(from decoder: any Decoder) {
            do {
                result = .success(try AuthorizationFields(from: decoder))
            } catch {
                result = .failure(.invalid(JSONErrors.describe(error, droppingPathPrefix: decoder.codingPath.count)))
            }
        }
    }
}

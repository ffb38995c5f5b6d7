/// Why the enclave refused to start or to act. Messages name the file or setting at fault and
/// never contain key material.
public struct EnclaveError: Error, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable { case platformSecret, sealedKey, storage, crypto, unsupportedPlatform }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
    public var description: String { "enclave \(kind.rawValue) error: \(message)" }
}

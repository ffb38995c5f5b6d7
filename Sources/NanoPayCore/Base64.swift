import Foundation

/// Base64 helpers: standard (RFC 4648, padded) for x402 headers, base64url for TON addresses.
public enum Base64 {
    public static func encode(_ bytes: [UInt8], urlSafe: Bool = false) -> String {
        let s = Data(bytes).base64EncodedString()
        guard urlSafe else { return s }
        return s.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    /// base64url without padding, as JOSE (JWS, JWK) spells bytes.
    public static func url(_ bytes: [UInt8]) -> String {
        var s = encode(bytes, urlSafe: true)
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }

    /// Decodes standard base64; with `urlSafeAllowed`, also the base64url alphabet. Padding optional.
    public static func decode(_ text: String, urlSafeAllowed: Bool = false) -> [UInt8]? {
        var s = text
        if urlSafeAllowed {
            s = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        }
        let remainder = s.utf8.count % 4
        if remainder == 1 { return nil }
        if remainder > 0 { s += String(repeating: "=", count: 4 - remainder) }
        guard let data = Data(base64Encoded: s) else { return nil }
        return [UInt8](data)
    }
}

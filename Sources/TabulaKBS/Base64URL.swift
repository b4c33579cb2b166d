public import Foundation

/// base64url without padding (RFC 7515 §2), as JOSE writes every binary field.
public enum Base64URL {
    public static func encode(_ bytes: some DataProtocol) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The bytes of a base64url string; refuses padding, whitespace and the standard alphabet's
    /// `+` and `/`, as a strict JOSE parser does.
    public static func decode(_ text: String, field: String) throws(BrokerError) -> [UInt8] {
        guard text.utf8.allSatisfy({ byte in
            (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x5F
        }), text.utf8.count % 4 != 1 else {
            throw BrokerError(.malformed, "\(field) is not base64url without padding")
        }
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        standard += String(repeating: "=", count: (4 - standard.utf8.count % 4) % 4)
        guard let data = Data(base64Encoded: standard) else { throw BrokerError(.malformed, "\(field) is not base64url") }
        return Array(data)
    }
}

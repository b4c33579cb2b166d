/// The one rule for namespace, package and action names, shared by the server, the enclave and
/// clients, and the one way to compare them.
///
/// OpenWhisk's entity name rule, with `\w` meaning ASCII only: `\A([\w]|[\w][\w@ .-]*[\w@.-]+)\z`,
/// at most 256 characters. A name starts with an ASCII letter, digit or `_`, continues with those
/// or `@`, `.`, `-` and spaces, and does not end with a space.
///
/// Why ASCII only, and why bytes: Swift compares and hashes strings by canonical equivalence
/// ("é" precomposed equals "e" + U+0301, and U+212A KELVIN SIGN equals "K"), while SQLite compares
/// bytes. A name that passes ``isValid(_:)`` has exactly one spelling, so the string, its hash and
/// the stored bytes agree; ``same(_:_:)`` compares by UTF-8 bytes anyway, so that a check never
/// depends on which side was validated.
public enum EntityName {
    /// The longest name, in characters (bytes: a valid name is ASCII).
    public static let maxLength = 256

    /// What a valid name looks like, to end an error message with.
    public static let rule = "use 1 to 256 ASCII letters, digits, '_', '@', '.', '-' or spaces, starting with a letter, a digit or '_' and not ending with a space"

    /// Whether `name` follows the rule. Checks UTF-8 bytes: any non-ASCII byte fails.
    public static func isValid(_ name: some StringProtocol) -> Bool {
        var count = 0
        var last: UInt8 = 0
        for byte in name.utf8 {
            count += 1
            guard count <= maxLength else { return false }
            if count == 1 {
                guard isWord(byte) else { return false }
            } else {
                guard isWord(byte) || byte == UInt8(ascii: "@") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: " ") else { return false }
            }
            last = byte
        }
        return count > 0 && last != UInt8(ascii: " ")
    }

    /// Whether two names are the same name: the same UTF-8 bytes, never canonical equivalence.
    @inlinable
    public static func same(_ a: some StringProtocol, _ b: some StringProtocol) -> Bool {
        a.utf8.elementsEqual(b.utf8)
    }

    /// `\w` in ASCII: a letter, a digit or `_`.
    private static func isWord(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"): true
        default: false
        }
    }
}

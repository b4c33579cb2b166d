/// OpenWhisk-style identifiers: 32 lowercase hex digits.
///
/// Used for activation ids and request ids.
public enum ActivationID {
    /// 128 bits from the system's secure generator.
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return hex(generator.next() as UInt64) + hex(generator.next() as UInt64)
    }

    /// The milliseconds since 1970 in the first 12 digits, then 80 random bits: ids that sort by
    /// creation time, which the store's index on activation ids appends to and prunes from its
    /// ends instead of touching a random page per record. Still unguessable, and they tell no
    /// more than the record's own `start`.
    public static func timeOrdered(milliseconds: Int64) -> String {
        var generator = SystemRandomNumberGenerator()
        let time = UInt64(clamping: max(0, milliseconds)) & 0xFFFF_FFFF_FFFF
        let random = generator.next() as UInt64
        // 48 bits of time and 16 random bits, then 64 random bits.
        return hex(time << 16 | random >> 48) + hex(generator.next() as UInt64)
    }

    /// Whether `id` has the form of an activation id: exactly 32 lowercase hex digits. Checked
    /// by clients before an id from a server becomes part of a file name or a path.
    public static func isValid(_ id: String) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

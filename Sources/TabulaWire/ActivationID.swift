/// OpenWhisk-style identifiers: 32 lowercase hex digits from the system's secure generator.
///
/// Used for activation ids and request ids.
public enum ActivationID {
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}

extension FunctionCertificate {
    /// The UUID 6f1c7a52-3d1e-4f8b-9c65-2b7e0d4a91c3, chosen for the claims extension, as an integer.
    static let claimsUUID: UInt128 = 0x6F1C_7A52_3D1E_4F8B_9C65_2B7E_0D4A_91C3

    /// The claims extension's OID, 2.25.<claimsUUID> (ITU-T X.667: a UUID arc needs no registration),
    /// as the content bytes of a DER OBJECT IDENTIFIER.
    static let claimsOID: [UInt8] = objectIdentifierContent([2, 25, claimsUUID])

    /// The DER content of an OBJECT IDENTIFIER: the first two arcs as 40·X + Y, then each arc in
    /// base 128, most significant group first, bit 8 set on all but the last byte of an arc.
    static func objectIdentifierContent(_ arcs: [UInt128]) -> [UInt8] {
        guard arcs.count >= 2 else { return [] }
        var out: [UInt8] = []
        for arc in [arcs[0] * 40 + arcs[1]] + arcs.dropFirst(2) {
            var groups: [UInt8] = [UInt8(arc & 0x7F)]
            var rest = arc >> 7
            while rest > 0 {
                groups.insert(UInt8(rest & 0x7F) | 0x80, at: 0)
                rest >>= 7
            }
            out += groups
        }
        return out
    }

    /// The dotted form of DER OBJECT IDENTIFIER content whose arcs fit in 128 bits; nil when malformed
    /// (empty, truncated, a non-minimal arc, or an arc too wide).
    static func dottedObjectIdentifier(_ content: [UInt8]) -> String? {
        var arcs: [UInt128] = []
        var value: UInt128 = 0
        var started = false
        for byte in content {
            if !started, byte == 0x80 { return nil }  // a leading zero group is not minimal
            guard value >> 121 == 0 else { return nil }
            value = value << 7 | UInt128(byte & 0x7F)
            started = true
            if byte & 0x80 == 0 {
                arcs.append(value)
                value = 0
                started = false
            }
        }
        guard !started, let first = arcs.first else { return nil }
        let (x, y): (UInt128, UInt128) = first < 80 ? (first / 40, first % 40) : (2, first - 80)
        return ([x, y] + arcs.dropFirst()).map(String.init).joined(separator: ".")
    }
}

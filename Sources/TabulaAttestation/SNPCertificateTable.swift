import TabulaWire

/// The certificate table of an AMD SEV-SNP extended report: what the host attaches to a report so
/// that the guest (and its verifier) need not fetch the VCEK from AMD.
///
/// It is the `cert_table` of the SEV-ES Guest-Hypervisor Communication Block specification (AMD
/// 56421, section 4.1.8.1, `MSG_REPORT_REQ`), which Linux configfs-tsm returns as `auxblob` when the
/// provider is `sev_guest`. Layout: entries of a 16-byte GUID (in the byte order of its text form), a
/// little-endian 32-bit offset and a 32-bit length, ended by an all-zero entry; each certificate (DER)
/// lies at its offset, counted from the start of the table.
public struct SNPCertificateTable: Sendable, Hashable {
    /// What an entry holds, by its GUID.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The Versioned Chip Endorsement Key certificate, `63da758d-e664-4564-adc5-f4b93be8accd`.
        case vcek = "VCEK"
        /// The Versioned Loaded Endorsement Key certificate, `a8074bc2-a25a-483e-aae6-39c045a0b8a1`.
        case vlek = "VLEK"
        /// The AMD SEV signing key certificate, `4ab7b379-bbac-4fe4-a02f-05aef327c782`.
        case ask = "ASK"
        /// The AMD root key certificate, `c0b406a4-a803-4952-9743-3fb6014cd0ae`.
        case ark = "ARK"

        /// The 16 GUID bytes, in the order of the GUID's text.
        public var guid: [UInt8] {
            let text: String =
                switch self {
                case .vcek: "63da758de6644564adc5f4b93be8accd"
                case .vlek: "a8074bc2a25a483eaae639c045a0b8a1"
                case .ask: "4ab7b379bbac4fe4a02f05aef327c782"
                case .ark: "c0b406a4a803495297433fb6014cd0ae"
                }
            // Constant, valid hex: decoding cannot fail.
            return [UInt8](hex: text) ?? []
        }

        init?(guid: [UInt8]) {
            guard let kind = Self.allCases.first(where: { $0.guid == guid }) else { return nil }
            self = kind
        }
    }

    /// One certificate of the table.
    public struct Entry: Sendable, Hashable {
        /// The entry's GUID (16 bytes).
        public var guid: [UInt8]
        /// The certificate (DER).
        public var certificate: [UInt8]

        /// The kind its GUID names; nil for a GUID this module does not know (kept, but unused).
        public var kind: Kind? { Kind(guid: guid) }

        public init(guid: [UInt8], certificate: [UInt8]) {
            self.guid = guid
            self.certificate = certificate
        }

        public init(_ kind: Kind, certificate: [UInt8]) {
            self.init(guid: kind.guid, certificate: certificate)
        }
    }

    static let entrySize = 24

    /// The entries, in table order.
    public var entries: [Entry]

    public init(entries: [Entry]) {
        self.entries = entries
    }

    /// Parses a table.
    ///
    /// - Throws: `AttestationError` `.malformed` when it has no terminating entry, an entry points
    ///   outside the table or into the entry list, or two entries have the same known GUID.
    public init(bytes: [UInt8]) throws(AttestationError) {
        func u32(_ offset: Int) -> Int {
            (0..<4).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
        }
        var headers: [(guid: [UInt8], offset: Int, length: Int)] = []
        var position = 0
        while true {
            guard position + Self.entrySize <= bytes.count else {
                throw AttestationError(.malformed, "SEV-SNP certificate table: no terminating all-zero entry in \(bytes.count) bytes")
            }
            let guid = Array(bytes[position..<position + 16])
            let offset = u32(position + 16)
            let length = u32(position + 20)
            position += Self.entrySize
            if guid.allSatisfy({ $0 == 0 }) { break }
            headers.append((guid, offset, length))
        }
        let headerEnd = position
        var seen: Set<[UInt8]> = []
        entries = []
        for header in headers {
            let name = Kind(guid: header.guid)?.rawValue ?? "entry \(header.guid.hex)"
            guard header.length > 0, header.offset >= headerEnd, header.offset <= bytes.count - header.length else {
                throw AttestationError(
                    .malformed,
                    "SEV-SNP certificate table: \(name) at offset \(header.offset), \(header.length) bytes, is outside the \(bytes.count)-byte table")
            }
            if Kind(guid: header.guid) != nil {
                guard seen.insert(header.guid).inserted else {
                    throw AttestationError(.malformed, "SEV-SNP certificate table: two \(name) entries")
                }
            }
            entries.append(Entry(guid: header.guid, certificate: Array(bytes[header.offset..<header.offset + header.length])))
        }
    }

    /// The table in its binary layout: the entries, the terminator, then the certificates in order.
    public var bytes: [UInt8] {
        func le32(_ value: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        var header: [UInt8] = []
        var body: [UInt8] = []
        var offset = (entries.count + 1) * Self.entrySize
        for entry in entries {
            header += entry.guid + le32(offset) + le32(entry.certificate.count)
            body += entry.certificate
            offset += entry.certificate.count
        }
        return header + [UInt8](repeating: 0, count: Self.entrySize) + body
    }

    /// The certificate of `kind`, if the table has one.
    public subscript(kind: Kind) -> [UInt8]? {
        entries.first { $0.kind == kind }?.certificate
    }

    /// Whether `bytes` looks like a certificate table rather than a certificate: its first entry
    /// carries one of the four known GUIDs (a DER certificate starts with 0x30, PEM with a dash, and
    /// none of the GUIDs does).
    public static func recognises(_ bytes: [UInt8]) -> Bool {
        bytes.count >= entrySize && Kind(guid: Array(bytes.prefix(16))) != nil
    }
}

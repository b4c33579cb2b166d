public import Foundation

extension Quote {
    /// A TDX TD report body: version 1.0 (584 bytes) or 1.5 (648 bytes, adding TEE TCB SVN 2 and MRSERVICETD).
    public struct TDReport: Sendable, Hashable {
        /// The size of a TDX 1.0 report body in bytes.
        public static let size10 = 584
        /// The size of a TDX 1.5 report body in bytes.
        public static let size15 = 648

        /// The TDX module's TCB security version numbers.
        public var teeTcbSvn: Data
        /// The measurement of the TDX module.
        public var mrSeam: Data
        /// The measurement of the TDX module's signer (zero for Intel's module).
        public var mrSignerSeam: Data
        /// The TDX module's attributes.
        public var seamAttributes: Data
        /// The TD's attributes; bit 0 is DEBUG.
        public var tdAttributes: Data
        /// The TD's extended feature mask.
        public var xfam: Data
        /// The measurement of the TD's initial contents.
        public var mrTD: Data
        /// The software-defined configuration ID.
        public var mrConfigID: Data
        /// The software-defined owner ID.
        public var mrOwner: Data
        /// The software-defined owner configuration.
        public var mrOwnerConfig: Data
        /// The four runtime-extendable measurement registers RTMR0–3.
        public var rtmrs: [Data]
        /// The 64 bytes the TD chose to bind into the report.
        public var reportData: Data
        /// TEE TCB SVN 2 (TDX 1.5 only).
        public var teeTcbSvn2: Data?
        /// The measurement of the service TD (TDX 1.5 only).
        public var mrServiceTD: Data?

        /// Whether the TD is debuggable (bit 0 of the TD attributes), where its memory is not confidential.
        public var debug: Bool { (tdAttributes.first ?? 0) & 0x01 != 0 }

        /// Parses a 584- or 648-byte body; other sizes are malformed.
        init(_ b: [UInt8]) throws(AttestationError) {
            guard b.count == Self.size10 || b.count == Self.size15 else {
                throw AttestationError(
                    .malformed, "TDX report body is \(b.count) bytes, expected \(Self.size10) or \(Self.size15)")
            }
            teeTcbSvn = Data(b.bytes(0..<16))
            mrSeam = Data(b.bytes(16..<64))
            mrSignerSeam = Data(b.bytes(64..<112))
            seamAttributes = Data(b.bytes(112..<120))
            tdAttributes = Data(b.bytes(120..<128))
            xfam = Data(b.bytes(128..<136))
            mrTD = Data(b.bytes(136..<184))
            mrConfigID = Data(b.bytes(184..<232))
            mrOwner = Data(b.bytes(232..<280))
            mrOwnerConfig = Data(b.bytes(280..<328))
            rtmrs = (0..<4).map { Data(b.bytes((328 + 48 * $0)..<(376 + 48 * $0))) }
            reportData = Data(b.bytes(520..<584))
            if b.count == Self.size15 {
                teeTcbSvn2 = Data(b.bytes(584..<600))
                mrServiceTD = Data(b.bytes(600..<648))
            }
        }
    }
}

public import Foundation

extension Quote {
    /// An SGX enclave report (`sgx_report_body_t`, 384 bytes): the body of an SGX quote and the QE report.
    public struct EnclaveReport: Sendable, Hashable {
        /// The size of an enclave report in bytes.
        public static let size = 384

        /// The raw 384 bytes, which the QE report signature covers.
        public var raw: Data
        /// The CPU security version.
        public var cpuSVN: Data
        /// The MISCSELECT bits.
        public var miscSelect: UInt32
        /// The 16-byte attributes (flags then XFRM).
        public var attributes: Data
        /// The enclave measurement.
        public var mrEnclave: Data
        /// The hash of the enclave signer's public key.
        public var mrSigner: Data
        /// The product ID of the enclave.
        public var isvProdID: UInt16
        /// The security version of the enclave.
        public var isvSVN: UInt16
        /// The 64 bytes the enclave chose to bind into the report.
        public var reportData: Data

        /// Whether the enclave runs in debug mode (bit 1 of the attribute flags), where its memory is not confidential.
        public var debug: Bool { (attributes.first ?? 0) & 0x02 != 0 }

        /// Parses the 384-byte report; anything but exactly 384 bytes is malformed.
        init(_ bytes: [UInt8]) throws(AttestationError) {
            guard bytes.count == Self.size else {
                throw AttestationError(.malformed, "SGX enclave report is \(bytes.count) bytes, expected \(Self.size)")
            }
            raw = Data(bytes)
            cpuSVN = Data(bytes.bytes(0..<16))
            miscSelect = UInt32(bytes.littleEndianUInt16(at: 16)) | UInt32(bytes.littleEndianUInt16(at: 18)) << 16
            attributes = Data(bytes.bytes(48..<64))
            mrEnclave = Data(bytes.bytes(64..<96))
            mrSigner = Data(bytes.bytes(128..<160))
            isvProdID = bytes.littleEndianUInt16(at: 256)
            isvSVN = bytes.littleEndianUInt16(at: 258)
            reportData = Data(bytes.bytes(320..<384))
        }
    }
}

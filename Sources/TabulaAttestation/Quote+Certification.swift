public import Foundation

extension Quote {
    /// The quoting enclave's certification of the attestation key.
    ///
    /// The QE report binds the attestation key (through its report data), and the PCK, certified by
    /// Intel, signs the QE report. This is certification data type 6 (versions 4 and 5), or the same
    /// fields laid out directly (version 3); both end in type 5, the PCK chain in PEM.
    public struct Certification: Sendable, Hashable {
        static let pckChainType: UInt16 = 5
        static let qeReportType: UInt16 = 6

        /// The quoting enclave's report.
        public var qeReport: EnclaveReport
        /// The ECDSA P-256 signature (r‖s) by the PCK over the QE report's 384 bytes.
        public var qeReportSignature: Data
        /// The QE authentication data, hashed with the attestation key into the QE report data.
        public var qeAuthData: Data
        /// The PCK certificate chain (leaf, intermediate CA, root) as PEM text.
        public var pckChainPEM: Data

        /// Reads QE report, its signature, the auth data and the nested certification data (type 5).
        init(qeReportFields reader: inout QuoteReader) throws(AttestationError) {
            qeReport = try EnclaveReport(try reader.read(EnclaveReport.size, "QE report"))
            qeReportSignature = Data(try reader.read(64, "QE report signature"))
            let authSize = Int(try reader.uint16("QE auth data size"))
            qeAuthData = Data(try reader.read(authSize, "QE auth data"))
            let type = try reader.uint16("PCK certification data type")
            let size = Int(try reader.uint32("PCK certification data size"))
            let chain = try reader.read(size, "PCK certification data")
            guard type == Self.pckChainType else {
                throw AttestationError(
                    .unsupported, "certification data type \(type) is not supported (expected 5, PCK chain)")
            }
            pckChainPEM = Data(chain)
        }
    }
}

public import Foundation

extension Quote {
    /// The quoting enclave's certification of the attestation key.
    ///
    /// The QE report binds the attestation key (through its report data), and the PCK, certified by
    /// Intel, signs the QE report. This is certification data type 6 (versions 4 and 5), or the same
    /// fields laid out directly (version 3); both end in the PCK certification data: usually type 5, the
    /// PCK chain in PEM, or type 4, the PCK leaf alone. Types 1-3 (the PPID in clear or encrypted, with
    /// CPU SVN, PCE SVN and PCE ID) carry no certificate: the verifier must be given the PCK chain.
    public struct Certification: Sendable, Hashable {
        static let pckLeafType: UInt16 = 4
        static let pckChainType: UInt16 = 5
        static let qeReportType: UInt16 = 6

        /// The quoting enclave's report.
        public var qeReport: EnclaveReport
        /// The ECDSA P-256 signature (r‖s) by the PCK over the QE report's 384 bytes.
        public var qeReportSignature: Data
        /// The QE authentication data, hashed with the attestation key into the QE report data.
        public var qeAuthData: Data
        /// The type of the PCK certification data (1-5).
        public var pckCertificationType: UInt16
        /// The PCK certificate chain (leaf, intermediate CA, root) as PEM text for type 5, the leaf alone
        /// for type 4, and empty for types 1-3.
        public var pckChainPEM: Data

        /// Reads QE report, its signature, the auth data and the nested PCK certification data.
        init(qeReportFields reader: inout QuoteReader) throws(AttestationError) {
            qeReport = try EnclaveReport(try reader.read(EnclaveReport.size, "QE report"))
            qeReportSignature = Data(try reader.read(64, "QE report signature"))
            let authSize = Int(try reader.uint16("QE auth data size"))
            qeAuthData = Data(try reader.read(authSize, "QE auth data"))
            let type = try reader.uint16("PCK certification data type")
            let size = Int(try reader.uint32("PCK certification data size"))
            let data = try reader.read(size, "PCK certification data")
            guard (1...5).contains(type) else {
                throw AttestationError(
                    .unsupported, "PCK certification data type \(type) is not supported (expected 1 to 5)")
            }
            pckCertificationType = type
            pckChainPEM = type == Self.pckChainType || type == Self.pckLeafType ? Data(data) : Data()
        }
    }
}

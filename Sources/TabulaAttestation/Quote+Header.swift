public import Foundation

extension Quote {
    /// The 48-byte header that starts every DCAP quote (versions 3, 4 and 5).
    ///
    /// Version 3 reserves the TEE-type field; it is zero there, which is the SGX value, so the
    /// same layout reads all three versions.
    public struct Header: Sendable, Hashable {
        /// The size of the header in bytes.
        public static let size = 48

        /// The quote format version: 3, 4 or 5.
        public var version: UInt16
        /// The attestation key type; 2 is ECDSA-256 with P-256, the only one supported.
        public var attestationKeyType: UInt16
        /// The TEE type: `0x00000000` for SGX, `0x00000081` for TDX.
        public var teeType: UInt32
        /// The quoting enclave's security version (reserved in version 4 and later).
        public var qeSVN: UInt16
        /// The provisioning certification enclave's security version.
        public var pceSVN: UInt16
        /// The quoting enclave vendor (Intel's is `939a7233f79c4ca9940a0db3957f0607`).
        public var qeVendorID: Data
        /// Custom data of the quoting enclave (for Intel's QE, the first 16 bytes are a platform identifier).
        public var userData: Data

        init(_ reader: inout QuoteReader) throws(AttestationError) {
            version = try reader.uint16("header version")
            guard [3, 4, 5].contains(version) else {
                throw AttestationError(.unsupported, "quote version \(version) is not supported (only 3, 4 and 5)")
            }
            attestationKeyType = try reader.uint16("header attestation key type")
            guard attestationKeyType == Quote.ecdsaP256KeyType else {
                throw AttestationError(
                    .unsupported, "quote attestation key type \(attestationKeyType) is not supported (only 2, ECDSA P-256)")
            }
            teeType = try reader.uint32("header TEE type")
            guard teeType == Quote.TEE.sgxType || (teeType == Quote.TEE.tdxType && version >= 4) else {
                throw AttestationError(
                    .unsupported, "quote TEE type 0x\(String(teeType, radix: 16)) is not supported in version \(version)")
            }
            qeSVN = try reader.uint16("header QE SVN")
            pceSVN = try reader.uint16("header PCE SVN")
            qeVendorID = Data(try reader.read(16, "header QE vendor ID"))
            userData = Data(try reader.read(20, "header user data"))
        }

        /// The TEE this header declares.
        public var tee: Quote.TEE { teeType == Quote.TEE.tdxType ? .tdx : .sgx }
    }
}

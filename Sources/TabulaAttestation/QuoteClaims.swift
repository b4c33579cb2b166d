public import Foundation

/// What a verified Intel DCAP quote asserts about the enclave or trust domain that produced it.
///
/// Only returned by ``Quote/verify(at:chain:collateral:)``, so every field is backed by a valid signature
/// chain to the Intel SGX Root CA. The TCB status (whether the platform is up to date) is in ``tcb``
/// when Intel's TCB info collateral was given.
public struct QuoteClaims: Sendable, Hashable, Codable {
    /// The TEE kind: SGX or TDX.
    public var tee: Quote.TEE
    /// The quote format version (3, 4 or 5).
    public var version: UInt16
    /// The 64 bytes of report data bound by the enclave or TD.
    public var reportData: Data
    /// MRENCLAVE (SGX, 32 bytes) or MRTD (TDX, 48 bytes).
    public var measurement: Data
    /// Whether the enclave or TD runs in debug mode, where its memory can be read by the host.
    public var debug: Bool

    /// SGX: the enclave signer's key hash (MRSIGNER).
    public var mrSigner: Data?
    /// SGX: the enclave's product ID.
    public var isvProdID: UInt16?
    /// SGX: the enclave's security version.
    public var isvSVN: UInt16?
    /// SGX: the 16-byte enclave attributes.
    public var attributes: Data?

    /// TDX: runtime measurement register 0.
    public var rtmr0: Data?
    /// TDX: runtime measurement register 1.
    public var rtmr1: Data?
    /// TDX: runtime measurement register 2.
    public var rtmr2: Data?
    /// TDX: runtime measurement register 3.
    public var rtmr3: Data?
    /// TDX: the TDX module's measurement.
    public var mrSeam: Data?
    /// TDX: the 8-byte TD attributes.
    public var tdAttributes: Data?
    /// TDX: the TDX module's 16-byte TCB security versions.
    public var teeTcbSvn: Data?

    /// The platform's family-model-stepping-platform-CustomSKU, 6 bytes from the PCK certificate.
    public var fmspc: Data
    /// The provisioning certification enclave's ID, 2 bytes from the PCK certificate.
    public var pceID: Data
    /// The PCE security version of the TCB the PCK certificate was issued for.
    public var pceSVN: Int
    /// The 16 SGX TCB component SVNs of the PCK certificate.
    public var tcbComponents: [Int]

    /// The TCB status from Intel's collateral; nil when no TCB info was given.
    public var tcb: TCBEvaluation?
    /// The CAs whose CRLs were checked against the PCK chain (e.g. "Intel SGX PCK Platform CA").
    public var crlIssuers: [String] = []

    /// Collects the claims of a quote whose verification succeeded.
    init(quote: Quote, pck: Quote.PCKExtension) {
        tee = quote.tee
        version = quote.header.version
        reportData = quote.reportData
        fmspc = pck.fmspc
        pceID = pck.pceID
        pceSVN = pck.pceSVN
        tcbComponents = pck.tcbComponents
        switch quote.body {
        case .sgx(let report):
            measurement = report.mrEnclave
            debug = report.debug
            mrSigner = report.mrSigner
            isvProdID = report.isvProdID
            isvSVN = report.isvSVN
            attributes = report.attributes
        case .tdx(let report):
            measurement = report.mrTD
            debug = report.debug
            rtmr0 = report.rtmrs[0]
            rtmr1 = report.rtmrs[1]
            rtmr2 = report.rtmrs[2]
            rtmr3 = report.rtmrs[3]
            mrSeam = report.mrSeam
            tdAttributes = report.tdAttributes
            teeTcbSvn = report.teeTcbSvn
        }
    }
}

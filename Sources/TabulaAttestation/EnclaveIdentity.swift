import Foundation
import TabulaWire

/// Intel's identity of its Quoting Enclave (PCS API v4 `enclaveIdentity`, version 2): `QE` for SGX
/// quotes, `TD_QE` for TDX quotes. It says which enclave may act as the QE (signer, product,
/// MISCSELECT and attributes under masks) and rates each QE security version. Parsed only after its
/// signature verified.
struct EnclaveIdentity: Sendable {
    var id: String
    var issueDate: Date
    var nextUpdate: Date
    var mrSigner: [UInt8]
    var isvProdID: Int
    var miscSelect: UInt32
    var miscSelectMask: UInt32
    var attributes: [UInt8]
    var attributesMask: [UInt8]
    var levels: [(isvSVN: Int, status: TCBStatus, advisoryIDs: [String])]

    init(json: JSONValue) throws(AttestationError) {
        let fields = try JSONFields(json, "QE identity")
        let version = try fields.int("version")
        guard version == 2 else {
            throw AttestationError(.unsupported, "QE identity version \(version) is not supported (only 2)")
        }
        id = try fields.string("id")
        issueDate = try fields.date("issueDate")
        nextUpdate = try fields.date("nextUpdate")
        mrSigner = try fields.hex("mrsigner", count: 32)
        isvProdID = try fields.int("isvprodid")
        // MISCSELECT is a little-endian 32-bit field of the report, but Intel writes it as a big-endian hex number.
        miscSelect = Self.number(try fields.hex("miscselect", count: 4))
        miscSelectMask = Self.number(try fields.hex("miscselectMask", count: 4))
        attributes = try fields.hex("attributes", count: 16)
        attributesMask = try fields.hex("attributesMask", count: 16)
        var levels: [(isvSVN: Int, status: TCBStatus, advisoryIDs: [String])] = []
        for item in try fields.array("tcbLevels") {
            let level = try JSONFields(item, "QE identity level")
            levels.append((
                try level.object("tcb").int("isvsvn"),
                try TCBStatus(collateral: try level.string("tcbStatus"), in: "QE identity"),
                try level.strings("advisoryIDs")))
        }
        guard !levels.isEmpty else { throw AttestationError(.malformed, "QE identity has no TCB levels") }
        self.levels = levels
    }

    /// Checks that `report` is this QE's and returns the status of its security version.
    ///
    /// - Throws: `.bindingMismatch` when the report is not from the enclave Intel names (signer, product,
    ///   MISCSELECT or attributes differ), `.untrustedChain` when its security version is below every level.
    func evaluate(_ report: Quote.EnclaveReport, tee: Quote.TEE) throws(AttestationError) -> (status: TCBStatus, advisoryIDs: [String]) {
        let expectedID = tee == .tdx ? "TD_QE" : "QE"
        guard id == expectedID else {
            throw AttestationError(.bindingMismatch, "the QE identity is for \(id), but a \(tee.rawValue) quote needs \(expectedID)")
        }
        guard Array(report.mrSigner) == mrSigner else {
            throw AttestationError(.bindingMismatch, "the quoting enclave's MRSIGNER is not the one Intel's QE identity names")
        }
        guard Int(report.isvProdID) == isvProdID else {
            throw AttestationError(.bindingMismatch, "the quoting enclave's product ID \(report.isvProdID) is not \(isvProdID)")
        }
        guard report.miscSelect & miscSelectMask == miscSelect else {
            throw AttestationError(.bindingMismatch, "the quoting enclave's MISCSELECT does not match Intel's QE identity")
        }
        let masked = zip(Array(report.attributes), attributesMask).map { $0 & $1 }
        guard masked == attributes else {
            throw AttestationError(.bindingMismatch, "the quoting enclave's attributes do not match Intel's QE identity")
        }
        guard let level = levels.first(where: { Int(report.isvSVN) >= $0.isvSVN }) else {
            throw AttestationError(
                .untrustedChain, "the quoting enclave's security version \(report.isvSVN) is below every level of Intel's QE identity (not supported)")
        }
        // A QE identity rates the QE only UpToDate, OutOfDate or Revoked.
        guard [.upToDate, .outOfDate, .revoked].contains(level.status) else {
            throw AttestationError(.malformed, "QE identity: status \(level.status.rawValue) is not one a QE level may have")
        }
        return (level.status, level.advisoryIDs)
    }

    private static func number(_ bytes: [UInt8]) -> UInt32 {
        bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }
}

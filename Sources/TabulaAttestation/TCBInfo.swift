import Foundation
import TabulaWire

/// Intel's TCB info for one FMSPC (PCS API v4 `tcbInfo`, versions 2 and 3): the TCB levels of the
/// platform model, newest first, each with the status Intel gives it.
///
/// Version 2 (SGX only) names the 16 SGX components `sgxtcbcomp01svn`…`sgxtcbcomp16svn`; version 3
/// lists them as `sgxtcbcomponents`, adds `id` (`SGX` or `TDX`) and, for TDX, `tdxtcbcomponents`, the
/// TDX module's identity (`tdxModule`) and per-version module identities (`tdxModuleIdentities`).
/// Parsed only after its signature verified.
struct TCBInfo: Sendable {
    struct Level: Sendable {
        var sgxComponents: [Int]
        var pceSVN: Int
        var tdxComponents: [Int]?
        var status: TCBStatus
        var date: String?
        var advisoryIDs: [String]
    }

    /// The identity of a TDX module: its signer and attributes, and for one module version its levels.
    struct ModuleIdentity: Sendable {
        var id: String
        var mrSigner: [UInt8]
        var attributes: [UInt8]
        var attributesMask: [UInt8]
        var levels: [(isvSVN: Int, status: TCBStatus, advisoryIDs: [String])]
    }

    var id: String
    var version: Int
    var issueDate: Date
    var nextUpdate: Date
    var fmspc: [UInt8]
    var pceID: [UInt8]
    var levels: [Level]
    var tdxModule: ModuleIdentity?
    var tdxModuleIdentities: [ModuleIdentity]

    init(json: JSONValue) throws(AttestationError) {
        let fields = try JSONFields(json, "TCB info")
        version = try fields.int("version")
        guard version == 2 || version == 3 else {
            throw AttestationError(.unsupported, "TCB info version \(version) is not supported (only 2 and 3)")
        }
        id = fields.has("id") ? try fields.string("id") : "SGX"
        guard id == "SGX" || id == "TDX" else {
            throw AttestationError(.unsupported, "TCB info id \"\(id)\" is not supported (only SGX and TDX)")
        }
        issueDate = try fields.date("issueDate")
        nextUpdate = try fields.date("nextUpdate")
        fmspc = try fields.hex("fmspc", count: 6)
        pceID = try fields.hex("pceId", count: 2)
        let isTDX = id == "TDX"
        var levels: [Level] = []
        for item in try fields.array("tcbLevels") {
            let level = try JSONFields(item, "TCB info level")
            let tcb = try level.object("tcb")
            let sgx: [Int]
            var tdx: [Int]?
            if version == 2 {
                sgx = try (1...16).map { index throws(AttestationError) in
                    try tcb.int("sgxtcbcomp" + (index < 10 ? "0" : "") + "\(index)svn")
                }
            } else {
                sgx = try Self.components(tcb, "sgxtcbcomponents")
                if isTDX { tdx = try Self.components(tcb, "tdxtcbcomponents") }
            }
            levels.append(Level(
                sgxComponents: sgx, pceSVN: try tcb.int("pcesvn"), tdxComponents: tdx,
                status: try TCBStatus(collateral: try level.string("tcbStatus"), in: "TCB info"),
                date: level.has("tcbDate") ? try level.string("tcbDate") : nil,
                advisoryIDs: try level.strings("advisoryIDs")))
        }
        guard !levels.isEmpty else { throw AttestationError(.malformed, "TCB info has no TCB levels") }
        self.levels = levels
        tdxModule = fields.has("tdxModule") ? try Self.moduleIdentity(try fields.object("tdxModule"), id: "tdxModule", hasLevels: false) : nil
        var identities: [ModuleIdentity] = []
        if fields.has("tdxModuleIdentities") {
            for item in try fields.array("tdxModuleIdentities") {
                let identity = try JSONFields(item, "TCB info TDX module identity")
                identities.append(try Self.moduleIdentity(identity, id: try identity.string("id"), hasLevels: true))
            }
        }
        tdxModuleIdentities = identities
    }

    /// The 16 SVNs of a v3 component list.
    private static func components(_ tcb: JSONFields, _ key: String) throws(AttestationError) -> [Int] {
        let items = try tcb.array(key)
        guard items.count == 16 else {
            throw AttestationError(.malformed, "TCB info: \(key) has \(items.count) entries, expected 16")
        }
        return try items.map { item throws(AttestationError) in try JSONFields(item, "TCB info \(key)").int("svn") }
    }

    private static func moduleIdentity(_ fields: JSONFields, id: String, hasLevels: Bool) throws(AttestationError) -> ModuleIdentity {
        var levels: [(isvSVN: Int, status: TCBStatus, advisoryIDs: [String])] = []
        if hasLevels {
            for item in try fields.array("tcbLevels") {
                let level = try JSONFields(item, "TDX module \(id) level")
                levels.append((
                    try level.object("tcb").int("isvsvn"),
                    try TCBStatus(collateral: try level.string("tcbStatus"), in: "TDX module \(id)"),
                    try level.strings("advisoryIDs")))
            }
        }
        return ModuleIdentity(
            id: id, mrSigner: try fields.hex("mrsigner", count: 48), attributes: try fields.hex("attributes", count: 8),
            attributesMask: try fields.hex("attributesMask", count: 8), levels: levels)
    }
}

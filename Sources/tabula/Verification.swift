import ArgumentParser
import Crypto
import Foundation
import TabulaAttestation
import TabulaClient
import TabulaWire

/// The reference values a confidential command checks the server against.
struct Verification: ParsableArguments {
    @Flag(help: "Accept simulated attestation (a server without TEE hardware): for development only, it proves nothing.")
    var allowSimulated = false

    @Option(help: ArgumentHelp("An appraisal policy (JSON: tees, measurements, allowDebug, allowSimulated, isolations); see docs/attestation.md.", valueName: "file"))
    var policy: String?

    @Flag(help: "Accept only a server whose attestation states that tenant code runs in confined worker processes (tabula serve --isolation workers).")
    var requireWorkers = false

    @Option(help: ArgumentHelp("A cluster's key broker (tabula broker): verify its attestation instead of the server's; every node of the cluster serves the key configurations it signs.", valueName: "url"))
    var broker: String?

    @Option(help: ArgumentHelp("For an enclave on AMD SEV-SNP: its VCEK or VLEK (DER or PEM), or the host's certificate table.", valueName: "file"))
    var cert: String?

    @Option(help: ArgumentHelp("The module you expect the action to run: its SHA-256 must match the function certificate.", valueName: "file"))
    var module: String?

    @Option(help: ArgumentHelp("The SHA-256 (hex) of the module you expect the action to run.", valueName: "hex"))
    var digest: String?

    /// The appraisal policy: the file's, or the default (no debug TEEs, no simulated evidence),
    /// with `--allow-simulated` and `--require-workers` applied.
    func appraisalPolicy() throws -> AppraisalPolicy {
        var appraisal = try policy.map(Self.loadPolicy) ?? AppraisalPolicy()
        if allowSimulated { appraisal.allowSimulated = true }
        if requireWorkers { appraisal.requireWorkers() }
        return appraisal
    }

    /// The appraisal policy in the JSON file at `path`.
    static func loadPolicy(_ path: String) throws -> AppraisalPolicy {
        do {
            return try JSONDecoder().decode(AppraisalPolicy.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw ValidationError("cannot read the policy \(path): \(error.localizedDescription)")
        }
    }

    /// The enclave to seal to: the key broker's (`--broker`), or the server's.
    func attest(_ client: Client) async throws -> AttestedEnclave {
        if let broker {
            guard let url = URL(string: broker), url.scheme == "http" || url.scheme == "https" else {
                throw ValidationError("--broker must be an http or https URL")
            }
            return try await BrokerClient(url: url).attest(policy: try appraisalPolicy())
        }
        return try await client.attest(policy: try appraisalPolicy(), evidenceCertificate: try evidenceCertificate())
    }

    /// The certificate `--cert` names, if any.
    func evidenceCertificate() throws -> [UInt8]? {
        try cert.map { path in
            guard let bytes = FileManager.default.contents(atPath: path) else {
                throw ValidationError("cannot read the certificate \(path)")
            }
            return Array(bytes)
        }
    }

    /// The module digest `--module` or `--digest` names, if any.
    func expectedDigest() throws -> [UInt8]? {
        if let module {
            guard let bytes = FileManager.default.contents(atPath: module) else {
                throw ValidationError("cannot read the module \(module)")
            }
            return Array(SHA256.hash(data: bytes))
        }
        if let digest {
            guard let bytes = [UInt8](hex: digest.hasPrefix("sha-256=") ? String(digest.dropFirst(8)) : digest), bytes.count == 32 else {
                throw ValidationError("--digest must be 64 hex digits (a SHA-256)")
            }
            return bytes
        }
        return nil
    }

    /// How the enclave runs tenant code, as report entries (`isolation`, `confinement`, `engine`,
    /// `engineVersion`); `isolation` is `not stated` when the evidence does not say.
    static func runtime(_ runtime: RuntimeClaims?) -> [String: JSONValue] {
        guard let runtime else { return ["isolation": "not stated"] }
        var report: [String: JSONValue] = [
            "isolation": .string(runtime.isolation), "engine": .string(runtime.engine), "engineVersion": .string(runtime.engineVersion),
        ]
        if let confinement = runtime.confinement { report["confinement"] = .string(confinement) }
        return report
    }

    /// Any encodable value as JSON.
    static func json(_ value: some Encodable) -> JSONValue {
        (try? JSONValue(parsing: JSONValue.encode(value))) ?? .null
    }

    /// One line: what was attested, the function's module, and the receipt.
    static func summary(_ enclave: AttestedEnclave, _ function: AttestedFunction, receipt: Receipt?) -> String {
        var line = "attestation: \(enclave.summary); function /\(function.claims.namespace)/\(function.claims.name) module sha-256=\(function.claims.moduleDigest.prefix(16))…"
        if let receipt {
            line += "; receipt verified (sandbox \(receipt.sandbox), invocation \(receipt.sequence))"
        }
        return line
    }
}

/// Tickets of confidential invocations that answered later: kept owner-only in the data
/// directory, so that `tabula activation result ID` can open the sealed result.
enum Tickets {
    static func directory() throws -> URL {
        let url = try DataDirectory.prepare(DataDirectory.default).appendingPathComponent("confidential")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return url
    }

    static func save(_ ticket: ConfidentialTicket) throws {
        // The id came from the server: only the form of an activation id may become a file name.
        guard ActivationID.isValid(ticket.activationId) else {
            throw ValidationError("the server named the activation \(ticket.activationId.prefix(80).debugDescription), which is not 32 lowercase hex digits; nothing was saved")
        }
        let file = try directory().appendingPathComponent("\(ticket.activationId).json")
        guard FileManager.default.createFile(atPath: file.path, contents: JSONValue.encode(ticket), attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write \(file.path): the sealed result could not be opened later")
        }
    }

    static func load(_ activationID: String) -> ConfidentialTicket? {
        guard ActivationID.isValid(activationID), let directory = try? directory(),
              let data = FileManager.default.contents(atPath: directory.appendingPathComponent("\(activationID).json").path)
        else { return nil }
        return try? JSONDecoder().decode(ConfidentialTicket.self, from: data)
    }
}

/// The receipts of confidential answers this CLI opened, kept owner-only in the data directory
/// (`receipts/ID.json`) so that `tabula log verify --receipt ID` can prove them from the log later.
enum Receipts {
    struct Kept: Codable {
        var receipt: String
        var signature: String?
    }

    static func file(_ activationID: String) throws -> URL {
        guard ActivationID.isValid(activationID) else {
            throw ValidationError("\(activationID.prefix(80).debugDescription) is not an activation id (32 lowercase hex digits)")
        }
        let directory = try DataDirectory.prepare(DataDirectory.default).appendingPathComponent("receipts")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return directory.appendingPathComponent("\(activationID).json")
    }

    static func save(_ reply: ConfidentialReply) throws {
        guard let bytes = reply.receiptBytes else { return }
        let kept = Kept(receipt: Data(bytes).base64EncodedString(), signature: reply.receiptSignature.map { Data($0).base64EncodedString() })
        let file = try file(reply.activationID)
        guard FileManager.default.createFile(atPath: file.path, contents: JSONValue.encode(kept), attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write \(file.path)")
        }
    }

    /// The receipt's exact bytes, as the enclave sent them.
    static func load(_ activationID: String) throws -> [UInt8] {
        let file = try file(activationID)
        guard let data = FileManager.default.contents(atPath: file.path), let kept = try? JSONDecoder().decode(Kept.self, from: data),
              let bytes = Data(base64Encoded: kept.receipt)
        else {
            throw ValidationError("this CLI kept no receipt of \(activationID) (\(file.path)); receipts are kept when a confidential answer is opened here")
        }
        return Array(bytes)
    }
}

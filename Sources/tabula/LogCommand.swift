import ArgumentParser
import Foundation
import TabulaClient
import TabulaLog
import TabulaWire

/// `tabula log verify`: what the server's verifiable log proves (docs/log.md).
struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Check the server's verifiable log of certificates, receipts and job records (docs/log.md).",
        subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the log's tree head against the attested enclave, its consistency with the last head this CLI saw, and optionally that an action's function certificate or a confidential invocation's receipt is in it.")

        @Option(name: .customLong("function"), help: ArgumentHelp("An action whose function certificate must be in the log.", valueName: "name"))
        var function: String?

        @Option(name: .customLong("receipt"), help: ArgumentHelp("A confidential invocation answered to this CLI: its receipt must be in the log.", valueName: "activation id"))
        var receipt: String?

        @OptionGroup var verification: Verification
        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let enclave = try await verification.attest(client)
                // The certificate first: issued for the first time, it is logged before the head is taken.
                let attested = try await function.asyncMap { try await client.verifyFunction(name: $0, enclave: enclave, expectedDigest: try verification.expectedDigest()) }
                let head = try await client.treeHead(verifiedBy: enclave)
                let fingerprint = Confidential.enclaveFingerprint(Array(enclave.identityKey.derRepresentation))
                var report: [String: JSONValue] = [
                    "treeSize": .integer(Int64(head.size)), "timestamp": .integer(Int64(head.timestamp)),
                    "root": .string(head.root.hex), "signedBy": .string(fingerprint), "tee": .string(enclave.tee),
                ]
                var lines = ["ok: the log has \(head.size) entries, root \(head.root.hex.prefix(16))…, signed by the attested enclave \(fingerprint.prefix(16))…"]
                if let last = try await LogHeads.extend(head, client: client) {
                    report["consistentWith"] = .integer(Int64(last.size))
                    lines.append("ok: it extends the log of \(last.size) entries this CLI saw before (consistency proven)")
                } else {
                    lines.append("first head seen from this enclave: kept, later runs prove the log only grows")
                }
                if let function, let attested {
                    let input = LogEntry.leafInput(.functionCertificate, Array(attested.certificate.utf8))
                    let index = try await client.verifyInclusion(of: input, in: head)
                    report["function"] = .object(["name": .string(function), "leafIndex": .integer(Int64(index)), "moduleDigest": .string(attested.claims.moduleDigest)])
                    lines.append("ok: the function certificate of \(function) (module sha-256=\(attested.claims.moduleDigest.prefix(16))…) is entry \(index) (inclusion proven)")
                }
                if let receipt {
                    let bytes = try Receipts.load(receipt)
                    let kept = try JSONValue.decode(Receipt.self, from: bytes)
                    let index = try await client.verifyInclusion(of: LogEntry.leafInput(.receipt, Receipt.commitment(bytes)), in: head)
                    report["receipt"] = .object([
                        "activationId": .string(receipt), "leafIndex": .integer(Int64(index)), "moduleDigest": .string(kept.moduleDigest),
                        "function": .string("/\(kept.namespace)/\(kept.name)"),
                    ])
                    lines.append("ok: the receipt of \(receipt) (/\(kept.namespace)/\(kept.name), module sha-256=\(kept.moduleDigest.prefix(16))…) is entry \(index) (inclusion proven)")
                }
                if enclave.tee == "simulated" { lines.append("attestation: SIMULATED (no TEE hardware, proves nothing)") }
                if connection.json {
                    connection.emit(json: JSONValue.object(report))
                } else {
                    lines.forEach { standardOutput($0) }
                }
            }
        }
    }
}

/// The last tree head this CLI verified, per server and enclave, in `log-heads.json` of the
/// configuration directory (owner-only).
enum LogHeads {
    static func file() throws -> URL {
        try DataDirectory.prepare(DataDirectory.default).appendingPathComponent("log-heads.json")
    }

    static func all() throws -> [String: SignedTreeHead] {
        guard let data = FileManager.default.contents(atPath: try file().path) else { return [:] }
        do {
            return try JSONDecoder().decode([String: SignedTreeHead].self, from: data)
        } catch {
            throw ValidationError("cannot read the kept tree heads in \(try file().path) (\(error.localizedDescription)); remove the file to start again")
        }
    }

    static func load(_ key: String) throws -> SignedTreeHead? { try all()[key] }

    /// Proves that `head` extends the last head this CLI kept for this server's log, then keeps
    /// `head`; the head it extends, or `nil` when none was kept.
    ///
    /// Kept by the server's address, not by the enclave that signed: a restarted server signs
    /// with a new key, and its log must still extend the one seen before (each kept head's
    /// signature was checked against the attested enclave of its time).
    static func extend(_ head: SignedTreeHead, client: Client) async throws -> SignedTreeHead? {
        let key = client.apiHost.absoluteString
        let last = try load(key)
        if let last { try await client.verifyConsistency(from: last, to: head) }
        try save(head, key: key)
        return last
    }

    static func save(_ head: SignedTreeHead, key: String) throws {
        var heads = try all()
        heads[key] = head
        let path = try file().path
        let data = try JSONEncoder().encode(heads)
        guard FileManager.default.createFile(atPath: path + ".new", contents: data, attributes: [.posixPermissions: 0o600]),
              rename(path + ".new", path) == 0
        else {
            throw ValidationError("cannot write \(path)")
        }
    }
}

extension Optional {
    /// `map` with an asynchronous transform.
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}

import Crypto
import Foundation
import TabulaAttestation
import TabulaLog
import TabulaWire
import Testing

/// The verifiable log over HTTP: tree heads signed by the enclave's identity key, the entries
/// (identity and function certificates), and RFC 9162 proofs that verify against the heads.
@Suite("Verifiable log API")
struct LogAPITests {
    static func array(_ value: JSONValue?) -> [JSONValue] {
        if case .array(let items) = value { return items }
        return []
    }

    static func bytes(_ value: JSONValue?) -> [UInt8] {
        Array(Data(base64Encoded: value?.stringValue ?? "") ?? Data())
    }

    static func head(_ client: Harness.Client) async throws -> SignedTreeHead {
        let reply = try await client.send(.get, "/api/v1/log/sth")
        #expect(reply.status == .ok, "\(reply.body)")
        let json = reply.json.objectValue ?? [:]
        guard case .integer(let size) = json["tree_size"], case .integer(let time) = json["timestamp"] else {
            Issue.record("the tree head lacks its size or time: \(reply.body)")
            return SignedTreeHead(size: 0, timestamp: 0, root: [], signature: [])
        }
        return SignedTreeHead(size: UInt64(size), timestamp: UInt64(time), root: bytes(json["sha256_root_hash"]), signature: bytes(json["tree_head_signature"]))
    }

    @Test func treeHeadsAreSignedAndEveryEntryIsProvable() async throws {
        let harness = try await Harness()
        try await harness.run { client in
            // The identity key the attestation bundle binds signs the tree heads.
            let bundle = try JSONDecoder().decode(AttestationBundle.self, from: Data(try await client.send(.get, "/api/v1/attestation", as: .anonymous).body.utf8))
            let identity = try await IdentityCertificate.verify(Array(bundle.certificate.utf8), nonce: nil, at: Date())
            let first = try await Self.head(client)
            try first.verify(identity.publicKey)
            #expect(first.size == 2, "the enclave's identity certificate and its key epoch are the first entries")
            // The key epoch's entry is the key configurations the identity key signed.
            let epochEntry = try #require(LogEntry.parse(Self.bytes(Self.array(try await client.send(.get, "/api/v1/log/entries?start=1&end=1").json.objectValue?["entries"]).first?.objectValue?["leaf_input"])))
            #expect(epochEntry.kind == .keyConfigurations)
            let statement = try JSONValue(parsing: Array(epochEntry.data))
            #expect(statement["keyConfigs"]?.stringValue == bundle.keyConfigs && statement["epoch"] == .integer(Int64(bundle.epoch)))
            let signed = AttestationBundle.signedMessage(epoch: bundle.epoch, expires: statement["expires"]?.stringValue ?? "", keyConfigs: Array(Data(base64Encoded: bundle.keyConfigs) ?? Data()))
            #expect(identity.publicKey.isValidSignature(try P256.Signing.ECDSASignature(derRepresentation: Data(base64Encoded: statement["keyConfigsSignature"]?.stringValue ?? "") ?? Data()), for: signed))

            // A function certificate, once issued, is in the log too.
            #expect(try await client.deploy("echo", module: try example("echo.wat")).status == .ok)
            let certificate = try await client.send(.get, "/api/v1/attestation/namespaces/_/actions/echo")
            #expect(certificate.status == .ok)
            let second = try await Self.head(client)
            try second.verify(identity.publicKey)
            #expect(second.size == 3)

            // Entries, and each one's inclusion in the second head.
            let entries = Self.array(try await client.send(.get, "/api/v1/log/entries?start=0&end=2").json.objectValue?["entries"])
            #expect(entries.count == 3)
            let inputs = entries.map { Self.bytes($0.objectValue?["leaf_input"]) }
            #expect(inputs.first.map { TransparencyLogKinds.kind($0) } == "identity-certificate")
            #expect(inputs.last.map { TransparencyLogKinds.kind($0) } == "function-certificate")
            #expect(inputs.last.map { String(decoding: $0, as: UTF8.self).contains(certificate.body) } == true)
            for (index, input) in inputs.enumerated() {
                let hash = MerkleTree.leafHash(input)
                let reply = try await client.send(.get, "/api/v1/log/proof?hash=\(hash.base64URLSafe)&tree_size=\(second.size)")
                #expect(reply.status == .ok, "\(reply.body)")
                let path = Self.array(reply.json.objectValue?["audit_path"]).map { Self.bytes($0) }
                #expect(reply.json.objectValue?["leaf_index"] == .integer(Int64(index)))
                try MerkleTree.verifyInclusion(leafHash: hash, index: index, treeSize: Int(second.size), proof: path, root: second.root)
            }
            // The second head extends the first.
            let consistency = try await client.send(.get, "/api/v1/log/consistency?first=\(first.size)&second=\(second.size)")
            let proof = Self.array(consistency.json.objectValue?["consistency"]).map { Self.bytes($0) }
            try MerkleTree.verifyConsistency(oldSize: Int(first.size), newSize: Int(second.size), oldRoot: first.root, newRoot: second.root, proof: proof)

            // Bad requests get clear errors; the log needs credentials.
            #expect(try await client.send(.get, "/api/v1/log/sth", as: .anonymous).status == .unauthorized)
            #expect(try await client.send(.get, "/api/v1/log/consistency?first=2&second=1").status == .badRequest)
            #expect(try await client.send(.get, "/api/v1/log/consistency?first=1&second=99").status == .badRequest)
            #expect(try await client.send(.get, "/api/v1/log/proof?hash=nope&tree_size=1").status == .badRequest)
            #expect(try await client.send(.get, "/api/v1/log/proof?hash=\(MerkleTree.leafHash([9]).base64URLSafe)&tree_size=2").status == .notFound)
            #expect(try await client.send(.get, "/api/v1/log/entries?start=5&end=1").status == .badRequest)
            // Hostile ranges: answered (nothing there), the server keeps serving.
            for range in ["start=18446744073709551614&end=18446744073709551615", "start=9223372036854775808&end=9223372036854775808", "start=0&end=18446744073709551615"] {
                let reply = try await client.send(.get, "/api/v1/log/entries?\(range)")
                #expect(reply.status == .ok, "\(range): \(reply.body)")
            }
            #expect(try await client.send(.get, "/api/v1/log/entries?start=-1&end=1").status == .badRequest)
            #expect(try await Self.head(client).size == 3)
        }
    }

    /// Heads and certificates asked for at once: one tree, each entry once, each provable.
    @Test func concurrentRequestsSignOneTree() async throws {
        let harness = try await Harness()
        try await harness.run { client in
            #expect(try await client.deploy("echo", module: try example("echo.wat")).status == .ok)
            var certificates: Set<String> = []
            try await withThrowingTaskGroup(of: String?.self) { group in
                for index in 0..<16 {
                    group.addTask {
                        if index % 2 == 0 {
                            _ = try await client.send(.get, "/api/v1/log/sth")
                            return nil
                        }
                        return try await client.send(.get, "/api/v1/attestation/namespaces/_/actions/echo").body
                    }
                }
                for try await certificate in group {
                    if let certificate { certificates.insert(certificate) }
                }
            }
            #expect(certificates.count == 1, "one certificate is handed out for one version")
            let head = try await Self.head(client)
            #expect(head.size == 3, "the identity certificate, the key epoch and the function certificate, once each")
            let entries = Self.array(try await client.send(.get, "/api/v1/log/entries?start=0&end=99").json.objectValue?["entries"])
            #expect(entries.count == 3)
            for (index, entry) in entries.enumerated() {
                let hash = MerkleTree.leafHash(Self.bytes(entry.objectValue?["leaf_input"]))
                let reply = try await client.send(.get, "/api/v1/log/proof?hash=\(hash.base64URLSafe)&tree_size=\(head.size)")
                let path = Self.array(reply.json.objectValue?["audit_path"]).map { Self.bytes($0) }
                try MerkleTree.verifyInclusion(leafHash: hash, index: index, treeSize: Int(head.size), proof: path, root: head.root)
            }
        }
    }

    /// The store cannot add an entry: one without this log's tag stops the log, so no tree head
    /// ever covers it, and no proof or entry is served past it.
    @Test func anEntryTheStoreAddsIsNeverSigned() async throws {
        let harness = try await Harness()
        try await harness.run { client in
            let before = try await Self.head(client)
            let forged = LogEntry.leafInput(.job, Array(#"{"outcome":"ran"}"#.utf8))
            _ = try await harness.store.backend.appendLogEntries([(forged, [UInt8](repeating: 0, count: 32))])
            let reply = try await client.send(.get, "/api/v1/log/sth")
            #expect(reply.status == .internalServerError && reply.body.contains("no node of this log appended"), "\(reply.body)")
            let proof = try await client.send(.get, "/api/v1/log/proof?hash=\(MerkleTree.leafHash(forged).base64URLSafe)&tree_size=\(before.size + 1)")
            #expect(proof.status != .ok)
            // The server keeps serving what it does not sign; a confidential answer, whose receipt
            // the stopped log cannot take, is withheld with 503 and says why.
            #expect(try await client.send(.get, "/api/v1/namespaces/_/actions").status == .ok)
            #expect(try await client.deploy("echo", module: try example("echo.wat")).status == .ok)
            let sealing = try await SealingClient(client)
            let call = try sealing.seal(#"{"n":1}"#, path: "/api/v1/namespaces/guest/actions/echo")
            let withheld = try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true", bytes: call.sealed, contentType: "message/ohttp-req")
            let message = String(decoding: withheld.body, as: UTF8.self)
            #expect(withheld.status == .serviceUnavailable && message.contains("answer is withheld"), "\(message)")
        }
    }

    /// Confidential invocations at once: each answer's receipt is in the log when the answer
    /// arrives, committed in groups, and the log holds only salted commitments.
    @Test func everyConfidentialReceiptIsInTheLogBeforeItsAnswer() async throws {
        let harness = try await Harness()
        try await harness.run { client in
            #expect(try await client.deploy("echo", module: try example("echo.wat")).status == .ok)
            let sealing = try await SealingClient(client)
            let identity = sealing.identityKey
            let receipts = try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for index in 0..<12 {
                    group.addTask {
                        let call = try sealing.seal(#"{"marker":"plaintext-\#(index)-\#(String(repeating: "q", count: 20))"}"#, path: "/api/v1/namespaces/guest/actions/echo")
                        let reply = try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true", bytes: call.sealed, contentType: "message/ohttp-req")
                        #expect(reply.status == .ok)
                        let inner = try call.open(reply.body)
                        let receipt = try #require(inner.headerFields.first { $0.name == Confidential.receiptField }.flatMap { Data(base64Encoded: $0.value) })
                        // Proven at once: the answer left after its receipt was appended.
                        let head = try await Self.head(client)
                        try head.verify(identity)
                        let hash = MerkleTree.leafHash(LogEntry.leafInput(.receipt, Array(SHA256.hash(data: receipt))))
                        let proof = try await client.send(.get, "/api/v1/log/proof?hash=\(hash.base64URLSafe)&tree_size=\(head.size)")
                        #expect(proof.status == .ok, "\(proof.body)")
                        guard case .integer(let leaf) = proof.json.objectValue?["leaf_index"] else { throw LogError(.malformed, "no leaf index") }
                        let path = Self.array(proof.json.objectValue?["audit_path"]).map { Self.bytes($0) }
                        try MerkleTree.verifyInclusion(leafHash: hash, index: Int(leaf), treeSize: Int(head.size), proof: path, root: head.root)
                        return Array(receipt)
                    }
                }
                return try await group.reduce(into: [[UInt8]]()) { $0.append($1) }
            }
            #expect(Set(receipts).count == 12)
            let head = try await Self.head(client)
            #expect(head.size == 14, "the identity certificate, the key epoch and twelve receipts")
            let entries = Self.array(try await client.send(.get, "/api/v1/log/entries?start=0&end=99").json.objectValue?["entries"]).map { Self.bytes($0.objectValue?["leaf_input"]) }
            let receiptEntries = entries.compactMap(LogEntry.parse).filter { $0.kind == .receipt }
            #expect(receiptEntries.count == 12)
            #expect(receiptEntries.allSatisfy { $0.data.count == 32 }, "a receipt entry is a 32-byte commitment")
            #expect(!entries.contains { String(decoding: $0, as: UTF8.self).contains("plaintext-") })
        }
    }
}

/// Reads the kind of a leaf input (`kind ‖ 0x00 ‖ data`).
enum TransparencyLogKinds {
    static func kind(_ input: [UInt8]) -> String {
        String(decoding: input.prefix { $0 != 0 }, as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    /// Base64 with `+`, `/` and `=` escaped for a query string.
    var base64URLSafe: String {
        Data(self).base64EncodedString().addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
    }
}

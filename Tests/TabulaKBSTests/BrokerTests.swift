import Crypto
import Foundation
import Logging
import Synchronization
import TabulaAttestation
import TabulaTestSupport
import TabulaWire
import Testing
@testable import TabulaKBS

/// The broker's decisions, called directly: the protocol flow and each refusal, manifest updates,
/// and its sealed state with recovery. (The HTTP shapes and real processes are tested in
/// TabulaCLITests' BrokerTests.)
@Suite("Key broker")
struct BrokerTests {
    /// A store for the sealed state that keeps it in memory, with compare-and-swap like the real ones.
    final class MemoryStorage: BrokerStorage {
        let blob = Mutex<(bytes: [UInt8], version: Int64)?>(nil)

        func loadBrokerState() async throws -> (bytes: [UInt8], version: Int64)? { blob.withLock { $0 } }

        /// Namespaces and their owners (credentials' UUIDs).
        let owners = Mutex<[String: String]>(["acme": "owner-acme"])

        func namespaceOwner(_ namespace: String) async throws -> String? { owners.withLock { $0[namespace] } }

        func saveBrokerState(_ bytes: [UInt8], replacing version: Int64?) async throws -> Int64? {
            blob.withLock { blob in
                guard blob?.version == version else { return nil }
                let next = (version ?? 0) + 1
                blob = (bytes, next)
                return next
            }
        }
    }

    static let logger = Logger(label: "test.broker")

    /// A manifest whose one class of nodes accepts simulated evidence from TCB level 2, and
    /// whose brokers class may get the state key.
    static func manifest(_ change: (inout Manifest) -> Void = { _ in }) throws -> [UInt8] {
        var policy = AppraisalPolicy(tees: ["simulated"], allowSimulated: true, minimumSimulatedTCB: 2)
        policy.measurements = [Array(SHA384.hash(data: Array("tabula simulated TEE v1".utf8))).hex]
        // Broker instances are told apart from nodes by their reference values (here a higher TCB level).
        var brokers = policy
        brokers.minimumSimulatedTCB = 3
        var manifest = Manifest(classes: [
            .init(name: "nodes", policy: policy, resources: [Manifest.gatewayKeys, "tabula/secrets/*"]),
            .init(name: "brokers", policy: brokers, resources: [Manifest.stateKey]),
        ])
        change(&manifest)
        return Array(try JSONEncoder().encode(manifest))
    }

    static func tee(tcb: UInt16 = 2, debug: Bool = false) -> SimulatedTEE {
        var tee = SimulatedTEE.ephemeral()
        tee.tcb = tcb
        tee.debug = debug
        return tee
    }

    /// One attestation as a node makes it: a fresh key, evidence over the runtime data.
    static func attestation(_ challenge: KBSMessages.Challenge, tee: SimulatedTEE, key: P256.KeyAgreement.PrivateKey, evidenceKey: P256.KeyAgreement.PrivateKey? = nil) async throws -> KBSMessages.Attestation {
        let runtime = KBSMessages.RuntimeData(nonce: challenge.nonce, teePubkey: JWK(key.publicKey))
        let bound = KBSMessages.RuntimeData(nonce: challenge.nonce, teePubkey: JWK((evidenceKey ?? key).publicKey))
        let evidence = try await tee.evidence(reportData: bound.reportData)
        return KBSMessages.Attestation(runtimeData: runtime, teeEvidence: .init(.init(quote: Data(evidence).base64EncodedString())))
    }

    @Test func reportDataIsSHA384OfTrusteesCanonicalRuntimeData() {
        // The worked example of Trustee's rule: RFC 8785 JSON of the three keys, SHA-384, then zeros to 64 bytes.
        let runtime = KBSMessages.RuntimeData(nonce: "bm9uY2U=", teePubkey: JWK(kty: "EC", crv: "P-256", x: "AAAA", y: "BBBB", alg: "ECDH-ES+A256KW"))
        #expect(String(decoding: runtime.canonicalBytes, as: UTF8.self)
            == #"{"additional-evidence":"","nonce":"bm9uY2U=","tee-pubkey":{"alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC","x":"AAAA","y":"BBBB"}}"#)
        #expect(runtime.reportData.count == 64)
        #expect(Array(runtime.reportData.prefix(48)).hex == "d20490d30e5f16cba693abc1ca3c31ed977d2722d0adf01a980972d16913dc38f103c1f12abf477df0523af2b12e4b43")
        #expect(runtime.reportData.suffix(16).allSatisfy { $0 == 0 })
    }

    @Test func anAttestedNodeGetsTheClusterKeysWrappedToItsKey() async throws {
        let broker = try await Broker.start(provider: Self.tee(), storage: MemoryStorage(), manifest: try Self.manifest(), logger: Self.logger)
        let (session, _, challenge) = try await broker.auth(.init(tee: "sample"))
        #expect(Data(base64Encoded: challenge.nonce)?.count == 32)
        let key = P256.KeyAgreement.PrivateKey()
        let token = try await broker.attest(session: session, try await Self.attestation(challenge, tee: Self.tee(), key: key))
        #expect(token.split(separator: ".").count == 3)
        let jwe = try await broker.resource(Manifest.gatewayKeys, session: session, bearer: nil)
        // Python's jwcrypto opens it with the node's key: the JWE is the standard one.
        let privateJWK = try JWETests.json(JWK(key.publicKey)).dropLast() + #","d":"\#(Base64URL.encode(key.rawRepresentation))"}"#
        let opened = try await JWETests.jwcrypto(["op": "open", "jwk": String(privateJWK), "jwe": try JWETests.json(jwe)])
        let released = try JSONDecoder().decode(ReleasedGatewayKeys.self, from: Data(opened.utf8))
        #expect(try jwe.open(with: .p256(key)) == Array(opened.utf8))
        // The epoch's keys derive from the seed, and the cluster key signed their configurations.
        let clusterKey = try P256.Signing.PrivateKey(rawRepresentation: try #require(Data(base64Encoded: released.identityKey)))
        let epoch = try #require(released.epochs.first)
        let keys = try ObliviousHTTP.GatewayKey.derive(seed: Array(try #require(Data(base64Encoded: epoch.seed))), keyID: epoch.keyID)
        let message = AttestationBundle.signedMessage(epoch: epoch.number, expires: epoch.expires, keyConfigs: KeyConfiguration.encodeList(keys.map(\.configuration)))
        let signature = try P256.Signing.ECDSASignature(derRepresentation: try #require(Data(base64Encoded: epoch.signature)))
        #expect(clusterKey.publicKey.isValidSignature(signature, for: message))
        // The broker's own bundle offers the same configurations, signed by the same key.
        let bundle = try await broker.bundle(nonce: nil)
        #expect(Data(base64Encoded: bundle.keyConfigs).map(Array.init) == KeyConfiguration.encodeList(keys.map(\.configuration)))
        // The bearer token works without the cookie; one signed by another key does not.
        _ = try await broker.resource(Manifest.gatewayKeys, session: nil, bearer: token)
        let forged = try AttestationToken(tee: "simulated", teeClass: "nodes", teePubkey: JWK(key.publicKey), issuedAt: 0, expires: Int64.max / 2).signed(with: P256.Signing.PrivateKey())
        #expect(await refusal { try await broker.resource(Manifest.gatewayKeys, session: nil, bearer: forged) }?.code == .unauthenticated)
        // Resources the class may not have, or that do not exist.
        #expect(await refusal { try await broker.resource(Manifest.stateKey, session: session, bearer: nil) }?.code == .forbidden)
        #expect(await refusal { try await broker.resource("tabula/gateway/other", session: session, bearer: nil) }?.code == .forbidden)
        #expect(await refusal { try await broker.resource(Manifest.gatewayKeys, session: nil, bearer: nil) }?.code == .unauthenticated)
    }

    /// Runs `body`, which must throw a BrokerError; returns it.
    func refusal(_ body: () async throws -> Any) async -> BrokerError? {
        do {
            _ = try await body()
            Issue.record("expected a refusal")
            return nil
        } catch let error as BrokerError {
            return error
        } catch {
            Issue.record("expected a BrokerError, got \(error)")
            return nil
        }
    }

    @Test func everyRefusalSaysWhichCheckFailed() async throws {
        let broker = try await Broker.start(provider: Self.tee(), storage: MemoryStorage(), manifest: try Self.manifest(), logger: Self.logger)
        func attempt(_ tee: SimulatedTEE, bindOtherKey: Bool = false) async throws -> BrokerError? {
            let (session, _, challenge) = try await broker.auth(.init(tee: "sample"))
            let key = P256.KeyAgreement.PrivateKey()
            let body = try await Self.attestation(challenge, tee: tee, key: key, evidenceKey: bindOtherKey ? P256.KeyAgreement.PrivateKey() : nil)
            return await refusal { try await broker.attest(session: session, body) }
        }
        #expect(try await attempt(Self.tee(tcb: 1))?.message.contains("the simulated TCB level 1 is below the minimum 2") == true)
        #expect(try await attempt(Self.tee(debug: true))?.message.contains("debug mode") == true)
        #expect(try await attempt(Self.tee(), bindOtherKey: true)?.message.contains("report data does not bind") == true)

        // A replayed attestation: the old nonce in a new session, or the same session again.
        let (session, _, challenge) = try await broker.auth(.init(tee: "sample"))
        let body = try await Self.attestation(challenge, tee: Self.tee(), key: P256.KeyAgreement.PrivateKey())
        let (second, _, _) = try await broker.auth(.init(tee: "sample"))
        let replayed = await refusal { try await broker.attest(session: second, body) }
        #expect(replayed?.code == .attestationRefused && replayed?.message.contains("nonce") == true)
        // The failed attempt ended the session whose challenge it was not; the right one still works once.
        _ = try await broker.attest(session: session, body)
        #expect(await refusal { try await broker.attest(session: second, body) }?.code == .unauthenticated)
        #expect(await refusal { try await broker.attest(session: "nope", body) }?.code == .unauthenticated)

        // Another measurement, and simulated evidence without the manifest allowing it.
        let strict = try await Broker.start(provider: Self.tee(), storage: MemoryStorage(), manifest: try Self.manifest { manifest in
            manifest.classes[0].policy.measurements = [String(repeating: "ab", count: 48)]
            manifest.classes[1].policy.allowSimulated = false
            manifest.classes[1].policy.minimumSimulatedTCB = nil
        }, logger: Self.logger)
        let (s1, _, c1) = try await strict.auth(.init(tee: "sample"))
        let refused = await refusal { try await strict.attest(session: s1, try await Self.attestation(c1, tee: Self.tee(), key: P256.KeyAgreement.PrivateKey())) }
        #expect(refused?.message.contains("is not one of the reference measurements") == true, "\(String(describing: refused))")
        #expect(refused?.message.contains("brokers: the evidence is simulated") == true, "\(String(describing: refused))")
        // Protocol errors.
        #expect(await refusal { try await broker.auth(KBSMessages.Request(tee: "nitro")) }?.code == .invalidRequest)
        var old = KBSMessages.Request(tee: "sample")
        old.version = "0.1.0"
        #expect(await refusal { try await broker.auth(old) }?.code == .invalidRequest)
    }

    @Test func manifestUpdatesNeedTheThresholdAndAHigherVersion() async throws {
        let signers = (0..<3).map { _ in P256.Signing.PrivateKey() }
        let first = try Self.manifest { manifest in
            manifest.updaters = signers.enumerated().map { .init(name: "u\($0.offset)", key: $0.element.publicKey.pemRepresentation) }
            manifest.threshold = 2
        }
        let broker = try await Broker.start(provider: Self.tee(), storage: MemoryStorage(), manifest: first, logger: Self.logger)
        let next = try Self.manifest { manifest in
            manifest.version = 2
            manifest.keys.graceSeconds = 60
            manifest.updaters = signers.enumerated().map { .init(name: "u\($0.offset)", key: $0.element.publicKey.pemRepresentation) }
            manifest.threshold = 2
        }
        // Signatures cover the manifest in force and the new one.
        func sign(_ key: P256.Signing.PrivateKey, _ bytes: [UInt8], over current: [UInt8]? = nil) throws -> String {
            try key.signature(for: Manifest.updateMessage(current: current ?? first, next: bytes)).derRepresentation.base64EncodedString()
        }
        // Signed over the new bytes alone (or for another manifest in force): not an update of this one.
        #expect(await refusal { try await broker.updateManifest(next, signatures: [try signers[0].signature(for: next).derRepresentation.base64EncodedString(), try signers[1].signature(for: next).derRepresentation.base64EncodedString()]) }?.code == .forbidden)
        #expect(await refusal { try await broker.updateManifest(next, signatures: [try sign(signers[0], next, over: Array("{}".utf8)), try sign(signers[1], next, over: Array("{}".utf8))]) }?.code == .forbidden)
        // One signer, or one signer twice, is not two.
        #expect(await refusal { try await broker.updateManifest(next, signatures: [try sign(signers[0], next)]) }?.code == .forbidden)
        #expect(await refusal { try await broker.updateManifest(next, signatures: [try sign(signers[0], next), try sign(signers[0], next)]) }?.code == .forbidden)
        // Signatures over other bytes, or by someone else, do not count.
        #expect(await refusal { try await broker.updateManifest(next, signatures: [try sign(signers[0], next), try sign(signers[1], first)]) }?.code == .forbidden)
        #expect(await refusal { try await broker.updateManifest(next, signatures: [try sign(signers[0], next), try sign(P256.Signing.PrivateKey(), next)]) }?.code == .forbidden)
        #expect(await refusal { try await broker.updateManifest(next, signatures: ["not base64!"]) }?.code == .invalidRequest)
        let updated = try await broker.updateManifest(next, signatures: [try sign(signers[0], next), try sign(signers[2], next)])
        #expect(updated.version == 2)
        // The same signed update again, or the old manifest signed anew: not above the current version.
        #expect(await refusal { try await broker.updateManifest(next, signatures: [try sign(signers[0], next), try sign(signers[2], next)]) }?.code == .forbidden)
        #expect(await refusal { try await broker.updateManifest(next, signatures: [try sign(signers[0], next, over: next), try sign(signers[2], next, over: next)]) }?.code == .forbidden)
        #expect(await refusal { try await broker.updateManifest(first, signatures: [try sign(signers[0], first, over: next), try sign(signers[1], first, over: next)]) }?.code == .forbidden)
        // The statement publishes the manifest in force.
        let statement = try await broker.statement()
        let decoded = try JSONDecoder().decode(BrokerStatement.self, from: Data(try Base64URL.decode(statement.statement, field: "statement")))
        #expect(try Manifest.decode(try Base64URL.decode(decoded.manifest, field: "manifest")).keys.graceSeconds == 60)
    }

    @Test func theSealedStateRecoversWithEveryHoldersShare() async throws {
        let alice = P256.KeyAgreement.PrivateKey()
        let bob = P256.KeyAgreement.PrivateKey()
        let manifest = try Self.manifest { manifest in
            manifest.recovery = [.init(name: "alice", key: JWK(alice.publicKey)), .init(name: "bob", key: JWK(bob.publicKey))]
        }
        let storage = MemoryStorage()
        let first = try await Broker.start(provider: Self.tee(), storage: storage, manifest: manifest, logger: Self.logger)
        let intake = try await first.statement()
        let statement = try JSONDecoder().decode(BrokerStatement.self, from: Data(try Base64URL.decode(intake.statement, field: "statement")))
        let upload = try JWE.seal(Array(try JSONEncoder().encode(SecretUpload(owner: "owner-acme", name: "TOKEN", value: Array("s3cr3t-value".utf8)))), to: statement.intakeKey)
        try await first.setSecret(namespace: "acme", owner: "owner-acme", name: "TOKEN", sealed: upload, readers: [.init(action: "f")])
        // The same sealed bytes from another owner, or under another name, are refused.
        #expect(await refusal { try await first.setSecret(namespace: "evil", owner: "owner-evil", name: "TOKEN", sealed: upload, readers: [.init(action: "dump")]) }?.code == .forbidden)
        #expect(await refusal { try await first.setSecret(namespace: "acme", owner: "owner-acme", name: "OTHER", sealed: upload, readers: [.init(action: "dump")]) }?.code == .forbidden)
        let long = SecretPolicy.Reader(action: String(repeating: "a", count: 257))
        #expect(await refusal { try await first.setSecret(namespace: "acme", owner: "owner-acme", name: "TOKEN", sealed: upload, readers: [long]) }?.code == .invalidRequest)
        let binary = try JWE.seal(Array(try JSONEncoder().encode(SecretUpload(owner: "owner-acme", name: "BIN", value: [0x41, 0, 0x42]))), to: statement.intakeKey)
        #expect(await refusal { try await first.setSecret(namespace: "acme", owner: "owner-acme", name: "BIN", sealed: binary, readers: [.init(action: "f")]) }?.code == .invalidRequest)
        let before = try await first.bundle(nonce: nil)
        // The store holds neither the secret nor anything readable.
        let stored = try #require(storage.blob.withLock { $0 }).bytes
        #expect(!String(decoding: stored, as: UTF8.self).contains("s3cr3t"))
        #expect(!String(decoding: stored, as: UTF8.self).contains(Data("s3cr3t-value".utf8).base64EncodedString()))

        // Another TEE (another sealing key) cannot open it: it waits for the holders.
        let second = try await Broker.start(provider: Self.tee(), storage: storage, manifest: nil, logger: Self.logger)
        #expect(await second.phase == .recovering)
        #expect(await refusal { try await second.auth(.init(tee: "sample")) }?.code == .unavailable)
        let status = try await second.recoveryStatus()
        #expect(try await second.recoveryStatus().recoveryKey == status.recoveryKey, "the recovery key stays while the broker recovers")
        #expect(status.recovering && Set(status.waitingFor) == ["alice", "bob"])
        func share(_ holder: String, _ key: P256.KeyAgreement.PrivateKey) throws -> JWE {
            let opened = try #require(status.shares[holder]).open(with: .p256(key))
            return try JWE.seal(opened, to: try #require(status.recoveryKey))
        }
        // A share opened with the wrong key cannot be sent; a wrong share spoils the round.
        #expect(throws: BrokerError.self) { try share("alice", bob) }
        #expect(try await second.submitShare(holder: "alice", sealed: share("alice", alice)) == ["bob"])
        let wrong = try JWE.seal([UInt8](repeating: 1, count: 32), to: try #require(status.recoveryKey))
        #expect(await refusal { try await second.submitShare(holder: "bob", sealed: wrong) }?.code == .forbidden)
        #expect(await refusal { try await second.submitShare(holder: "mallory", sealed: wrong) }?.code == .forbidden)
        #expect(try await second.submitShare(holder: "alice", sealed: share("alice", alice)) == ["bob"])
        #expect(try await second.submitShare(holder: "bob", sealed: share("bob", bob)) == [])
        #expect(await second.phase == .serving)
        // The same cluster key and epoch: clients and nodes see no change; the secret survived.
        let after = try await second.bundle(nonce: nil)
        #expect(after.keyConfigs == before.keyConfigs)
        let beforeKey = try await IdentityCertificate.verify(Array(before.certificate.utf8), nonce: nil, at: Date()).publicKey
        let afterKey = try await IdentityCertificate.verify(Array(after.certificate.utf8), nonce: nil, at: Date()).publicKey
        #expect(beforeKey.derRepresentation == afterKey.derRepresentation)
        #expect(try await second.secretPolicies(namespace: "acme", owner: "owner-acme").map(\.name) == ["TOKEN"])
        // Now sealed to the second TEE too: a restart of it opens the state by itself.
        let restarted = try await Broker.start(provider: Self.tee(), storage: storage, manifest: nil, logger: Self.logger)
        #expect(await restarted.phase == .recovering, "a third, unknown TEE still cannot")
    }

    @Test func aRolledBackStateIsRefusedAndANewOwnerInheritsNoSecret() async throws {
        let storage = MemoryStorage()
        let broker = try await Broker.start(provider: Self.tee(), storage: storage, manifest: try Self.manifest(), logger: Self.logger)
        let statement = try JSONDecoder().decode(BrokerStatement.self, from: Data(try Base64URL.decode(try await broker.statement().statement, field: "statement")))
        func set(_ name: String, _ value: String) async throws {
            let sealed = try JWE.seal(Array(try JSONEncoder().encode(SecretUpload(owner: "owner-acme", name: name, value: Array(value.utf8)))), to: statement.intakeKey)
            try await broker.setSecret(namespace: "acme", owner: "owner-acme", name: name, sealed: sealed, readers: [.init(action: "f")])
        }
        try await set("A", "one")
        let old = try #require(storage.blob.withLock { $0 })
        _ = try await broker.deleteSecret(namespace: "acme", name: "A")
        // The store puts the older state back (at a new version number): refused, the newer kept.
        storage.blob.withLock { $0 = (old.bytes, ($0?.version ?? 0) + 1) }
        #expect(await refusal { try await broker.refresh() }?.code == .stateFailure)
        #expect(try await broker.secretPolicies(namespace: "acme", owner: "owner-acme").isEmpty)
        // The next change is made to the newer state, which replaces the older one in the store.

        // A node of class nodes gets the namespace's secrets only while its owner is the one that set them.
        try await set("B", "two")
        let (session, _, challenge) = try await broker.auth(.init(tee: "sample"))
        let key = P256.KeyAgreement.PrivateKey()
        _ = try await broker.attest(session: session, try await Self.attestation(challenge, tee: Self.tee(), key: key))
        func released() async throws -> [String] {
            let jwe = try await broker.resource(Manifest.secrets(namespace: "acme"), session: session, bearer: nil)
            return try JSONDecoder().decode(ReleasedSecrets.self, from: Data(try jwe.open(with: .p256(key)))).secrets.map(\.name)
        }
        #expect(try await released() == ["B"])
        storage.owners.withLock { $0["acme"] = "someone-else" }
        #expect(try await released() == [])
    }

    @Test func secretReadersMatchActionAndModule() throws {
        let digest = String(repeating: "a", count: 64)
        #expect(try SecretPolicy.Reader(parsing: "f").admits(action: "f", digest: digest))
        #expect(try SecretPolicy.Reader(parsing: "f@\(digest.uppercased())").admits(action: "f", digest: digest))
        #expect(try !SecretPolicy.Reader(parsing: "f@\(digest)").admits(action: "f", digest: String(repeating: "b", count: 64)))
        #expect(try !SecretPolicy.Reader(parsing: "f").admits(action: "g", digest: digest))
        #expect(throws: BrokerError.self) { try SecretPolicy.Reader(parsing: "f@abc") }
        #expect(throws: BrokerError.self) { try SecretPolicy.Reader(parsing: "@\(digest)") }
        for bad in ["", "1A", "A-B", "A B", "db", String(repeating: "A", count: 65), "É"] {
            #expect(throws: BrokerError.self) { try SecretPolicy.checkName(bad) }
        }
        try SecretPolicy.checkName("DB_PASSWORD2")
        #expect(SecretPolicy.environmentName("DB") == "TABULA_SECRET_DB")
    }
}

extension BrokerTests {
    /// The shapes of Trustee's protocol document and guest client, as they send them.
    @Test func trusteesMessagesDecodeAndOursAreItsShape() throws {
        let request = try JSONDecoder().decode(KBSMessages.Request.self, from: Data(#"""
            {"version": "0.4.0", "tee": "tdx", "extra-params": {"supported-hash-algorithms": ["sha256", "sha384", "sha512", "sm3"]}}
            """#.utf8))
        #expect(request.version == "0.4.0" && request.tee == "tdx")
        let attestation = try JSONDecoder().decode(KBSMessages.Attestation.self, from: Data(#"""
            {"init-data": {"format": "toml", "body": "algorithm = \"sha384\""},
             "runtime-data": {"nonce": "q1Zb3Jm5mS2tF0p3b5F7yq2v1wU0b8N8mQh9V2k2G0U=",
                              "tee-pubkey": {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": "AAAA", "y": "BBBB", "use": "enc", "kid": "k"}},
             "tee-evidence": {"primary_evidence": {"cc_eventlog": null, "quote": "AQID"}, "additional_evidence": ""}}
            """#.utf8))
        #expect(attestation.teeEvidence.primaryEvidence.quote == "AQID")
        // Members Trustee drops before hashing (use, kid) are not hashed here either.
        #expect(!String(decoding: attestation.runtimeData.canonicalBytes, as: UTF8.self).contains("kid"))
        // Our challenge and error bodies are Trustee's: extra-params is the empty string.
        let challenge = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(KBSMessages.Challenge(nonce: "n"))) as? [String: Any]
        #expect(challenge?["extra-params"] as? String == "" && challenge?["nonce"] as? String == "n")
        let error = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(KBSMessages.ErrorBody(name: "PolicyDeny", detail: "d"))) as? [String: String]
        #expect(error == ["type": "https://github.com/confidential-containers/kbs/errors/PolicyDeny", "detail": "d"])
        // The JWE of a resource has exactly the flattened members Trustee's client reads.
        let jwe = try JWE.seal([1, 2, 3], to: JWK(P256.KeyAgreement.PrivateKey().publicKey))
        let members = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(jwe)) as? [String: Any]
        #expect(Set(members?.keys.map { $0 } ?? []) == ["protected", "encrypted_key", "iv", "ciphertext", "tag"])
    }
}

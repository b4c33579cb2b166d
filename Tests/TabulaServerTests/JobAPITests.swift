import Crypto
import Foundation
import HTTPTypes
import TabulaLog
import TabulaWire
import Testing

/// One party of a job: the key that signs its input and the key its result is sealed to.
struct Party {
    let name: String
    let signing = P256.Signing.PrivateKey()
    let agreement = Curve25519.KeyAgreement.PrivateKey()

    var slot: Job.Slot { Job.Slot(name: name, party: signing.publicKey.x963Representation.base64EncodedString()) }
    var recipient: Job.Recipient { Job.Recipient(name: name, key: agreement.publicKey.rawRepresentation.base64EncodedString()) }

    /// A policy that allows `digest` and the given recipients, for an hour.
    func policy(allowing digest: String, recipients: [Party], expires: Int64? = nil) -> JobPolicy {
        JobPolicy(
            functions: [digest], recipients: recipients.map { $0.recipient.key },
            expires: expires ?? Int64(Date().timeIntervalSince1970 * 1000) + 3_600_000)
    }

    /// The input sealed to the enclave as docs/jobs.md describes: a Binary HTTP request to the
    /// slot's path, the JSON input with its policy, the party's signature.
    func seal(
        _ input: JSONValue, policy: JobPolicy, for job: Job, slot: String? = nil, path: String? = nil, signer: P256.Signing.PrivateKey? = nil,
        to sealing: SealingClient
    ) throws -> SealingClient.Call {
        let slot = slot ?? name
        let path = path ?? Job.inputPath(namespace: job.namespace, id: job.id, slot: slot)
        let content = JSONValue.bytes(JobInput(job: job.digest.hex, slot: slot, input: input, policy: policy))
        let signature = try (signer ?? signing).signature(for: JobInput.signedMessage(path: path, content: content))
        let request = try BinaryHTTPRequest(
            method: "POST", authority: "localhost", path: path,
            headerFields: [BinaryHTTPField("content-type", "application/json"), BinaryHTTPField(JobInput.signatureField, signature.derRepresentation.base64EncodedString())],
            content: content
        ).encoded()
        let (sealed, context) = try ObliviousHTTP.encapsulateRequest(request, to: sealing.configuration)
        return SealingClient.Call(sealed: sealed, context: context)
    }
}

/// Multi-party jobs over HTTP: three parties' sealed inputs, one run in the enclave, results
/// sealed to the recipients, every run and refusal in the log, and nothing in the clear.
@Suite("Multi-party jobs API")
struct JobAPITests {
    static let marker = "do-not-leak-7f3a"

    static func input(_ file: String) throws -> JSONValue {
        var value = try JSONValue(parsing: try example("jobs/\(file).json"))
        // A member the function ignores: if it shows up anywhere outside the enclave, it leaked.
        if case .object(var members) = value {
            members["note"] = .string("\(marker)-\(file)")
            value = .object(members)
        }
        return value
    }

    static func create(_ client: Harness.Client, parties: [Party], recipients: [Party], extra: [String: JSONValue] = [:]) async throws -> Job {
        var body: [String: JSONValue] = [
            "function": "jointstats",
            "slots": .array(parties.map { ["name": .string($0.name), "party": .string($0.slot.party)] }),
            "recipients": .array(recipients.map { ["name": .string($0.name), "key": .string($0.recipient.key)] }),
        ]
        body.merge(extra) { $1 }
        let reply = try await client.send(.post, "/api/v1/namespaces/_/jobs", body: JSONValue.object(body).encodedString)
        #expect(reply.status == .ok, "\(reply.body)")
        return try JSONValue.decode(JobStatus.self, from: Array(reply.body.utf8)).job
    }

    /// Posts a sealed input; the outer status and the opened inner answer.
    static func submit(_ client: Harness.Client, _ call: SealingClient.Call, job: Job, slot: String) async throws -> (status: Int, inner: BinaryHTTPResponse?, state: String?) {
        let reply = try await client.send(.post, "/api/v1/namespaces/\(job.namespace)/jobs/\(job.id)/inputs/\(slot)", bytes: call.sealed, contentType: "message/ohttp-req", as: .other)
        let inner = reply.headers[.contentType] == "message/ohttp-res" ? try call.open(reply.body) : nil
        return (Int(reply.status.code), inner, reply.headers[HTTPField.Name("x-tabula-job-state")!])
    }

    static func records(_ client: Harness.Client) async throws -> [JobRecord] {
        let entries = LogAPITests.array(try await client.send(.get, "/api/v1/log/entries?start=0&end=999").json.objectValue?["entries"])
        return entries.compactMap { LogEntry.parse(LogAPITests.bytes($0.objectValue?["leaf_input"])) }
            .filter { $0.kind == .job }.compactMap { try? JSONValue.decode(JobRecord.self, from: Array($0.data)) }
    }

    @Test func threePartiesRunOneJobAndOnlyRecipientsOpenTheResult() async throws {
        let harness = try await Harness()
        try await harness.run { client in
            #expect(try await client.deploy("jointstats", module: try example("c/jointstats.wasm")).status == .ok)
            let digest = Array(SHA256.hash(data: try example("c/jointstats.wasm"))).hex
            let (alice, bob, carol) = (Party(name: "alice"), Party(name: "bob"), Party(name: "carol"))
            let job = try await Self.create(client, parties: [alice, bob, carol], recipients: [alice, bob])
            #expect(job.moduleDigest == digest && job.namespace == "guest")
            let sealing = try await SealingClient(client)

            var sent: [String: [UInt8]] = [:]
            var policies: [String: JobPolicy] = [:]
            for party in [alice, bob, carol] {
                let policy = party.policy(allowing: digest, recipients: [alice, bob])
                policies[party.name] = policy
                let call = try party.seal(try Self.input(party.name), policy: policy, for: job, to: sealing)
                let answer = try await Self.submit(client, call, job: job, slot: party.name)
                #expect(answer.status == 201, "\(String(decoding: answer.inner?.content ?? [], as: UTF8.self))")
                #expect(answer.inner?.status == 201)
                #expect(answer.state == (party.name == "carol" ? "ran" : "waiting"))
                sent[party.name] = call.sealed
            }

            let status = try JSONValue.decode(JobStatus.self, from: Array(try await client.send(.get, "/api/v1/namespaces/guest/jobs/\(job.id)", as: .other).body.utf8))
            #expect(status.state == .ran && status.filled == ["alice", "bob", "carol"] && status.records.count == 1)

            // Alice and Bob open the same joint statistic; nobody else can.
            var opened: [JobResult] = []
            for party in [alice, bob] {
                let reply = try await client.send(.get, "/api/v1/namespaces/guest/jobs/\(job.id)/results/\(party.name)", as: .other)
                #expect(reply.status == .ok)
                let sealed = Array(try #require(Data(base64Encoded: reply.json.objectValue?["sealed"]?.stringValue ?? "")))
                // Sealed by the attested enclave: its identity key signed the sealed bytes for this recipient.
                let signature = try P256.Signing.ECDSASignature(derRepresentation: try #require(Data(base64Encoded: reply.json.objectValue?["signature"]?.stringValue ?? "")))
                #expect(sealing.identityKey.isValidSignature(signature, for: JobResult.signedMessage(jobDigest: job.digest, sealed: sealed, name: party.name)))
                #expect(!sealing.identityKey.isValidSignature(signature, for: JobResult.signedMessage(jobDigest: job.digest, sealed: sealed, name: "carol")))
                opened.append(try JSONValue.decode(JobResult.self, from: try JobResult.open(sealed, with: party.agreement, jobDigest: job.digest, name: party.name)))
                #expect(throws: WireError.self) { try JobResult.open(sealed, with: carol.agreement, jobDigest: job.digest, name: party.name) }
            }
            #expect(opened[0] == opened[1] && opened[0].success)
            #expect(opened[0].result["count"] == 15 && opened[0].result["parties"] == 3)
            #expect(opened[0].result["perParty"] == ["alice": 5, "bob": 6, "carol": 4])
            #expect(try await client.send(.get, "/api/v1/namespaces/guest/jobs/\(job.id)/results/carol").status == .notFound)

            // The log names the function and each party's sealed input and policy digest.
            let ran = try #require(try await Self.records(client).first { $0.job == job.id && $0.outcome == "ran" })
            #expect(ran.moduleDigest == digest && ran.jobDigest == job.digest.hex && ran.status == "success")
            for party in [alice, bob, carol] {
                let input = try #require(ran.inputs.first { $0.slot == party.name })
                #expect(input.inputDigest == Array(SHA256.hash(data: try #require(sent[party.name]))).hex)
                #expect(input.policyDigest == policies[party.name]?.digest.hex)
            }
            #expect(ran.results.map(\.recipient) == ["alice", "bob"])

            // Nothing in the clear outside the enclave: not in the store's blobs, nor in the log.
            let blobs = ["job/guest/\(job.id)"] + ["alice", "bob", "carol"].map { "job/guest/\(job.id)/input/\($0)" } + ["alice", "bob"].map { "job/guest/\(job.id)/result/\($0)" }
            for name in blobs {
                let bytes = try #require(try await harness.store.backend.blob(name), "\(name) is not in the store").bytes
                #expect(!String(decoding: bytes, as: UTF8.self).contains(Self.marker), "\(name) holds an input in the clear")
                #expect(!String(decoding: bytes, as: UTF8.self).contains("3425.38"), "\(name) holds the result in the clear")
            }
            let entries = try await client.send(.get, "/api/v1/log/entries?start=0&end=999").body
            #expect(!entries.contains(Self.marker))

            // A filled job takes no more inputs.
            let late = try alice.seal(try Self.input("alice"), policy: alice.policy(allowing: digest, recipients: [alice, bob]), for: job, to: sealing)
            #expect(try await Self.submit(client, late, job: job, slot: "alice").status == 409)

            // An operator that rolls the job's document back to waiting cannot make it run again:
            // the log says it ran.
            let blob = try #require(try await harness.store.backend.blob("job/guest/\(job.id)"))
            var rolledBack = try JSONValue.decode(JobStatus.self, from: blob.bytes)
            rolledBack.state = .waiting
            #expect(try await harness.store.backend.putBlob("job/guest/\(job.id)", bytes: JSONValue.bytes(rolledBack), replacing: blob.version) != nil)
            let rerun = try await client.send(.post, "/api/v1/namespaces/guest/jobs/\(job.id)/run", as: .other)
            #expect(rerun.status == .conflict && rerun.body.contains("ran already"), "\(rerun.body)")
            #expect(try await Self.records(client).filter { $0.job == job.id && $0.outcome == "ran" }.count == 1)
        }
    }

    @Test func refusedInputsAreToldTheirSubmitterLoggedAndNeverRun() async throws {
        let harness = try await Harness()
        try await harness.run { client in
            #expect(try await client.deploy("jointstats", module: try example("c/jointstats.wasm")).status == .ok)
            let digest = Array(SHA256.hash(data: try example("c/jointstats.wasm"))).hex
            let (alice, bob, mallory) = (Party(name: "alice"), Party(name: "bob"), Party(name: "mallory"))
            let job = try await Self.create(client, parties: [alice, bob], recipients: [alice, mallory])
            let other = try await Self.create(client, parties: [alice, bob], recipients: [alice])
            let sealing = try await SealingClient(client)
            let input = try Self.input("alice")
            let now = Int64(Date().timeIntervalSince1970 * 1000)

            let cases: [(String, SealingClient.Call, String)] = [
                ("function-not-allowed", try alice.seal(input, policy: alice.policy(allowing: String(repeating: "0", count: 64), recipients: [alice, mallory]), for: job, to: sealing), "does not allow the module"),
                ("input-expired", try alice.seal(input, policy: alice.policy(allowing: digest, recipients: [alice, mallory], expires: now - 1), for: job, to: sealing), "expired"),
                ("recipient-not-allowed", try alice.seal(input, policy: alice.policy(allowing: digest, recipients: [alice]), for: job, to: sealing), "recipient mallory"),
                ("wrong-job", try alice.seal(input, policy: alice.policy(allowing: digest, recipients: [alice, mallory]), for: other, to: sealing), "posted to"),
                ("bad-signature", try alice.seal(input, policy: alice.policy(allowing: digest, recipients: [alice, mallory]), for: job, signer: mallory.signing, to: sealing), "not signed"),
            ]
            for (code, call, words) in cases {
                let answer = try await Self.submit(client, call, job: job, slot: "alice")
                let body = try JSONValue(parsing: answer.inner?.content ?? [])
                #expect(body["code"]?.stringValue == code, "\(code): \(body)")
                #expect(body["error"]?.stringValue?.contains(words) == true, "\(code): \(body)")
                #expect(answer.status == answer.inner?.status && (400..<500).contains(answer.status))
            }
            // A replay of an accepted input: refused before it opens, and recorded.
            let good = try alice.seal(input, policy: alice.policy(allowing: digest, recipients: [alice, mallory]), for: job, to: sealing)
            #expect(try await Self.submit(client, good, job: job, slot: "alice").status == 201)
            let replay = try await client.send(.post, "/api/v1/namespaces/guest/jobs/\(job.id)/inputs/alice", bytes: good.sealed, contentType: "message/ohttp-req")
            #expect(replay.status == .conflict, "a filled slot takes nothing more: \(replay.body)")
            for _ in 0..<2 {
                let toBob = try await client.send(.post, "/api/v1/namespaces/guest/jobs/\(job.id)/inputs/bob", bytes: good.sealed, contentType: "message/ohttp-req")
                #expect(toBob.status == .badRequest && String(decoding: toBob.body, as: UTF8.self).contains("already received"))
            }
            let bobs = try bob.seal(try Self.input("bob"), policy: bob.policy(allowing: digest, recipients: [alice, mallory]), for: job, to: sealing)
            let last = try await Self.submit(client, bobs, job: job, slot: "bob")
            #expect(last.status == 201 && last.state == "ran")

            let records = try await Self.records(client).filter { $0.job == job.id }
            let refused = records.filter { $0.outcome == "refused" }.compactMap(\.reason)
            // Refusals of inputs the slot's party signed are logged; a stranger's (signed by
            // mallory) is told to its sender only, so that no one can fill the log with them.
            #expect(refused == cases.map(\.0).filter { $0 != "bad-signature" } + ["replayed-input"], "\(refused)")
            // The job ran once, after both valid inputs, on exactly those.
            let ran = records.filter { $0.outcome == "ran" }
            #expect(ran.count == 1 && ran.first?.inputs.map(\.inputDigest).contains(Array(SHA256.hash(data: good.sealed)).hex) == true)

            // An accepted input replayed to another slot of its job: refused in the clear, and
            // recorded once; replayed into another job, it is not that job's party's, and only its
            // sender is told.
            let again = try await client.send(.post, "/api/v1/namespaces/guest/jobs/\(other.id)/inputs/alice", bytes: good.sealed, contentType: "message/ohttp-req")
            #expect(again.status == .badRequest && String(decoding: again.body, as: UTF8.self).contains("already received"), "\(String(decoding: again.body, as: UTF8.self))")
            #expect(try await !Self.records(client).contains { $0.job == other.id && $0.reason == "replayed-input" })

            // Bad requests get clear errors, and the server keeps serving.
            #expect(try await client.send(.post, "/api/v1/namespaces/_/jobs", body: #"{"function":"jointstats","slots":[],"recipients":[]}"#).status == .badRequest)
            #expect(try await client.send(.post, "/api/v1/namespaces/_/jobs", body: #"{"function":"nope","slots":[],"recipients":[]}"#).status == .notFound)
            #expect(try await client.send(.post, "/api/v1/namespaces/guest/jobs", body: "{}", as: .other).status == .forbidden)
            #expect(try await client.send(.get, "/api/v1/namespaces/guest/jobs/not-a-uuid").status == .notFound)
            #expect(try await client.send(.post, "/api/v1/namespaces/guest/jobs/\(job.id)/inputs/alice", body: "{}").status == .badRequest)
            #expect(try await client.send(.post, "/api/v1/namespaces/guest/jobs/\(other.id)/inputs/nobody", bytes: [1, 2, 3], contentType: "message/ohttp-req").status == .notFound)
            #expect(try await client.send(.post, "/api/v1/namespaces/guest/jobs/\(other.id)/inputs/bob", bytes: [1, 2, 3], contentType: "message/ohttp-req").status == .badRequest)
        }
    }
}

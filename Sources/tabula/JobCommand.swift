import ArgumentParser
import Crypto
import Foundation
import TabulaClient
import TabulaWire

/// `tabula job`: multi-party jobs (docs/jobs.md).
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "Run one function on several parties' sealed inputs, each under its own data-use policy (docs/jobs.md).",
        subcommands: [Keygen.self, Create.self, Submit.self, Status.self, Result.self, Verify.self])

    /// Where a party's keys and what it sent are kept: `parties/` and `jobs/` of the data directory.
    enum Files {
        static func directory(_ name: String) throws -> URL {
            let url = try DataDirectory.prepare(DataDirectory.default).appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            return url
        }

        static func party(_ name: String) throws -> JobParty {
            guard Job.isValidName(name) else { throw ValidationError("a party's name is 1 to 32 of a-z, 0-9, - and _") }
            let file = try directory("parties").appendingPathComponent("\(name).json")
            guard let data = FileManager.default.contents(atPath: file.path) else {
                throw ValidationError("there are no keys for party \(name) in \(file.path); make them with `tabula job keygen \(name)`")
            }
            do {
                return try JSONDecoder().decode(JobParty.self, from: data)
            } catch {
                throw ValidationError("cannot read the keys of party \(name) in \(file.path): \(error.localizedDescription)")
            }
        }

        static func write(_ data: Data, to file: URL, replace: Bool = true) throws {
            if !replace, FileManager.default.fileExists(atPath: file.path) {
                throw ValidationError("\(file.path) exists already; remove it first to make new keys")
            }
            guard FileManager.default.createFile(atPath: file.path + ".new", contents: data, attributes: [.posixPermissions: 0o600]),
                  rename(file.path + ".new", file.path) == 0
            else {
                throw ValidationError("cannot write \(file.path)")
            }
        }

        /// What a party sent to a job's slot: the job's digest, the digest of the sealed bytes and
        /// the policy.
        struct Sent: Codable {
            var jobDigest: String
            var inputDigest: String
            var policy: JobPolicy
        }

        /// The job digest this CLI sealed an input for, to any slot of the job, if any.
        static func sentDigest(job: String) throws -> String? {
            let directory = try directory("jobs")
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            for name in names.sorted() where name.hasPrefix(job.lowercased() + "-") && name.hasSuffix(".json") {
                if let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path),
                   let sent = try? JSONDecoder().decode(Sent.self, from: data) {
                    return sent.jobDigest
                }
            }
            return nil
        }

        static func sent(job: String, slot: String) throws -> URL {
            guard UUID(uuidString: job) != nil, Job.isValidName(slot) else { throw ValidationError("not a job id and slot name: \(job) \(slot)") }
            return try directory("jobs").appendingPathComponent("\(job.lowercased())-\(slot).json")
        }
    }

    /// Public keys from a file `tabula job keygen` wrote (or its output), as `NAME=FILE`.
    static func identity(_ argument: String, option: String) throws -> JobPartyIdentity {
        guard let equals = argument.firstIndex(of: "=") else { throw ValidationError("--\(option) takes NAME=FILE, not \(argument)") }
        let name = String(argument[..<equals])
        let path = String(argument[argument.index(after: equals)...])
        guard let data = FileManager.default.contents(atPath: path), var identity = try? JSONDecoder().decode(JobPartyIdentity.self, from: data) else {
            throw ValidationError("cannot read the public keys in \(path) (the JSON that `tabula job keygen` prints)")
        }
        identity.name = name
        return identity
    }

    /// A duration such as `90m`, `24h` or `7d`.
    static func duration(_ text: String) throws -> TimeInterval {
        let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = text.last.flatMap({ units[$0] }), let value = Double(text.dropLast()), value > 0 else {
            throw ValidationError("a duration is a positive number and a unit, s, m, h or d: 90m, 24h, 7d (not \(text))")
        }
        return value * unit
    }

    struct Keygen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a party's keys (kept owner-only in the data directory) and print its public keys, for the job's creator.")

        @Argument(help: "The party's name (1 to 32 of a-z, 0-9, - and _).")
        var name: String

        @Option(help: ArgumentHelp("Also write the public keys to this file.", valueName: "file"))
        var out: String?

        func run() async throws {
            guard Job.isValidName(name) else { throw ValidationError("a party's name is 1 to 32 of a-z, 0-9, - and _") }
            let party = JobParty.generate(name: name)
            let file = try Files.directory("parties").appendingPathComponent("\(name).json")
            try Files.write(try JSONEncoder().encode(party), to: file, replace: false)
            let identity = Connection.pretty(try party.publicIdentity())
            if let out { try Files.write(Data(identity.utf8), to: URL(fileURLWithPath: out)) }
            standardError("ok: made the keys of party \(name) in \(file.path); give the public keys below to the job's creator")
            standardOutput(identity)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a job in your namespace: an action, its parties' slots and the result's recipients.")

        @Option(help: ArgumentHelp("The action that runs (in your namespace).", valueName: "name"))
        var function: String

        @Option(name: .customLong("slot"), help: ArgumentHelp("A slot and the party that fills it: NAME=FILE, the file its `tabula job keygen` printed. Repeat for each.", valueName: "name=file"))
        var slots: [String] = []

        @Option(name: .customLong("recipient"), help: ArgumentHelp("A recipient of the result: NAME=FILE. Repeat for each.", valueName: "name=file"))
        var recipients: [String] = []

        @Option(help: ArgumentHelp("How long the job takes inputs (90m, 24h, 7d; at most 30d).", valueName: "duration"))
        var expires = "24h"

        @Option(help: ArgumentHelp("The SHA-256 (hex) of the module that must run; by default the action's as deployed now.", valueName: "hex"))
        var digest: String?

        @OptionGroup var connection: Connection

        func run() async throws {
            let slots = try self.slots.map { try JobCommand.identity($0, option: "slot") }
            let recipients = try self.recipients.map { try JobCommand.identity($0, option: "recipient") }
            guard !slots.isEmpty, !recipients.isEmpty else { throw ValidationError("a job needs at least one --slot and one --recipient") }
            let expires = Date().addingTimeInterval(try JobCommand.duration(expires))
            try await connection.run { client in
                let status = try await client.createJob(
                    function: function, moduleDigest: digest, slots: slots.map { Job.Slot(name: $0.name, party: $0.party) },
                    recipients: recipients.map { Job.Recipient(name: $0.name, key: $0.key) }, expires: expires)
                if connection.json {
                    connection.emit(json: status)
                } else {
                    print("ok: created job \(status.job.id) running \(status.job.function) (module sha-256=\(status.job.moduleDigest)); slots \(status.job.slots.map(\.name).joined(separator: ", ")), recipients \(status.job.recipients.map(\.name).joined(separator: ", "))")
                    print("each party sends its input with: tabula job submit \(status.job.id) SLOT --as PARTY --input FILE --namespace \(status.job.namespace)")
                }
            }
        }
    }

    struct Submit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Seal your input and its data-use policy to the attested enclave, signed with your party's key.",
            discussion: "The policy allows the module given by --module or --digest (by default the module the job names, which is then printed for you to check), the job's recipients (or only --allow-recipient ones), until --valid-for. The enclave refuses to run anything else on the input.")

        @Argument(help: "The job's id.")
        var id: String

        @Argument(help: "Your slot.")
        var slot: String

        @Option(name: .customLong("as"), help: ArgumentHelp("Your party (its keys from `tabula job keygen`).", valueName: "party"))
        var party: String

        @Option(help: ArgumentHelp("The input: a JSON file, or - for standard input.", valueName: "file"))
        var input: String

        @Option(name: .customLong("namespace"), help: ArgumentHelp("The job's namespace (by default yours).", valueName: "namespace"))
        var jobNamespace: String?

        @Option(name: .customLong("allow-recipient"), help: ArgumentHelp("Allow only these recipients (NAME=FILE); by default every recipient the job names.", valueName: "name=file"))
        var allowRecipients: [String] = []

        @Option(help: ArgumentHelp("How long the input may be used (90m, 24h, 7d).", valueName: "duration"))
        var validFor = "24h"

        @Option(help: ArgumentHelp("How many runs may read the input.", valueName: "n"))
        var runs = 1

        @OptionGroup var verification: Verification
        @OptionGroup var connection: Connection

        func run() async throws {
            let party = try Files.party(self.party)
            let data: Data?
            if input == "-" { data = FileHandle.standardInput.readDataToEndOfFile() } else { data = FileManager.default.contents(atPath: input) }
            guard let data, let value = try? JSONValue(parsing: data) else { throw ValidationError("the input \(input) is not readable JSON") }
            let validFor = try JobCommand.duration(validFor)
            var failed = false
            try await connection.run { client in
                let status = try await client.job(id: id, namespace: jobNamespace)
                let job = status.job
                let allowedFunction = try verification.expectedDigest()?.hex ?? job.moduleDigest
                if try verification.expectedDigest() == nil {
                    standardError("note: allowing the module the job names, sha-256=\(job.moduleDigest); give --module or --digest to allow only the one you checked")
                }
                let recipients: [String]
                if allowRecipients.isEmpty {
                    recipients = job.recipients.map(\.key)
                    let named = job.recipients.map { "\($0.name) (key \(Array(SHA256.hash(data: Data($0.key.utf8))).hex.prefix(12))…)" }
                    standardError("note: allowing every recipient the job names: \(named.joined(separator: ", ")); give --allow-recipient NAME=FILE to allow only those you know")
                } else {
                    recipients = try allowRecipients.map { try JobCommand.identity($0, option: "allow-recipient").key }
                }
                let policy = JobPolicy(
                    functions: [allowedFunction], recipients: recipients, expires: Int64(Date().addingTimeInterval(validFor).timeIntervalSince1970 * 1000), runs: runs,
                    nonce: JobPolicy.randomNonce())
                let enclave = try await verification.attest(client)
                let reply = try await client.submitJobInput(job, slot: slot, input: value, policy: policy, party: party, enclave: enclave)
                if reply.accepted {
                    try Files.write(
                        try JSONEncoder().encode(Files.Sent(jobDigest: job.digest.hex, inputDigest: reply.inputDigest, policy: policy)), to: try Files.sent(job: job.id, slot: slot))
                }
                if connection.json {
                    var report: [String: JSONValue] = ["status": .integer(Int64(reply.status)), "accepted": .bool(reply.accepted), "inputDigest": .string(reply.inputDigest)]
                    if let code = reply.code { report["code"] = .string(code) }
                    if let error = reply.error { report["error"] = .string(error) }
                    if let state = reply.state { report["state"] = .string(state) }
                    connection.emit(json: JSONValue.object(report))
                } else if reply.accepted {
                    print("ok: the enclave accepted your input to slot \(slot) of job \(job.id) (sealed input sha-256=\(reply.inputDigest)); job state: \(reply.state ?? "waiting")")
                    print("attestation: \(enclave.summary)")
                } else {
                    standardError("error: the enclave refused your input (\(reply.status) \(reply.code ?? "")): \(reply.error ?? "no reason given")")
                }
                failed = !reply.accepted
            }
            if failed { throw ExitCode.failure }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a job: its function, slots filled, state and log records.")

        @Argument(help: "The job's id.")
        var id: String

        @Option(name: .customLong("namespace"), help: ArgumentHelp("The job's namespace (by default yours).", valueName: "namespace"))
        var jobNamespace: String?

        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let status = try await client.job(id: id, namespace: jobNamespace)
                if connection.json {
                    connection.emit(json: status)
                    return
                }
                let filled = Set(status.filled ?? [])
                print("job \(status.job.id): \(status.state.rawValue)\(status.reason.map { " (\($0))" } ?? "")")
                print("  function \(status.job.namespace)/\(status.job.function), module sha-256=\(status.job.moduleDigest)")
                print("  slots: " + status.job.slots.map { "\($0.name) \(filled.contains($0.name) ? "filled" : "waiting")" }.joined(separator: ", "))
                print("  recipients: " + status.job.recipients.map(\.name).joined(separator: ", "))
                print("  expires \(Date(timeIntervalSince1970: Double(status.job.expires) / 1000).formatted(.iso8601)); digest \(status.digest)")
                if !status.records.isEmpty { print("  log records: " + status.records.map(String.init).joined(separator: ", ")) }
            }
        }
    }

    struct Result: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Fetch and open your result of a job that ran.")

        @Argument(help: "The job's id.")
        var id: String

        @Option(name: .customLong("as"), help: ArgumentHelp("Your party, a recipient of the job.", valueName: "party"))
        var party: String

        @Option(name: .customLong("namespace"), help: ArgumentHelp("The job's namespace (by default yours).", valueName: "namespace"))
        var jobNamespace: String?

        @Option(help: ArgumentHelp("The digest of the job you agreed to (tabula job status prints it); by default the one this CLI sealed an input for, if any.", valueName: "hex"))
        var jobDigest: String?

        @OptionGroup var verification: Verification
        @OptionGroup var connection: Connection

        func run() async throws {
            let party = try Files.party(self.party)
            var failed = false
            try await connection.run { client in
                let status = try await client.job(id: id, namespace: jobNamespace)
                let expected = try jobDigest ?? Files.sentDigest(job: status.job.id)
                if expected == nil {
                    let slots = status.job.slots.map { "\($0.name) (key \(Array(SHA256.hash(data: Data($0.party.utf8))).hex.prefix(12))…)" }
                    standardError("note: taking job \(status.job.id) as the server shows it (digest \(status.job.digest.hex); slots \(slots.joined(separator: ", "))); give --job-digest to pin the one you agreed to")
                }
                let enclave = try await verification.attest(client)
                let result = try await client.jobResult(status.job, party: party, enclave: enclave, expectedDigest: expected)
                connection.json ? connection.emit(json: result) : print(Connection.pretty(result.result))
                failed = !result.success
            }
            if failed { throw ExitCode(2) }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prove from the verifiable log what ran on a job's inputs: every record of the job, in a tree head the attested enclave signed.",
            discussion: "With --as and --slot, also checks that each run read exactly the input this CLI sent for that slot, under the policy it sent, and ran a module that policy allows.")

        @Argument(help: "The job's id.")
        var id: String

        @Option(name: .customLong("as"), help: ArgumentHelp("Your party: check the runs against the input you sent.", valueName: "party"))
        var party: String?

        @Option(help: ArgumentHelp("Your slot (by default your party's name).", valueName: "slot"))
        var slot: String?

        @Option(name: .customLong("namespace"), help: ArgumentHelp("The job's namespace (by default yours).", valueName: "namespace"))
        var jobNamespace: String?

        @OptionGroup var verification: Verification
        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let status = try await client.job(id: id, namespace: jobNamespace)
                var sent: Files.Sent?
                if let party {
                    let slot = slot ?? party
                    guard let data = FileManager.default.contents(atPath: try Files.sent(job: status.job.id, slot: slot).path),
                          let kept = try? JSONDecoder().decode(Files.Sent.self, from: data)
                    else {
                        throw ValidationError("this CLI sent no accepted input to slot \(slot) of job \(status.job.id), so it has nothing to check the runs against")
                    }
                    guard kept.jobDigest == status.job.digest.hex else {
                        throw ValidationError("the server shows job \(status.job.id) with digest \(status.job.digest.hex), not the \(kept.jobDigest) your input was sealed for: the job's document was changed")
                    }
                    sent = kept
                }
                let enclave = try await verification.attest(client)
                let proof = try await client.proveJob(status.job, enclave: enclave) { read, total in
                    if total > 5000 { standardError("reading the log: \(read) of \(total) entries") }
                }
                let fingerprint = Confidential.enclaveFingerprint(Array(enclave.identityKey.derRepresentation))
                // The same check as tabula log verify: this log extends the one this CLI saw before.
                let last = try await LogHeads.extend(proof.head, client: client)

                let runs = proof.records.filter { $0.record.outcome == "ran" }
                var problems: [String] = []
                if runs.count > 1 { problems.append("the job ran \(runs.count) times") }
                if let sent, let party {
                    let slot = slot ?? party
                    if runs.count > sent.policy.runs { problems.append("your policy allows \(sent.policy.runs) run(s), and the log records \(runs.count)") }
                    for (index, run) in runs {
                        guard let read = run.inputs.first(where: { $0.slot == slot }) else {
                            problems.append("the run at \(index) did not read slot \(slot)")
                            continue
                        }
                        if read.inputDigest != sent.inputDigest { problems.append("the run at \(index) read another input than the one you sent") }
                        if read.policyDigest != sent.policy.digest.hex { problems.append("the run at \(index) names another policy than yours") }
                        if !sent.policy.functions.contains(run.moduleDigest) { problems.append("the run at \(index) ran sha-256=\(run.moduleDigest), which your policy does not allow") }
                    }
                }
                if connection.json {
                    connection.emit(json: JSONValue.object([
                        "treeSize": .integer(Int64(proof.head.size)), "signedBy": .string(fingerprint), "tee": .string(enclave.tee),
                        "consistentWith": last.map { .integer(Int64($0.size)) } ?? .null,
                        "records": .array(proof.records.map { .object(["index": .integer(Int64($0.index)), "record": (try? JSONValue(parsing: JSONValue.bytes($0.record))) ?? .null]) }),
                        "problems": .array(problems.map(JSONValue.string)),
                    ]))
                } else {
                    print("ok: the log of \(proof.head.size) entries is signed by the attested enclave \(fingerprint.prefix(16))…, and all of it was read")
                    if let last { print("ok: it extends the log of \(last.size) entries this CLI saw before (consistency proven)") }
                    for (index, record) in proof.records {
                        switch (record.outcome, record.slot) {
                        case ("ran", _):
                            print("ok: entry \(index) (inclusion proven): the job ran module sha-256=\(record.moduleDigest) on \(record.inputs.map(\.slot).joined(separator: ", ")), status \(record.status ?? "?"), results for \(record.results.map(\.recipient).joined(separator: ", "))")
                        case (_, let slot?):
                            print("ok: entry \(index) (inclusion proven): an input to slot \(slot) was refused: \(record.reason ?? "?")")
                        default:
                            print("ok: entry \(index) (inclusion proven): the run was refused: \(record.reason ?? "?")")
                        }
                    }
                    if runs.isEmpty { print("the job has not run") }
                    if let party, problems.isEmpty, !runs.isEmpty { print("ok: every run read exactly the input \(party) sent, under its policy, with a module it allows") }
                    if enclave.tee == "simulated" { print("attestation: SIMULATED (no TEE hardware, proves nothing)") }
                }
                if !problems.isEmpty {
                    problems.forEach { standardError("error: \($0)") }
                    throw ExitCode.failure
                }
            }
        }
    }
}

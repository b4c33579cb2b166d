import Foundation
import Testing

/// Three parties, each with its own namespace and CLI state, run examples/c/jointstats.wasm on
/// their records through a real `tabula serve`: keys made by `tabula job keygen`, the job created
/// by one of them, inputs sealed and signed by `tabula job submit`, results opened by the
/// recipients only, and every party proving from the log what ran on its input. Also: a
/// confidential invocation's receipt proven from the log by `tabula log verify --receipt`.
@Suite("tabula job, live", .serialized)
struct JobCommandTests {
    struct Party {
        let name: String
        let directory: URL
        let environment: [String: String]

        func tabula(_ arguments: [String]) async throws -> RunCommandTests.Output {
            try await RunCommandTests.tabula(arguments, environment: environment)
        }
    }

    static func party(_ name: String, server: ServerProcess, auth: String) throws -> Party {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-party-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return Party(name: name, directory: directory, environment: ["TABULA_CONFIG_DIR": directory.path, "TABULA_APIHOST": server.apiHost.absoluteString, "TABULA_AUTH": auth])
    }

    @Test func threePartiesRunAJointStatisticAndEachProvesWhatRanOnItsInput() async throws {
        let server = try await ServerProcess(arguments: ["--tee", "simulated", "--isolation", "process", "--no-native"])
        defer { _ = server.terminate(); server.removeData() }
        let guestAuth = try String(contentsOf: server.dataDirectory.appendingPathComponent("auth"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        var auths = ["alice": guestAuth]
        for name in ["bob", "carol"] {
            let made = try await RunCommandTests.tabula(["namespace", "create", "hospital-\(name)", "--data-dir", server.dataDirectory.path])
            #expect(made.status == 0, "\(made.stderr)")
            auths[name] = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let parties = try ["alice", "bob", "carol"].map { try Self.party($0, server: server, auth: auths[$0]!) }
        defer { parties.forEach { try? FileManager.default.removeItem(at: $0.directory) } }
        let (alice, bob, carol) = (parties[0], parties[1], parties[2])

        // Each party makes its keys; the public halves go to the creator (alice).
        for party in parties {
            let made = try await party.tabula(["job", "keygen", party.name, "--out", party.directory.appendingPathComponent("public.json").path])
            #expect(made.status == 0 && made.stdout.contains("\"party\""), "\(made.stderr)")
            let again = try await party.tabula(["job", "keygen", party.name])
            #expect(again.status != 0 && again.stderr.contains("exists already"), "keys are never overwritten")
        }
        func file(_ party: Party) -> String { "\(party.name)=\(party.directory.appendingPathComponent("public.json").path)" }
        #expect(try await alice.tabula(["action", "create", "jointstats", "examples/c/jointstats.wasm"]).status == 0)
        let created = try await alice.tabula([
            "job", "create", "--function", "jointstats", "--slot", file(alice), "--slot", file(bob), "--slot", file(carol),
            "--recipient", file(alice), "--recipient", file(bob), "--expires", "2h", "--json",
        ])
        #expect(created.status == 0, "\(created.stderr)")
        let id = try #require((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any]).flatMap { ($0["job"] as? [String: Any])?["id"] as? String })

        func submit(_ party: Party, extra: [String] = []) async throws -> RunCommandTests.Output {
            try await party.tabula(["job", "submit", id, party.name, "--as", party.name, "--input", "examples/jobs/\(party.name).json", "--namespace", "guest", "--allow-simulated"] + extra)
        }
        // Without --allow-simulated, nothing is sent to a simulated enclave.
        let unverified = try await bob.tabula(["job", "submit", id, "bob", "--as", "bob", "--input", "examples/jobs/bob.json", "--namespace", "guest"])
        #expect(unverified.status != 0 && unverified.stderr.contains("simulated"), "\(unverified.stderr)")
        // A policy that allows another module: refused, told to carol, logged; nothing runs.
        let refused = try await submit(carol, extra: ["--digest", String(repeating: "ab", count: 32)])
        #expect(refused.status != 0 && refused.stderr.contains("function-not-allowed"), "\(refused.stdout) \(refused.stderr)")

        for party in [alice, bob, carol] {
            let sent = try await submit(party, extra: ["--module", "examples/c/jointstats.wasm"])
            #expect(sent.status == 0, "\(party.name): \(sent.stderr)")
            #expect(sent.stdout.contains("the enclave accepted your input") && sent.stdout.contains(party.name == "carol" ? "job state: ran" : "job state: waiting"), "\(sent.stdout)")
        }
        let status = try await bob.tabula(["job", "status", id, "--namespace", "guest"])
        #expect(status.status == 0 && status.stdout.contains("job \(id): ran") && status.stdout.contains("carol filled"), "\(status.stdout)")

        // Recipients open the joint statistic; carol, not a recipient, gets nothing.
        for party in [alice, bob] {
            let result = try await party.tabula(["job", "result", id, "--as", party.name, "--namespace", "guest", "--allow-simulated", "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("\"count\":15") && result.stdout.contains("\"parties\":3"), "\(result.stdout)")
        }
        let notRecipient = try await carol.tabula(["job", "result", id, "--as", "carol", "--namespace", "guest", "--allow-simulated"])
        #expect(notRecipient.status != 0 && notRecipient.stderr.contains("no recipient with the key of party carol"), "\(notRecipient.stderr)")
        // The operator hands bob alice's sealed result (signed for alice): refused, not opened.
        let database = server.dataDirectory.appendingPathComponent("tabula.db").path
        let swap = try RunCommandTests.run(URL(fileURLWithPath: "/usr/bin/python3"), ["-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1], timeout=10)
            row = db.execute("SELECT bytes FROM blob WHERE name = ?", ("job/guest/\(id)/result/alice",)).fetchone()
            db.execute("UPDATE blob SET bytes = ? WHERE name = ?", (row[0], "job/guest/\(id)/result/bob"))
            db.commit()
            """, database], stdin: nil, environment: [:])
        #expect(swap.status == 0, "\(swap.stderr)")
        let swapped = try await bob.tabula(["job", "result", id, "--as", "bob", "--namespace", "guest", "--allow-simulated"])
        #expect(swapped.status != 0 && swapped.stderr.contains("not signed by the attested enclave"), "\(swapped.stdout) \(swapped.stderr)")

        // Each party proves from the log that the module it allowed ran on exactly its input.
        for party in parties {
            let verified = try await party.tabula(["job", "verify", id, "--as", party.name, "--namespace", "guest", "--allow-simulated"])
            #expect(verified.status == 0, "\(party.name): \(verified.stdout) \(verified.stderr)")
            #expect(verified.stdout.contains("the job ran module sha-256=") && verified.stdout.contains("every run read exactly the input \(party.name) sent"), "\(verified.stdout)")
            #expect(verified.stdout.contains("was refused: function-not-allowed"), "the refusal is in the log too: \(verified.stdout)")
        }
        // A party whose kept record does not match what ran is told so.
        let kept = carol.directory.appendingPathComponent("jobs/\(id)-carol.json")
        var sent = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: kept)) as? [String: Any])
        sent["inputDigest"] = String(repeating: "0", count: 64)
        try JSONSerialization.data(withJSONObject: sent).write(to: kept)
        let mismatch = try await carol.tabula(["job", "verify", id, "--as", "carol", "--namespace", "guest", "--allow-simulated"])
        #expect(mismatch.status != 0 && mismatch.stderr.contains("read another input"), "\(mismatch.stderr)")

        // Nothing of the inputs reached the server's output.
        #expect(!(server.stdout + server.stderr).contains("3425.38"), "the result is in the server's output")
    }

    @Test func aConfidentialAnswersReceiptIsProvenFromTheLog() async throws {
        let server = try await ServerProcess(arguments: ["--tee", "simulated", "--isolation", "process", "--no-native"])
        defer { _ = server.terminate(); server.removeData() }
        let environment = ["TABULA_CONFIG_DIR": server.dataDirectory.path, "TABULA_APIHOST": server.apiHost.absoluteString]
        #expect(try await RunCommandTests.tabula(["action", "create", "echo", "examples/echo.wat"], environment: environment).status == 0)
        let invoked = try await RunCommandTests.tabula(["action", "invoke", "echo", "-p", "n", "1", "--blocking", "--allow-simulated", "--json"], environment: environment)
        #expect(invoked.status == 0, "\(invoked.stderr)")
        let id = try #require((try JSONSerialization.jsonObject(with: Data(invoked.stdout.utf8)) as? [String: Any])?["activationId"] as? String)
        let proven = try await RunCommandTests.tabula(["log", "verify", "--allow-simulated", "--receipt", id], environment: environment)
        #expect(proven.status == 0 && proven.stdout.contains("the receipt of \(id)") && proven.stdout.contains("inclusion proven"), "\(proven.stdout) \(proven.stderr)")
        // Asked for, the receipt is signed too; unknown receipts are a clear error.
        let signed = try await RunCommandTests.tabula(["action", "invoke", "echo", "--blocking", "--allow-simulated", "--signed-receipt", "--json"], environment: environment)
        #expect(signed.status == 0, "\(signed.stderr)")
        let unknown = try await RunCommandTests.tabula(["log", "verify", "--allow-simulated", "--receipt", String(repeating: "0", count: 32)], environment: environment)
        #expect(unknown.status != 0 && unknown.stderr.contains("kept no receipt"), "\(unknown.stderr)")
    }
}

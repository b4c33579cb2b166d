import Foundation
import Testing
import Crypto
import TabulaAttestation
import TabulaClient
import TabulaWire

/// The real `tabula serve`, driven through the client SDK and the CLI, as a user runs them.
@Suite("tabula serve, live", .serialized)
struct ServeTests {
    @Test func firstStartCreatesGuestAndTheCLINeedsNoSetUp() async throws {
        let server = try await ServerProcess()
        defer { _ = server.terminate(); server.removeData() }
        #expect(server.stdout.contains("Created the namespace 'guest'"))
        let attributes = try FileManager.default.attributesOfItem(atPath: server.dataDirectory.appendingPathComponent("auth").path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let auth = try server.auth
        #expect(auth.split(separator: ":").last?.count == 64)

        let environment = ["TABULA_CONFIG_DIR": server.dataDirectory.path, "TABULA_APIHOST": server.apiHost.absoluteString]
        let create = try await RunCommandTests.tabula(["action", "create", "hasher", "examples/c/hasher.wasm"], environment: environment)
        #expect(create.status == 0, "\(create.stderr)")
        #expect(create.stdout.contains("ok: created action hasher"))
        let invoke = try await RunCommandTests.tabula(["action", "invoke", "hasher", "-p", "text", "abc", "--result", "--plain"], environment: environment)
        #expect(invoke.status == 0, "\(invoke.stderr)")
        #expect(invoke.stdout.contains("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
        let list = try await RunCommandTests.tabula(["activation", "list", "--json"], environment: environment)
        #expect(list.status == 0)
        #expect(list.stdout.contains("hasher"))
        // The README's server compiles functions to native code by default, in workers.
        #expect(server.stdout.contains("engine: native"))
        #expect(list.stdout.contains(#""key":"engine","value":"native""#) || list.stdout.contains(#""value":"native""#))
    }

    @Test func compiledCodeIsCachedAcrossRestartsAndATamperedEntryIsCompiledAgain() async throws {
        let first = try await ServerProcess()
        let client = Client(apiHost: first.apiHost, auth: try Credentials(parsing: try first.auth))
        try await client.putAction(name: "echo", module: try example("echo.wat"), isText: true)
        _ = try await client.invoke(name: "echo", parameters: ["n": 1], blocking: true, result: true)
        #expect(try await first.terminate(within: .seconds(30)) != nil)
        let cache = first.dataDirectory.appendingPathComponent("native-cache")
        let entries = try FileManager.default.contentsOfDirectory(atPath: cache.path)
        try #require(entries.count == 1, "one compiled module cached: \(entries)")
        let entry = cache.appendingPathComponent(entries[0])
        let written = try FileManager.default.attributesOfItem(atPath: entry.path)[.modificationDate] as? Date

        // The simulated TEE's sealing key survives the restart, so the entry is used as it is.
        let second = try await ServerProcess(dataDirectory: first.dataDirectory)
        let again = Client(apiHost: second.apiHost, auth: try Credentials(parsing: try second.auth))
        guard case .result(let result, _, _) = try await again.invoke(name: "echo", parameters: ["n": 2], blocking: true, result: true) else {
            Issue.record("expected a result")
            return
        }
        #expect(result == ["n": 2])
        #expect(try FileManager.default.attributesOfItem(atPath: entry.path)[.modificationDate] as? Date == written, "a cache hit does not rewrite the entry")
        #expect(try await second.terminate(within: .seconds(30)) != nil)

        // A tampered entry is refused: deleted, compiled again and rewritten, and the function runs.
        var bytes = [UInt8](try Data(contentsOf: entry))
        bytes[bytes.count - 100] ^= 0xFF
        try Data(bytes).write(to: entry)
        let third = try await ServerProcess(dataDirectory: first.dataDirectory)
        defer { _ = third.terminate(); third.removeData() }
        let last = Client(apiHost: third.apiHost, auth: try Credentials(parsing: try third.auth))
        guard case .result(let rerun, _, _) = try await last.invoke(name: "echo", parameters: ["n": 3], blocking: true, result: true) else {
            Issue.record("expected a result")
            return
        }
        #expect(rerun == ["n": 3])
        #expect([UInt8](try Data(contentsOf: entry)) != bytes, "the tampered entry was replaced")
    }

    @Test func invokeIsConfidentialByDefaultAndRefusesSimulatedAttestationUnlessAllowed() async throws {
        let server = try await ServerProcess()
        defer { _ = server.terminate(); server.removeData() }
        #expect(server.stderr.contains("SIMULATED"), "the server warns that attestation is simulated")
        let environment = ["TABULA_CONFIG_DIR": server.dataDirectory.path, "TABULA_APIHOST": server.apiHost.absoluteString]
        #expect(try await RunCommandTests.tabula(["action", "create", "hasher", "examples/c/hasher.wasm"], environment: environment).status == 0)

        let refused = try await RunCommandTests.tabula(["action", "invoke", "hasher", "-p", "text", "abc", "--result"], environment: environment)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("simulated"), "\(refused.stderr)")

        let sealed = try await RunCommandTests.tabula(["action", "invoke", "hasher", "-p", "text", "abc", "--result", "--allow-simulated", "--module", "examples/c/hasher.wasm"], environment: environment)
        #expect(sealed.status == 0, "\(sealed.stderr)")
        #expect(sealed.stdout.contains("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
        #expect(sealed.stdout.contains("attestation: SIMULATED"))
        #expect(sealed.stdout.contains("receipt verified"))

        let otherModule = try await RunCommandTests.tabula(["action", "invoke", "hasher", "--result", "--allow-simulated", "--module", "examples/echo.wat"], environment: environment)
        #expect(otherModule.status == 1)
        #expect(otherModule.stderr.contains("not the expected"), "\(otherModule.stderr)")

        let accepted = try await RunCommandTests.tabula(["action", "invoke", "hasher", "-p", "text", "abc", "--allow-simulated", "--json"], environment: environment)
        #expect(accepted.status == 0, "\(accepted.stderr)")
        let id = try #require(try JSONValue(parsing: accepted.stdout)["activationId"]?.stringValue)
        var result = try await RunCommandTests.tabula(["activation", "result", id], environment: environment)
        for _ in 0..<50 where result.status != 0 {
            try await Task.sleep(for: .milliseconds(100))
            result = try await RunCommandTests.tabula(["activation", "result", id], environment: environment)
        }
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
        #expect(result.stdout.contains("receipt verified"))

        let show = try await RunCommandTests.tabula(["attest", "show", "hasher", "--allow-simulated", "--json"], environment: environment)
        #expect(show.status == 0, "\(show.stderr)")
        let report = try JSONValue(parsing: show.stdout)
        #expect(report["tee"] == "simulated")
        #expect(report["function"]?["name"] == "hasher")
        #expect(try await RunCommandTests.tabula(["attest", "show"], environment: environment).status == 1)
    }

    @Test func sdkVerifiesEveryLinkOfTheChain() async throws {
        let server = try await ServerProcess()
        defer { _ = server.terminate(); server.removeData() }
        let client = Client(apiHost: server.apiHost, auth: try Credentials(parsing: try server.auth))
        try await client.putAction(name: "echo", module: try example("echo.wat"), isText: true)

        let refused = await #expect(throws: ClientError.self) { try await client.attest() }
        #expect(refused?.code == .attestationFailed)
        let enclave = try await client.attest(policy: AppraisalPolicy(allowSimulated: true))
        #expect(enclave.tee == "simulated")
        // The function runs native code (the server's default): a policy that accepts only the
        // interpreter, or another compiler, refuses its certificate; one that names it accepts it.
        #expect(enclave.runtime?.engine == "tabula-native+wasmkit-interpreter")
        let interpreterOnly = try await client.attest(policy: AppraisalPolicy(allowSimulated: true, engines: ["interpreter"]))
        let wrongEngine = await #expect(throws: ClientError.self) { try await client.verifyFunction(name: "echo", enclave: interpreterOnly) }
        #expect(wrongEngine?.message.contains("native engine") == true)
        let otherCompiler = try await client.attest(policy: AppraisalPolicy(allowSimulated: true, compilerDigests: [String(repeating: "ab", count: 32)]))
        await #expect(throws: ClientError.self) { try await client.verifyFunction(name: "echo", enclave: otherCompiler) }
        let certified = try await client.verifyFunction(name: "echo", enclave: enclave)
        #expect(certified.claims.engine == "native")
        let pinned = try await client.attest(policy: AppraisalPolicy(allowSimulated: true, engines: ["native"], compilerDigests: [try #require(certified.claims.compilerDigest)]))
        #expect(try await client.verifyFunction(name: "echo", enclave: pinned).claims.engine == "native")
        #expect(enclave.summary.hasPrefix("SIMULATED"))
        let strict = await #expect(throws: ClientError.self) {
            try await client.attest(policy: AppraisalPolicy(measurements: [String(repeating: "00", count: 48)], allowSimulated: true))
        }
        #expect(strict?.message.contains("reference measurements") == true)

        let wrongModule = await #expect(throws: ClientError.self) {
            try await client.verifyFunction(name: "echo", enclave: enclave, expectedDigest: [UInt8](repeating: 1, count: 32))
        }
        #expect(wrongModule?.code == .verificationFailed)
        let function = try await client.verifyFunction(name: "echo", enclave: enclave)

        guard case .completed(let reply) = try await client.invokeConfidential(name: "echo", parameters: ["n": 7], enclave: enclave, function: function) else {
            Issue.record("a blocking invocation of echo completes")
            return
        }
        #expect(reply.succeeded)
        #expect(reply.result?.result == ["n": 7])
        #expect(reply.receipt?.moduleDigest == function.claims.moduleDigest)

        // Unsigned by default: the answer is authentic to this client through its own response
        // keys, and its receipt is proven from the log.
        #expect(reply.receiptSignature == nil)
        let (head, index) = try await client.proveReceipt(reply, enclave: enclave)
        #expect(index < head.size)

        // Asked for, the receipt is signed too (for a third party), and the signature is checked.
        guard case .accepted(let ticket) = try await client.invokeConfidential(
            name: "echo", parameters: ["later": 1], enclave: enclave, function: function, blocking: false, signedReceipt: true) else {
            Issue.record("a non-blocking invocation is accepted")
            return
        }
        var opened: ConfidentialReply?
        for _ in 0..<100 where opened == nil {
            opened = try await client.confidentialResult(ticket)
            if opened == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(opened?.result?.result == ["later": 1])
        #expect(opened?.receiptSignature != nil)

        // A receipt that does not match what the client verified is refused.
        var otherModule = ticket
        otherModule.function.moduleDigest = String(repeating: "ab", count: 32)
        let mismatch = await #expect(throws: ClientError.self) { try await client.confidentialResult(otherModule) }
        #expect(mismatch?.code == .verificationFailed)
        var otherKey = ticket
        otherKey.identityKey = P256.Signing.PrivateKey().publicKey.x963Representation.base64EncodedString()
        let unsigned = await #expect(throws: ClientError.self) { try await client.confidentialResult(otherKey) }
        #expect(unsigned?.message.contains("not signed by the attested identity key") == true)
        var otherRequest = ticket
        otherRequest.requestDigest = String(repeating: "cd", count: 32)
        await #expect(throws: ClientError.self) { try await client.confidentialResult(otherRequest) }
    }

    @Test func acknowledgedActionsSurviveSIGKILL() async throws {
        let first = try await ServerProcess()
        let client = Client(apiHost: first.apiHost, auth: try Credentials(parsing: try first.auth))
        try await client.putAction(name: "echo", module: try example("echo.wat"), isText: true)
        let before = try await client.invoke(name: "echo", parameters: ["kept": true], blocking: true, result: true)
        first.kill()

        let second = try await ServerProcess(dataDirectory: first.dataDirectory)
        defer { _ = second.terminate(); second.removeData() }
        #expect(!second.stdout.contains("Created the namespace"), "the guest key is kept")
        let again = Client(apiHost: second.apiHost, auth: try Credentials(parsing: try second.auth))
        #expect(try await again.action(name: "echo").name == "echo")
        let activations = try await again.activations()
        #expect(activations.map(\.activationId).contains(try #require(before.activationID)))
        guard case .result(let result, _, let failed) = try await again.invoke(name: "echo", parameters: ["n": 1], blocking: true, result: true) else {
            Issue.record("expected a result")
            return
        }
        #expect(result == ["n": 1])
        #expect(!failed)
    }

    @Test func sigtermStopsGracefully() async throws {
        let server = try await ServerProcess()
        defer { server.removeData() }
        #expect(server.terminate() == 0)
    }

    @Test func adminNamespaceCommandsWorkOnTheStore() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-admin-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let create = try await RunCommandTests.tabula(["namespace", "create", "acme", "--data-dir", directory.path])
        #expect(create.status == 0)
        let key = create.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(key.split(separator: ":").count == 2)
        #expect(try await RunCommandTests.tabula(["namespace", "create", "acme", "--data-dir", directory.path]).status != 0)
        #expect(try await RunCommandTests.tabula(["namespace", "list", "--data-dir", directory.path]).stdout == "acme\n")

        let server = try await ServerProcess(dataDirectory: directory)
        defer { _ = server.terminate() }
        let client = Client(apiHost: server.apiHost, auth: try Credentials(parsing: key))
        #expect(try await client.namespaces() == ["acme"])
        _ = server.terminate()
        #expect(try await RunCommandTests.tabula(["namespace", "delete", "acme", "--data-dir", directory.path]).status == 0)
        #expect(try await RunCommandTests.tabula(["namespace", "list", "--data-dir", directory.path]).stdout == "")
    }
}

func example(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: RunCommandTests.repository.appendingPathComponent("examples").appendingPathComponent(path)))
}

extension ServeTests {
    /// A wrong key is refused at once (Linux's URLSession would otherwise wait for credentials forever).
    @Test func wrongKeyFailsQuicklyFromTheCLI() async throws {
        let server = try await ServerProcess()
        defer { _ = server.terminate(); server.removeData() }
        let environment = ["TABULA_CONFIG_DIR": server.dataDirectory.path, "TABULA_APIHOST": server.apiHost.absoluteString]
        let wrongKey = "00000000-0000-0000-0000-000000000000:" + String(repeating: "a", count: 64)
        let output = try await RunCommandTests.tabula(["action", "list", "--auth", wrongKey], environment: environment)
        #expect(output.status == 1)
        #expect(output.stderr.contains("error:"))
    }
}

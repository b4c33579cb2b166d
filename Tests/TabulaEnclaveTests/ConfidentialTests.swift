import Crypto
import Foundation
import Synchronization
import TabulaAttestation
import TabulaEnclave
import TabulaTestSupport
import TabulaWire
import Testing

/// A client's side of one sealed request, as the tests build it by hand from the wire formats.
struct SealedCall {
    let sealed: [UInt8]
    let context: ObliviousHTTP.ClientContext
    let plaintext: [UInt8]

    init(to monitor: Monitor, path: String, parameters: [UInt8] = Array(#"{"secret":"s3cr3t"}"#.utf8), fields: [BinaryHTTPField] = [], configuration: Int = 0) throws {
        let configurations = try KeyConfiguration.decodeList(monitor.keyConfigurations)
        plaintext = try BinaryHTTPRequest(method: "POST", authority: "tabula.test", path: path, headerFields: fields, content: parameters).encoded()
        (sealed, context) = try ObliviousHTTP.encapsulateRequest(plaintext, to: configurations[configuration])
    }

    /// Opens the sealed answer.
    func open(_ invocation: SealedInvocation) throws -> BinaryHTTPResponse {
        try BinaryHTTPResponse(decoding: try context.openResponse(invocation.response))
    }
}

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let now = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    func read() -> Date { now.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

@Suite("Monitor: keys, epochs, replay")
struct MonitorTests {
    @Test("the bundle's key list is signed by the certified identity key, with its epoch and expiry")
    func bundleSignature() async throws {
        let monitor = try await Monitor.start(provider: SimulatedTEE.ephemeral())
        let bundle = try await monitor.bundle(nonce: [1, 2, 3])
        #expect(bundle.tee == "simulated")
        let verified = try await IdentityCertificate.verify(Array(bundle.certificate.utf8), nonce: [1, 2, 3], at: Date())
        #expect(verified.publicKey.rawRepresentation == monitor.identityPublicKey.rawRepresentation)
        let list = Array(try #require(Data(base64Encoded: bundle.keyConfigs)))
        let signature = try P256.Signing.ECDSASignature(derRepresentation: try #require(Data(base64Encoded: bundle.keyConfigsSignature)))
        #expect(verified.publicKey.isValidSignature(signature, for: AttestationBundle.signedMessage(epoch: bundle.epoch, expires: bundle.expires, keyConfigs: list)))
        #expect(!verified.publicKey.isValidSignature(signature, for: AttestationBundle.signedMessage(epoch: bundle.epoch + 1, expires: bundle.expires, keyConfigs: list)))
        let configurations = try KeyConfiguration.decodeList(list)
        #expect(configurations.map(\.kem) == [.x25519HKDFSHA256, .xWing])
        #expect(configurations.allSatisfy { $0.symmetricAlgorithms.map(\.aead) == [.aes128GCM, .chaCha20Poly1305] })
    }

    @Test("keys rotate every epoch; the old keys open requests during the grace period only, then are erased")
    func rotation() async throws {
        let clock = TestClock()
        let monitor = try await Monitor.start(
            provider: SimulatedTEE.ephemeral(), configuration: Monitor.Configuration(rotation: .seconds(60), grace: .seconds(10)),
            clock: { clock.read() })
        try await withEnclave(monitor: monitor) { enclave in
            let path = "/api/v1/namespaces/test/actions/echo"
            let (first, second) = (try SealedCall(to: monitor, path: path), try SealedCall(to: monitor, path: path))
            let oldIDs = try KeyConfiguration.decodeList(monitor.keyConfigurations).map(\.keyID)
            #expect(monitor.epoch == 0)
            #expect(monitor.keyIDs == oldIDs)

            clock.advance(61)
            #expect(monitor.epoch == 1)
            let newIDs = try KeyConfiguration.decodeList(monitor.keyConfigurations).map(\.keyID)
            #expect(Set(newIDs).isDisjoint(with: oldIDs))
            // What a node of a cluster publishes: both epochs' keys while the old one is in grace.
            #expect(Set(monitor.keyIDs) == Set(newIDs + oldIDs))
            #expect(oldIDs.allSatisfy(monitor.holdsKey) && newIDs.allSatisfy(monitor.holdsKey))
            _ = try enclave.open(sealed: first.sealed)  // epoch 0 is in its grace period
            let late = try SealedCall(to: monitor, path: path)

            clock.advance(60)  // epoch 2: epoch 0's keys are erased, epoch 1's in grace
            #expect(monitor.epoch == 2)
            #expect(Set(monitor.keyIDs).isDisjoint(with: oldIDs) && Set(monitor.keyIDs).isSuperset(of: newIDs))
            #expect(!oldIDs.contains(where: monitor.holdsKey))
            let error = #expect(throws: EnclaveError.self) { try enclave.open(sealed: second.sealed) }
            #expect(error?.code == .sealedRequest)
            _ = try enclave.open(sealed: late.sealed)
        }
    }

    @Test("a request sealed to an erased epoch is refused and names the reason")
    func erasedKey() async throws {
        let clock = TestClock()
        let monitor = try await Monitor.start(
            provider: SimulatedTEE.ephemeral(), configuration: Monitor.Configuration(rotation: .seconds(60), grace: .seconds(10)),
            clock: { clock.read() })
        try await withEnclave(monitor: monitor) { enclave in
            let call = try SealedCall(to: monitor, path: "/api/v1/namespaces/test/actions/echo")
            clock.advance(71)  // epoch 1, and epoch 0's grace period is over
            let error = #expect(throws: EnclaveError.self) { try enclave.open(sealed: call.sealed) }
            #expect(error?.code == .sealedRequest)
            #expect(error?.message.contains("does not have") == true)
        }
    }

    @Test("a replayed request is refused; a fresh sealing of the same parameters is not")
    func replay() async throws {
        let monitor = try await Monitor.start(provider: SimulatedTEE.ephemeral())
        try await withEnclave(monitor: monitor) { enclave in
            let call = try SealedCall(to: monitor, path: "/api/v1/namespaces/test/actions/echo")
            _ = try enclave.open(sealed: call.sealed)
            let error = #expect(throws: EnclaveError.self) { try enclave.open(sealed: call.sealed) }
            #expect(error?.code == .replayedRequest)
            _ = try enclave.open(sealed: try SealedCall(to: monitor, path: "/api/v1/namespaces/test/actions/echo").sealed)
        }
    }

    @Test("every flipped byte of a sealed request is refused, and the enclave keeps serving")
    func flippedBytes() async throws {
        let monitor = try await Monitor.start(provider: SimulatedTEE.ephemeral())
        try await withEnclave(monitor: monitor) { enclave in
            for configuration in [0, 1] {
                let call = try SealedCall(to: monitor, path: "/api/v1/namespaces/test/actions/echo", configuration: configuration)
                for index in call.sealed.indices {
                    var altered = call.sealed
                    altered[index] ^= 0x01
                    let error = #expect(throws: EnclaveError.self) { try enclave.open(sealed: altered) }
                    #expect(error?.code == .sealedRequest)
                }
                #expect(throws: EnclaveError.self) { try enclave.open(sealed: Array(call.sealed.dropLast())) }
                _ = try enclave.open(sealed: call.sealed)
            }
            #expect(throws: EnclaveError.self) { try enclave.open(sealed: []) }
        }
    }
}

@Suite("Confidential invocation in the enclave")
struct ConfidentialInvocationTests {
    private func withEcho(policy: Policy = Policy(), _ body: (Enclave, Monitor, FunctionName) async throws -> Void) async throws {
        let monitor = try await Monitor.start(provider: SimulatedTEE.ephemeral())
        try await withEnclave(monitor: monitor) { enclave in
            let name = FunctionName(namespace: "test", name: "echo")
            try await enclave.load(FunctionDefinition(name: name, module: try example("echo.wat"), policy: policy))
            try await body(enclave, monitor, name)
        }
    }

    @Test("the sealed answer holds the result and a receipt that matches the request and the response, committed to for the log; signed only when asked")
    func receipt() async throws {
        try await withEcho { enclave, monitor, name in
            let call = try SealedCall(to: monitor, path: "/api/v1/namespaces/test/actions/echo")
            let outcome = try await enclave.invoke(name, sealed: try enclave.open(sealed: call.sealed), caller: "test", defaults: ["d": 1], activationID: "a1")
            #expect(outcome.status == .success)
            let response = try call.open(outcome)
            #expect(response.status == 200)
            let result = try JSONDecoder().decode(ConfidentialResult.self, from: Data(response.content))
            #expect(result.result == ["secret": "s3cr3t", "d": 1])
            #expect(result.activationId == "a1")

            let field = { (response: BinaryHTTPResponse, name: String) in response.headerFields.first { $0.name == name }.flatMap { Data(base64Encoded: $0.value) } }
            let receiptBytes = try #require(field(response, Confidential.receiptField))
            #expect(field(response, Confidential.receiptSignatureField) == nil, "a receipt is signed only when asked")
            #expect(outcome.receiptCommitment == Array(SHA256.hash(data: receiptBytes)))
            let receipt = try JSONDecoder().decode(Receipt.self, from: receiptBytes)
            #expect(receipt.version == 2 && receipt.salt.count == 32)

            // Asked for, the receipt is signed by the identity key; every receipt has its own salt.
            let signedCall = try SealedCall(to: monitor, path: "/api/v1/namespaces/test/actions/echo", fields: [BinaryHTTPField(Confidential.signReceiptField, "?1")])
            let signedOutcome = try await enclave.invoke(name, sealed: try enclave.open(sealed: signedCall.sealed), caller: "test", activationID: "a1s")
            let signedResponse = try signedCall.open(signedOutcome)
            let signedBytes = try #require(field(signedResponse, Confidential.receiptField))
            let signature = try P256.Signing.ECDSASignature(derRepresentation: try #require(field(signedResponse, Confidential.receiptSignatureField)))
            #expect(monitor.identityPublicKey.isValidSignature(signature, for: signedBytes))
            #expect(try JSONDecoder().decode(Receipt.self, from: signedBytes).salt != receipt.salt)
            #expect(receipt.activationId == "a1")
            #expect(receipt.requestDigest == Array(SHA256.hash(data: call.plaintext)).hex)
            #expect(receipt.responseDigest == Array(SHA256.hash(data: response.content)).hex)
            #expect(receipt.moduleDigest == Array(SHA256.hash(data: try example("echo.wat"))).hex)
            #expect(receipt.tee == "simulated")
            #expect(receipt.sequence == 1)

            // The function certificate names the same module, snapshot and policy.
            let pem = try enclave.functionCertificate(name, version: "0.0.1")
            let claims = try FunctionCertificate.verify(Array(pem.utf8), identityKey: monitor.identityPublicKey, at: Date())
            #expect(claims.moduleDigest == receipt.moduleDigest)
            #expect(claims.snapshotDigest == receipt.snapshotDigest)
            #expect(claims.policyDigest == receipt.policyDigest)
            #expect(claims.namespace == "test" && claims.name == "echo" && claims.version == "0.0.1")
        }
    }

    @Test("a function whose policy signs receipts gets every receipt signed, and the policy digest says so")
    func policySignsReceipts() async throws {
        try await withEcho(policy: Policy(signedReceipts: true)) { enclave, monitor, name in
            let call = try SealedCall(to: monitor, path: "/api/v1/namespaces/test/actions/echo")
            let response = try call.open(try await enclave.invoke(name, sealed: try enclave.open(sealed: call.sealed), caller: "test", activationID: "a9"))
            let field = { (name: String) in try #require(response.headerFields.first { $0.name == name }.flatMap { Data(base64Encoded: $0.value) }) }
            let signature = try P256.Signing.ECDSASignature(derRepresentation: try field(Confidential.receiptSignatureField))
            #expect(monitor.identityPublicKey.isValidSignature(signature, for: try field(Confidential.receiptField)))
        }
        let plain = FunctionDefinition(name: FunctionName(namespace: "t", name: "f"), module: try example("echo.wat"))
        var signing = plain
        signing.policy.signedReceipts = true
        #expect(plain.policyDigest != signing.policyDigest)
    }

    @Test("a sealed request for one function sent to another's path is refused inside the seal")
    func wrongFunction() async throws {
        try await withEcho { enclave, monitor, name in
            let call = try SealedCall(to: monitor, path: "/api/v1/namespaces/test/actions/other")
            let outcome = try await enclave.invoke(name, sealed: try enclave.open(sealed: call.sealed), caller: "test", activationID: "a2")
            let response = try call.open(outcome)
            #expect(response.status == 400)
            #expect(String(decoding: response.content, as: UTF8.self).contains("/test/other but was sent to /test/echo"))
            #expect(outcome.status == .applicationError)
        }
    }

    @Test("an expected digest that differs from the module's is refused with 409; the right one runs")
    func digest() async throws {
        try await withEcho { enclave, monitor, name in
            let wrong = try SealedCall(to: monitor, path: "/api/v1/namespaces/_/actions/echo", fields: [BinaryHTTPField(Confidential.expectDigestField, "sha-256=" + String(repeating: "00", count: 32))])
            let refused = try wrong.open(try await enclave.invoke(name, sealed: try enclave.open(sealed: wrong.sealed), caller: "test", activationID: "a3"))
            #expect(refused.status == 409)
            let digest = Array(SHA256.hash(data: try example("echo.wat")))
            let right = try SealedCall(to: monitor, path: "/api/v1/namespaces/_/actions/echo", fields: [BinaryHTTPField(Confidential.expectDigestField, Confidential.digestValue(digest))])
            let ran = try right.open(try await enclave.invoke(name, sealed: try enclave.open(sealed: right.sealed), caller: "test", activationID: "a4"))
            #expect(ran.status == 200)
        }
    }

    @Test("the policy's invokers decide who may call; requireConfidential refuses plain invocations")
    func policy() async throws {
        try await withEcho(policy: Policy(invokers: ["friend"], requireConfidential: true)) { enclave, monitor, name in
            let stranger = try SealedCall(to: monitor, path: "/api/v1/namespaces/test/actions/echo")
            #expect(try stranger.open(try await enclave.invoke(name, sealed: try enclave.open(sealed: stranger.sealed), caller: "stranger", activationID: "a5")).status == 403)
            let friend = try SealedCall(to: monitor, path: "/api/v1/namespaces/test/actions/echo")
            #expect(try friend.open(try await enclave.invoke(name, sealed: try enclave.open(sealed: friend.sealed), caller: "friend", activationID: "a6")).status == 200)
            let error = await #expect(throws: EnclaveError.self) { try await enclave.invoke(name, parameters: [:]) }
            #expect(error?.code == .confidentialRequired)
        }
    }

    @Test("a flawed inner request is refused without its plaintext in any error outside the seal", arguments: [false, true])
    func flawedRequestsStaySealed(routedToUnknown: Bool) async throws {
        try await withEcho { enclave, monitor, name in
            let configuration = try KeyConfiguration.decodeList(monitor.keyConfigurations)[0]
            let marker = "mk" + Array(SHA256.hash(data: Array(UUID().uuidString.utf8))).hex.prefix(24)
            for (index, flawed) in MarkedInnerRequest.all(marker: marker, namespace: "test", action: "echo").enumerated() {
                let (sealed, context) = try ObliviousHTTP.encapsulateRequest(flawed.bytes, to: configuration)
                let request: SealedRequest
                do {
                    request = try enclave.open(sealed: sealed)
                } catch let error as EnclaveError {
                    #expect(!flawed.decodes, "\(flawed): \(error)")
                    #expect(error.code == .sealedRequest, "\(flawed)")
                    #expect(!"\(error) \(error.message)".contains(marker), "\(flawed): \(error.message)")
                    continue
                }
                #expect(flawed.decodes, "\(flawed) opened")
                // The control plane routes by the outer path; an unknown function fails before
                // anything is read, naming only that routing.
                let target = routedToUnknown ? FunctionName(namespace: "test", name: "absent") : name
                do {
                    let outcome = try await enclave.invoke(target, sealed: request, caller: "test", activationID: "m\(index)")
                    #expect(!routedToUnknown)
                    #expect(outcome.status == .applicationError, "\(flawed)")
                    let inner = try BinaryHTTPResponse(decoding: try context.openResponse(outcome.response))
                    #expect((400..<500).contains(inner.status), "\(flawed): \(inner.status)")
                } catch {
                    #expect(routedToUnknown, "\(flawed): \(error)")
                    #expect(!"\(error)".contains(marker), "\(flawed): \(error)")
                }
            }
        }
    }

    @Test("numbers keep every digit from the caller to the function and back, plain and sealed")
    func exactNumbers() async throws {
        let numbers = [
            "18446744073709551615", "123456789012345678901234567890", "0.1000000000000000055511151231257827", "-0", "1e400", "1.0", "-1E-5",
            "9223372036854775807", "0.5",
        ]
        let parameters = "{" + numbers.enumerated().map { #""n\#($0.offset)":\#($0.element)"# }.joined(separator: ",") + "}"
        let expected = try JSONValue(parsing: parameters)
        try await withEcho { enclave, monitor, name in
            let plain = try await enclave.invoke(name, parameters: expected)
            #expect(plain.response.result == expected)
            #expect(plain.response.result.encodedString == parameters)

            let call = try SealedCall(to: monitor, path: "/api/v1/namespaces/test/actions/echo", parameters: Array(parameters.utf8))
            let response = try call.open(try await enclave.invoke(name, sealed: try enclave.open(sealed: call.sealed), caller: "test", activationID: "n1"))
            #expect(response.status == 200)
            let text = String(decoding: response.content, as: UTF8.self)
            #expect(text.contains(#""result":\#(parameters)"#), "\(text)")
            #expect(try JSONValue.decode(ConfidentialResult.self, from: response.content).result == expected)
        }
    }

    @Test("parameters that are not one JSON object are refused inside the seal")
    func badParameters() async throws {
        try await withEcho { enclave, monitor, name in
            let call = try SealedCall(to: monitor, path: "/api/v1/namespaces/test/actions/echo", parameters: Array("[1,2]".utf8))
            #expect(try call.open(try await enclave.invoke(name, sealed: try enclave.open(sealed: call.sealed), caller: "test", activationID: "a7")).status == 400)
        }
    }
}

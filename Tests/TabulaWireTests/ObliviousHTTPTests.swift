import Crypto
import Foundation
import TabulaTestSupport
import Testing
@testable import TabulaWire

@Suite("Oblivious HTTP")
struct ObliviousHTTPTests {
    typealias GatewayKey = ObliviousHTTP.GatewayKey

    /// The suites a gateway can run, one round trip each.
    enum Suite: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case x25519AES128GCM, x25519ChaCha20Poly1305, xWingAES128GCM

        var kem: KeyConfiguration.KEM {
            self == .xWingAES128GCM ? .xWing : .x25519HKDFSHA256
        }

        var algorithm: KeyConfiguration.SymmetricAlgorithm {
            self == .x25519ChaCha20Poly1305 ? .hkdfSHA256ChaCha20Poly1305 : .hkdfSHA256AES128GCM
        }

        var testDescription: String { "\(kem), \(algorithm)" }
    }

    // MARK: RFC 9458 Appendix A

    @Test("RFC 9458 A: the key configuration decodes and re-encodes byte for byte")
    func rfcKeyConfiguration() throws {
        let vector = try OHTTPVector.load()
        let configuration = try KeyConfiguration(decoding: bytes(vector.keyConfig))
        #expect(configuration.keyID == 1)
        #expect(configuration.kem == .x25519HKDFSHA256)
        #expect(configuration.symmetricAlgorithms == [.hkdfSHA256AES128GCM, .hkdfSHA256ChaCha20Poly1305])
        #expect(configuration.encoded == bytes(vector.keyConfig))

        let gateway = try GatewayKey(keyID: 1, kem: .x25519HKDFSHA256, privateKey: bytes(vector.skR))
        #expect(gateway.configuration == configuration)
        #expect(gateway.privateKeyBytes == bytes(vector.skR))
    }

    @Test("RFC 9458 A: the gateway opens the request and seals the response exactly")
    func rfcGateway() throws {
        let vector = try OHTTPVector.load()
        let gateway = try GatewayKey(keyID: 1, kem: .x25519HKDFSHA256, privateKey: bytes(vector.skR))
        let encapsulatedRequest = bytes(vector.encapsulatedRequest)
        #expect(ObliviousHTTP.info(header: Array(encapsulatedRequest[..<7])) == bytes(vector.info))

        let (request, context) = try gateway.decapsulateRequest(encapsulatedRequest)
        #expect(request == bytes(vector.requestBHTTP))
        #expect(context.response.secret.withUnsafeBytes { Array($0) } == bytes(vector.exportedSecret))
        let response = try context.sealResponse(bytes(vector.responseBHTTP), nonce: bytes(vector.responseNonce))
        #expect(response == bytes(vector.encapsulatedResponse))
    }

    @Test("RFC 9458 A: the client opens the response")
    func rfcClient() throws {
        let vector = try OHTTPVector.load()
        // The client's ephemeral key is random in the API, so rebuild its context from the
        // vector's `enc` and exported secret, which is all a client context holds.
        let protection = try ObliviousHTTP.ResponseProtection(aead: .aes128GCM, encapsulatedKey: bytes(vector.pkE)) { _, count in
            #expect(count == 16)
            return SymmetricKey(data: bytes(vector.exportedSecret))
        }
        let client = ObliviousHTTP.ClientContext(response: protection)
        #expect(try client.openResponse(bytes(vector.encapsulatedResponse)) == bytes(vector.responseBHTTP))
    }

    // MARK: Round trips

    @Test("client → gateway → client", arguments: Suite.allCases)
    func roundTrip(suite: Suite) throws {
        let gateway = try GatewayKey.generate(keyID: 7, kem: suite.kem)
        let message = Array("GET /api/v1/namespaces/_/actions/hello".utf8)
        let (encapsulated, client) = try ObliviousHTTP.encapsulateRequest(message, to: gateway.configuration, suite: suite.algorithm)
        #expect(encapsulated.count == 7 + suite.kem.encapsulatedKeyByteCount! + message.count + 16)
        #expect(Array(encapsulated[..<7]) == ObliviousHTTP.header(keyID: 7, kem: suite.kem, suite.algorithm))

        let (request, server) = try gateway.decapsulateRequest(encapsulated)
        #expect(request == message)
        let answer = Array(#"{"status":200}"#.utf8)
        let response = try server.sealResponse(answer)
        #expect(response.count == max(suite.algorithm.aead.keyByteCount!, 12) + answer.count + 16)
        #expect(try client.openResponse(response) == answer)

        // A fresh nonce per seal: sealing again gives different bytes that open to the same answer.
        let again = try server.sealResponse(answer)
        #expect(again != response)
        #expect(try client.openResponse(again) == answer)
    }

    @Test("a reloaded private key opens what was sealed to the original", arguments: Suite.allCases)
    func reloadedKey(suite: Suite) throws {
        let original = try GatewayKey.generate(keyID: 3, kem: suite.kem)
        let reloaded = try GatewayKey(keyID: 3, kem: suite.kem, privateKey: original.privateKeyBytes)
        #expect(reloaded.configuration == original.configuration)
        let (encapsulated, _) = try ObliviousHTTP.encapsulateRequest([1, 2, 3], to: original.configuration, suite: suite.algorithm)
        #expect(try reloaded.decapsulateRequest(encapsulated).request == [1, 2, 3])
    }

    @Test("without a suite, the client takes the gateway's first supported pair")
    func defaultSuite() throws {
        let gateway = try GatewayKey.generate(keyID: 1, symmetricAlgorithms: [.hkdfSHA256ChaCha20Poly1305, .hkdfSHA256AES128GCM])
        let (encapsulated, _) = try ObliviousHTTP.encapsulateRequest([], to: gateway.configuration)
        #expect(Array(encapsulated[3..<7]) == [0, 1, 0, 3])
        #expect(try gateway.decapsulateRequest(encapsulated).request == [])
    }

    // MARK: Tampering

    @Test("every flipped byte of a request or response is rejected", arguments: Suite.allCases)
    func flippedBytes(suite: Suite) throws {
        let gateway = try GatewayKey.generate(keyID: 9, kem: suite.kem)
        let (encapsulated, client) = try ObliviousHTTP.encapsulateRequest(Array("hello".utf8), to: gateway.configuration, suite: suite.algorithm)
        for position in encapsulated.indices {
            var altered = encapsulated
            altered[position] ^= 0x01
            let error = #expect(throws: WireError.self, "request byte \(position)") {
                try gateway.decapsulateRequest(altered)
            }
            let expected: WireError.Code = switch position {
            case 0: .unknownKeyID
            case 1..<7: .unsupportedAlgorithm
            default: .authenticationFailed
            }
            #expect(error?.code == expected, "request byte \(position)")
        }

        let (_, server) = try gateway.decapsulateRequest(encapsulated)
        let response = try server.sealResponse(Array("world".utf8))
        for position in response.indices {
            var altered = response
            altered[position] ^= 0x80
            let error = #expect(throws: WireError.self, "response byte \(position)") {
                try client.openResponse(altered)
            }
            #expect(error?.code == .authenticationFailed, "response byte \(position)")
        }
    }

    @Test("a response opens only with the context of its own request")
    func responseForAnotherRequest() throws {
        let gateway = try GatewayKey.generate(keyID: 1)
        let (_, firstClient) = try ObliviousHTTP.encapsulateRequest([1], to: gateway.configuration)
        let (second, _) = try ObliviousHTTP.encapsulateRequest([2], to: gateway.configuration)
        let response = try gateway.decapsulateRequest(second).context.sealResponse([42])
        let error = #expect(throws: WireError.self) { try firstClient.openResponse(response) }
        #expect(error?.code == .authenticationFailed)
    }

    // MARK: Refusals

    @Test("a request for another key id is refused as unknown")
    func unknownKeyID() throws {
        let gateway = try GatewayKey.generate(keyID: 1)
        let other = try GatewayKey.generate(keyID: 2)
        let (encapsulated, _) = try ObliviousHTTP.encapsulateRequest([1, 2, 3], to: other.configuration)
        let error = #expect(throws: WireError.self) { try gateway.decapsulateRequest(encapsulated) }
        #expect(error?.code == .unknownKeyID)
        #expect(error?.message.contains("key 2") == true)
    }

    @Test("a request with the right key id but another key fails authentication")
    func sameKeyIDOtherKey() throws {
        let gateway = try GatewayKey.generate(keyID: 1)
        let impostor = try GatewayKey.generate(keyID: 1)
        let (encapsulated, _) = try ObliviousHTTP.encapsulateRequest([1, 2, 3], to: impostor.configuration)
        let error = #expect(throws: WireError.self) { try gateway.decapsulateRequest(encapsulated) }
        #expect(error?.code == .authenticationFailed)
    }

    @Test("a suite the gateway does not offer is refused on both sides")
    func unofferedSuite() throws {
        let gateway = try GatewayKey.generate(keyID: 1, symmetricAlgorithms: [.hkdfSHA256AES128GCM])
        let clientError = #expect(throws: WireError.self) {
            try ObliviousHTTP.encapsulateRequest([], to: gateway.configuration, suite: .hkdfSHA256ChaCha20Poly1305)
        }
        #expect(clientError?.code == .unsupportedAlgorithm)

        // A client working from a configuration that claims ChaCha20-Poly1305 for the same key.
        let claimed = try KeyConfiguration(
            keyID: 1, kem: .x25519HKDFSHA256, publicKey: gateway.configuration.publicKey,
            symmetricAlgorithms: [.hkdfSHA256ChaCha20Poly1305]
        )
        let (encapsulated, _) = try ObliviousHTTP.encapsulateRequest([], to: claimed)
        let gatewayError = #expect(throws: WireError.self) { try gateway.decapsulateRequest(encapsulated) }
        #expect(gatewayError?.code == .unsupportedAlgorithm)

        // A KEM mismatch under the same key id.
        let xWing = try GatewayKey.generate(keyID: 1, kem: .xWing)
        let (xWingRequest, _) = try ObliviousHTTP.encapsulateRequest([], to: xWing.configuration)
        let kemError = #expect(throws: WireError.self) { try gateway.decapsulateRequest(xWingRequest) }
        #expect(kemError?.code == .unsupportedAlgorithm)
    }

    @Test("unimplemented algorithms are refused, not crashed on")
    func unimplementedAlgorithms() throws {
        let unknownAEAD = KeyConfiguration.SymmetricAlgorithm(kdf: .hkdfSHA256, aead: .init(rawValue: 0x0002))
        let configuration = try KeyConfiguration(keyID: 1, kem: .x25519HKDFSHA256, publicKey: Array(repeating: 9, count: 32), symmetricAlgorithms: [unknownAEAD])
        #expect(configuration.preferredSymmetricAlgorithm == nil)
        let error = #expect(throws: WireError.self) { try ObliviousHTTP.encapsulateRequest([], to: configuration) }
        #expect(error?.code == .unsupportedAlgorithm)

        let gatewayError = #expect(throws: WireError.self) {
            try GatewayKey.generate(keyID: 1, symmetricAlgorithms: [unknownAEAD])
        }
        #expect(gatewayError?.code == .unsupportedAlgorithm)
        let kemError = #expect(throws: WireError.self) {
            try GatewayKey(keyID: 1, kem: .init(rawValue: 0x0010), privateKey: Array(repeating: 1, count: 32))
        }
        #expect(kemError?.code == .unsupportedAlgorithm)
        let keyError = #expect(throws: WireError.self) {
            try GatewayKey(keyID: 1, kem: .x25519HKDFSHA256, privateKey: [1, 2, 3])
        }
        #expect(keyError?.code == .malformed)
    }

    // MARK: Truncation

    @Test("every truncation of a request, response or key configuration throws")
    func truncatedInput() throws {
        let vector = try OHTTPVector.load()
        let gateway = try GatewayKey(keyID: 1, kem: .x25519HKDFSHA256, privateKey: bytes(vector.skR))
        let request = bytes(vector.encapsulatedRequest)
        for length in 0..<request.count {
            let error = #expect(throws: WireError.self, "request prefix \(length)") {
                try gateway.decapsulateRequest(Array(request[..<length]))
            }
            // Header, enc and a tag are the minimum; anything longer is cut-off ciphertext.
            #expect(error?.code == (length < 7 + 32 + 16 ? .truncated : .authenticationFailed), "request prefix \(length)")
        }

        let (_, context) = try gateway.decapsulateRequest(request)
        let client = ObliviousHTTP.ClientContext(response: context.response)
        let response = bytes(vector.encapsulatedResponse)
        #expect(try client.openResponse(response) == bytes(vector.responseBHTTP))
        for length in 0..<response.count {
            let error = #expect(throws: WireError.self, "response prefix \(length)") {
                try client.openResponse(Array(response[..<length]))
            }
            #expect(error?.code == (length < 16 + 16 ? .truncated : .authenticationFailed), "response prefix \(length)")
        }

        let keyConfig = bytes(vector.keyConfig)
        for length in 0..<keyConfig.count {
            let error = #expect(throws: WireError.self, "key configuration prefix \(length)") {
                try KeyConfiguration(decoding: Array(keyConfig[..<length]))
            }
            #expect(error?.code == .truncated, "key configuration prefix \(length)")
        }
    }

    // MARK: Key configurations

    @Test("malformed key configurations throw")
    func malformedKeyConfiguration() throws {
        let valid = try bytes(OHTTPVector.load().keyConfig)
        let trailing = #expect(throws: WireError.self) { try KeyConfiguration(decoding: valid + [0]) }
        #expect(trailing?.code == .malformed)

        var oddLength = valid
        oddLength[36] = 0x06  // algorithms length 6: not a multiple of 4
        let oddError = #expect(throws: WireError.self) { try KeyConfiguration(decoding: oddLength) }
        #expect(oddError?.code == .malformed)

        var empty = Array(valid[..<35]) + [0, 0]
        let emptyError = #expect(throws: WireError.self) { try KeyConfiguration(decoding: empty) }
        #expect(emptyError?.code == .malformed)
        empty[1] = 0x00; empty[2] = 0x10  // P-256: a KEM whose key length is unknown here
        let kemError = #expect(throws: WireError.self) { try KeyConfiguration(decoding: empty) }
        #expect(kemError?.code == .unsupportedAlgorithm)

        let shortKey = #expect(throws: WireError.self) {
            try KeyConfiguration(keyID: 1, kem: .xWing, publicKey: Array(repeating: 0, count: 32), symmetricAlgorithms: [.hkdfSHA256AES128GCM])
        }
        #expect(shortKey?.code == .malformed)
        let noAlgorithms = #expect(throws: WireError.self) {
            try KeyConfiguration(keyID: 1, kem: .x25519HKDFSHA256, publicKey: Array(repeating: 0, count: 32), symmetricAlgorithms: [])
        }
        #expect(noAlgorithms?.code == .malformed)
    }

    @Test("application/ohttp-keys lists round-trip and skip unknown KEMs")
    func keyConfigurationList() throws {
        let x25519 = try GatewayKey.generate(keyID: 1).configuration
        let xWing = try GatewayKey.generate(keyID: 2, kem: .xWing, symmetricAlgorithms: [.hkdfSHA256AES128GCM]).configuration
        let list = KeyConfiguration.encodeList([x25519, xWing])
        #expect(list.count == 2 + x25519.encoded.count + 2 + xWing.encoded.count)
        #expect(Array(list[..<2]) == [0, 45])  // 1 + 2 + 32 + 2 + 2 × 4
        #expect(try KeyConfiguration.decodeList(list) == [x25519, xWing])

        // A P-256 configuration (0x0010, 65-byte key) from a newer gateway is stepped over.
        let p256: [UInt8] = [3, 0x00, 0x10] + Array(repeating: 4, count: 65) + [0, 4, 0, 1, 0, 1]
        let mixed: [UInt8] = [0, UInt8(p256.count)] + p256 + list
        #expect(try KeyConfiguration.decodeList(mixed) == [x25519, xWing])

        let onlyUnknown = #expect(throws: WireError.self) { try KeyConfiguration.decodeList([0, UInt8(p256.count)] + p256) }
        #expect(onlyUnknown?.code == .unsupportedAlgorithm)
        let empty = #expect(throws: WireError.self) { try KeyConfiguration.decodeList([]) }
        #expect(empty?.code == .unsupportedAlgorithm)
        for length in [1, 2, 30, list.count - 1] {
            let error = #expect(throws: WireError.self, "list prefix \(length)") { try KeyConfiguration.decodeList(Array(list[..<length])) }
            #expect(error?.code == .truncated, "list prefix \(length)")
        }
    }

    @Test("error codes are distinct and messages say what is wrong")
    func errorCodes() {
        #expect(Set(WireError.Code.allCases.map(\.rawValue)).count == WireError.Code.allCases.count)
        let error = WireError(.unknownKeyID, "the request is encrypted to key 2")
        #expect(error.description == "unknown-key-id: the request is encrypted to key 2")
    }
}

/// RFC 9458 Appendix A, as hex strings.
private struct OHTTPVector: Decodable {
    var skR: String
    var keyConfig: String
    var requestBHTTP: String
    var pkE: String
    var info: String
    var encapsulatedRequest: String
    var responseBHTTP: String
    var exportedSecret: String
    var encapsulatedResponse: String
    var responseNonce: String

    enum CodingKeys: String, CodingKey {
        case skR, keyConfig = "key_config", requestBHTTP = "request_bhttp", pkE, info
        case encapsulatedRequest = "encapsulated_request", responseBHTTP = "response_bhttp"
        case exportedSecret = "exported_secret", encapsulatedResponse = "encapsulated_response"
        case responseNonce = "response_nonce"
    }

    static func load() throws -> OHTTPVector {
        try JSONDecoder().decode(OHTTPVector.self, from: Fixtures.data("ohttp/rfc9458-appendixA.json"))
    }
}

private func bytes(_ hex: String) -> [UInt8] {
    guard let bytes = [UInt8](hex: hex) else { preconditionFailure("not hex: \(hex)") }
    return bytes
}

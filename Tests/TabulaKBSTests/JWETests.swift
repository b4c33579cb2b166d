import Crypto
import _CryptoExtras
import Foundation
import TabulaTestSupport
import Testing
@testable import TabulaKBS

/// JWEs as Trustee's Key Broker Service sends resources: checked against RFC 7518's published
/// Concat KDF vector and against an independent implementation (Python's jwcrypto, from Debian's
/// python3-jwcrypto), in both directions, for both key management algorithms.
@Suite("JWE and JWK")
struct JWETests {
    /// RFC 7518 Appendix C: the key Concat KDF derives for ECDH-ES with A128GCM, apu "Alice", apv "Bob".
    @Test func concatKDFMatchesRFC7518AppendixC() {
        let z: [UInt8] = [158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156,
                          251, 49, 110, 163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196]
        let key = JWE.concatKDF(z: z, algorithmID: "A128GCM", apu: Array("Alice".utf8), apv: Array("Bob".utf8), keyBits: 128)
        #expect(Base64URL.encode(key) == "VqqN6vgjbSBcIijNcacQGg")
    }

    @Test func sealedJWEsOpenAndRefuseEveryAlteration() throws {
        let ec = P256.KeyAgreement.PrivateKey()
        let rsa = try _RSA.Encryption.PrivateKey(keySize: .bits2048)
        let secret = Array("a tenant's database password \u{0}\u{1}".utf8)
        for (jwk, recipient, other) in [
            (JWK(ec.publicKey), JWE.Recipient.p256(ec), JWE.Recipient.p256(P256.KeyAgreement.PrivateKey())),
            (try JWK(rsa.publicKey), JWE.Recipient.rsa(rsa), JWE.Recipient.rsa(try _RSA.Encryption.PrivateKey(keySize: .bits2048))),
        ] {
            let sealed = try JWE.seal(secret, to: jwk)
            #expect(try sealed.open(with: recipient) == secret)
            // Fresh content key and iv every time.
            let again = try JWE.seal(secret, to: jwk)
            #expect(again.iv != sealed.iv && again.encryptedKey != sealed.encryptedKey)
            #expect(throws: BrokerError.self) { try sealed.open(with: other) }
            for field in [\JWE.ciphertext, \JWE.tag, \JWE.encryptedKey, \JWE.iv] {
                var altered = sealed
                var bytes = try Base64URL.decode(altered[keyPath: field], field: "test")
                bytes[0] ^= 1
                altered[keyPath: field] = Base64URL.encode(bytes)
                let error = #expect(throws: BrokerError.self) { try altered.open(with: recipient) }
                #expect(error?.code == .decryptionFailed || error?.code == .malformed)
            }
            // The protected header is authenticated: another header does not open.
            var header = sealed
            header.protected = Base64URL.encode(Array(#"{"alg":"\#(jwk.alg!)","enc":"A256GCM","kid":"x"}"#.utf8))
            #expect(throws: BrokerError.self) { try header.open(with: recipient) }
        }
        // An algorithm that does not fit the key, or is not offered.
        let rsaSealed = try JWE.seal(secret, to: try JWK(rsa.publicKey))
        #expect((#expect(throws: BrokerError.self) { try rsaSealed.open(with: .p256(ec)) })?.code == .invalidKey)
        var otherEnc = rsaSealed
        otherEnc.protected = Base64URL.encode(Array(#"{"alg":"RSA-OAEP-256","enc":"A128CBC-HS256"}"#.utf8))
        #expect((#expect(throws: BrokerError.self) { try otherEnc.open(with: .rsa(rsa)) })?.code == .unsupportedAlgorithm)
        #expect((#expect(throws: BrokerError.self) { try JWE.seal(secret, to: JWK(kty: "oct")) })?.code == .unsupportedAlgorithm)
    }

    @Test func hostileKeysAreRefused() throws {
        let good = JWK(P256.KeyAgreement.PrivateKey().publicKey)
        var offCurve = good
        offCurve.y = Base64URL.encode([UInt8](repeating: 7, count: 32))
        #expect((#expect(throws: BrokerError.self) { try offCurve.p256() })?.code == .invalidKey)
        var otherCurve = good
        otherCurve.crv = "P-521"
        #expect((#expect(throws: BrokerError.self) { try otherCurve.p256() })?.code == .unsupportedAlgorithm)
        var padded = good
        padded.x = good.x! + "="
        #expect((#expect(throws: BrokerError.self) { try padded.p256() })?.code == .malformed)
        // RSA below 2048 bits.
        let small = JWK(kty: "RSA", n: Base64URL.encode([UInt8](repeating: 0xC1, count: 128)), e: "AQAB")
        #expect((#expect(throws: BrokerError.self) { try small.rsa() })?.code == .invalidKey)
    }

    // MARK: An independent implementation

    /// Runs Python's jwcrypto (Debian's python3-jwcrypto, on Debian's python3) with a request on
    /// stdin; its stdout.
    static func jwcrypto(_ request: [String: String]) async throws -> String {
        let script = """
            import json, sys
            from jwcrypto import jwk, jwe
            request = json.load(sys.stdin)
            if request["op"] == "open":
                key = jwk.JWK.from_pem(request["pem"].encode()) if "pem" in request else jwk.JWK(**json.loads(request["jwk"]))
                token = jwe.JWE()
                token.deserialize(request["jwe"], key=key)
                sys.stdout.write(token.payload.decode())
            else:
                key = jwk.JWK.from_pem(request["pem"].encode()) if "pem" in request else jwk.JWK(**json.loads(request["jwk"]))
                token = jwe.JWE(request["payload"].encode(), json.dumps({"alg": request["alg"], "enc": "A256GCM"}))
                token.add_recipient(key)
                sys.stdout.write(token.serialize())
            """
        let input = try JSONSerialization.data(withJSONObject: request)
        return try await PostgresServer.offThePool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = ["-c", script]
            let stdin = Pipe()
            let stdout = Pipe()
            let stderr = Pipe()
            process.standardInput = stdin
            process.standardOutput = stdout
            process.standardError = stderr
            try process.run()
            stdin.fileHandleForWriting.write(input)
            try stdin.fileHandleForWriting.close()
            let output = stdout.fileHandleForReading.readDataToEndOfFile()
            let errors = stderr.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw PostgresServer.Failure("jwcrypto failed: \(String(decoding: errors, as: UTF8.self).suffix(600))")
            }
            return String(decoding: output, as: UTF8.self)
        }
    }

    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }

    @Test func jwcryptoOpensOursAndWeOpenJwcryptos() async throws {
        let payload = "the resource: {\"key\": \"k\"} ü"
        // EC: the private key as a JWK for jwcrypto (d is the raw scalar).
        let ec = P256.KeyAgreement.PrivateKey()
        var ecPrivate = JWK(ec.publicKey)
        let ecPrivateJSON = try Self.json(ecPrivate).dropLast() + #","d":"\#(Base64URL.encode(ec.rawRepresentation))"}"#
        ecPrivate.alg = nil
        let ours = try JWE.seal(Array(payload.utf8), to: JWK(ec.publicKey))
        #expect(try await Self.jwcrypto(["op": "open", "jwk": String(ecPrivateJSON), "jwe": try Self.json(ours)]) == payload)
        let theirs = try await Self.jwcrypto(["op": "seal", "jwk": try Self.json(JWK(ec.publicKey)), "alg": "ECDH-ES+A256KW", "payload": payload])
        let theirJWE = try JSONDecoder().decode(JWE.self, from: Data(theirs.utf8))
        #expect(try theirJWE.open(with: .p256(ec)) == Array(payload.utf8))

        // RSA: the private key as PEM for jwcrypto.
        let rsa = try _RSA.Encryption.PrivateKey(keySize: .bits2048)
        let rsaOurs = try JWE.seal(Array(payload.utf8), to: try JWK(rsa.publicKey))
        #expect(try await Self.jwcrypto(["op": "open", "pem": rsa.pkcs8PEMRepresentation, "jwe": try Self.json(rsaOurs)]) == payload)
        let rsaTheirs = try await Self.jwcrypto(["op": "seal", "pem": rsa.publicKey.pemRepresentation, "alg": "RSA-OAEP-256", "payload": payload])
        #expect(try JSONDecoder().decode(JWE.self, from: Data(rsaTheirs.utf8)).open(with: .rsa(rsa)) == Array(payload.utf8))
    }
}

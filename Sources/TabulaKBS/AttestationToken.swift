public import Crypto
import Foundation

/// The attestation token the broker issues after appraising evidence: a JWT (ES256) in the shape
/// of Trustee's EAR tokens, signed by the cluster key, carrying the TEE's key and its class.
///
/// A node may present it as `Authorization: Bearer` instead of the session cookie; the broker
/// then checks its signature and expiry, and wraps resources to the key inside.
public struct AttestationToken: Sendable {
    public var tee: String
    public var teeClass: String
    public var teePubkey: JWK
    public var issuedAt: Int64
    public var expires: Int64

    struct Payload: Codable {
        struct Submodule: Codable {
            var status: String
            var policy: String
            var evidence: Annotated
            enum CodingKeys: String, CodingKey {
                case status = "ear.status"
                case policy = "ear.appraisal-policy-id"
                case evidence = "ear.veraison.annotated-evidence"
            }
        }
        struct Annotated: Codable {
            var tee: String
            var runtimeData: RuntimeDataClaims
            enum CodingKeys: String, CodingKey {
                case tee
                case runtimeData = "runtime_data_claims"
            }
        }
        struct RuntimeDataClaims: Codable {
            var teePubkey: JWK
            enum CodingKeys: String, CodingKey { case teePubkey = "tee-pubkey" }
        }
        var eatProfile = "tag:github.com,2024:confidential-containers/Trustee"
        var iss = "tabula-broker"
        var iat: Int64
        var exp: Int64
        var submods: [String: Submodule]
        enum CodingKeys: String, CodingKey {
            case eatProfile = "eat_profile"
            case iss, iat, exp, submods
        }
    }

    struct Header: Codable {
        var alg = "ES256"
        var typ = "JWT"
        var jwk: SigningJWK
    }

    struct SigningJWK: Codable {
        var kty = "EC"
        var crv = "P-256"
        var x: String
        var y: String
        var alg = "ES256"
    }

    /// The compact JWS.
    func signed(with key: P256.Signing.PrivateKey) throws -> String {
        let point = Array(key.publicKey.x963Representation)
        let header = Header(jwk: SigningJWK(x: Base64URL.encode(point[1..<33]), y: Base64URL.encode(point[33..<65])))
        let payload = Payload(
            iat: issuedAt, exp: expires,
            submods: ["cpu0": .init(status: "affirming", policy: teeClass, evidence: .init(tee: tee, runtimeData: .init(teePubkey: teePubkey)))])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let input = Base64URL.encode(try encoder.encode(header)) + "." + Base64URL.encode(try encoder.encode(payload))
        let signature = try key.signature(for: Array(input.utf8))
        return input + "." + Base64URL.encode(signature.rawRepresentation)
    }

    /// Verifies a compact JWS signed by `key` and not expired at `now`.
    static func verify(_ token: String, key: P256.Signing.PublicKey, now: Date) throws(BrokerError) -> AttestationToken {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let signatureBytes = try? Base64URL.decode(parts[2], field: "signature"),
              let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signatureBytes),
              key.isValidSignature(signature, for: Array((parts[0] + "." + parts[1]).utf8))
        else {
            throw BrokerError(.unauthenticated, "the bearer token is not one this broker issued (or was altered); attest again")
        }
        guard let payloadBytes = try? Base64URL.decode(parts[1], field: "payload"),
              let payload = try? JSONDecoder().decode(Payload.self, from: Data(payloadBytes)),
              let submodule = payload.submods["cpu0"]
        else {
            throw BrokerError(.unauthenticated, "the bearer token's claims are not the broker's; attest again")
        }
        guard Int64(now.timeIntervalSince1970) < payload.exp else {
            throw BrokerError(.unauthenticated, "the bearer token expired; attest again")
        }
        return AttestationToken(
            tee: submodule.evidence.tee, teeClass: submodule.policy, teePubkey: submodule.evidence.runtimeData.teePubkey,
            issuedAt: payload.iat, expires: payload.exp)
    }
}

public import Foundation
public import TabulaWire

/// The JSON messages of the Key Broker Service protocol (Trustee's `kbs_protocol`), as Tabula's
/// broker and node exchange them and as a Trustee KBS accepts them.
public enum KBSMessages {
    /// The protocol version Tabula speaks.
    public static let version = "0.4.0"
    /// The cookie that carries the session between `auth`, `attest` and `resource`.
    public static let sessionCookie = "kbs-session-id"

    /// `POST /kbs/v0/auth`: the attester names its TEE.
    public struct Request: Codable, Sendable {
        public var version: String
        public var tee: String
        public var extraParams: JSONValue

        enum CodingKeys: String, CodingKey {
            case version, tee
            case extraParams = "extra-params"
        }

        public init(tee: String, extraParams: JSONValue = .string("")) {
            self.version = KBSMessages.version
            self.tee = tee
            self.extraParams = extraParams
        }
    }

    /// The answer to `auth`: a fresh nonce (32 random bytes, standard base64) the evidence must bind.
    public struct Challenge: Codable, Sendable {
        public var nonce: String
        public var extraParams: JSONValue

        enum CodingKeys: String, CodingKey {
            case nonce
            case extraParams = "extra-params"
        }

        public init(nonce: String, extraParams: JSONValue = .string("")) {
            self.nonce = nonce
            self.extraParams = extraParams
        }
    }

    /// What the evidence's report data binds: the challenge's nonce and the key resources are
    /// wrapped to.
    public struct RuntimeData: Codable, Sendable, Hashable {
        public var nonce: String
        public var teePubkey: JWK

        enum CodingKeys: String, CodingKey {
            case nonce
            case teePubkey = "tee-pubkey"
        }

        public init(nonce: String, teePubkey: JWK) {
            self.nonce = nonce
            self.teePubkey = teePubkey
        }

        /// The JSON bytes hashed into the report data, as Trustee's verifier rebuilds them:
        /// `{"additional-evidence": "", "nonce": …, "tee-pubkey": …}` in RFC 8785's canonical form
        /// (keys sorted, no whitespace; every value here is a plain ASCII string, so sorted compact
        /// JSON is canonical).
        public var canonicalBytes: [UInt8] {
            struct Bound: Encodable {
                var additionalEvidence = ""
                var nonce: String
                var teePubkey: JWK
                enum CodingKeys: String, CodingKey {
                    case additionalEvidence = "additional-evidence"
                    case nonce
                    case teePubkey = "tee-pubkey"
                }
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return (try? Array(encoder.encode(Bound(nonce: nonce, teePubkey: teePubkey)))) ?? []
        }

        /// The 64 bytes of report data: SHA-384 of ``canonicalBytes`` followed by 16 zero bytes
        /// (as Trustee pads it for TDX, SEV-SNP and SGX).
        public var reportData: [UInt8] {
            KBSHash.sha384(canonicalBytes) + [UInt8](repeating: 0, count: 16)
        }
    }

    /// `POST /kbs/v0/attest`: the evidence and what its report data binds.
    public struct Attestation: Codable, Sendable {
        public var runtimeData: RuntimeData
        public var initData: JSONValue?
        public var teeEvidence: CompositeEvidence

        enum CodingKeys: String, CodingKey {
            case runtimeData = "runtime-data"
            case initData = "init-data"
            case teeEvidence = "tee-evidence"
        }

        public init(runtimeData: RuntimeData, teeEvidence: CompositeEvidence) {
            self.runtimeData = runtimeData
            self.teeEvidence = teeEvidence
        }
    }

    /// `tee-evidence`: the TEE's evidence and, as a JSON string, that of attached devices
    /// (Tabula attaches none: `""`).
    public struct CompositeEvidence: Codable, Sendable {
        public var primaryEvidence: Evidence
        public var additionalEvidence: String

        enum CodingKeys: String, CodingKey {
            case primaryEvidence = "primary_evidence"
            case additionalEvidence = "additional_evidence"
        }

        public init(_ primary: Evidence) {
            self.primaryEvidence = primary
            self.additionalEvidence = ""
        }
    }

    /// Tabula's evidence in the attestation request: the bytes its TEE provider made (a DCAP
    /// quote, an SEV-SNP report, or simulated evidence), base64, and for SEV-SNP the VCEK or VLEK
    /// or the host's certificate table.
    public struct Evidence: Codable, Sendable {
        public var quote: String
        public var certificate: String?

        public init(quote: String, certificate: String? = nil) {
            self.quote = quote
            self.certificate = certificate
        }
    }

    /// The answer to a successful `attest`: the attestation token (a JWT).
    public struct TokenResponse: Codable, Sendable {
        public var token: String
        public init(token: String) { self.token = token }
    }

    /// An error as Trustee answers it: `type` names the error, `detail` says what happened.
    public struct ErrorBody: Codable, Sendable {
        public var type: String
        public var detail: String

        public static let typePrefix = "https://github.com/confidential-containers/kbs/errors/"

        public init(name: String, detail: String) {
            self.type = Self.typePrefix + name
            self.detail = detail
        }
    }
}

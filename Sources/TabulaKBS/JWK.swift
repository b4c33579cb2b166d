public import Crypto
public import _CryptoExtras

/// A public key as JOSE writes it (RFC 7517): what a TEE sends in its attestation request so that
/// the broker can wrap resources to it.
///
/// Two kinds: an EC P-256 key (`kty` `EC`, for `ECDH-ES+A256KW`) and an RSA key of 2048 bits or
/// more (`kty` `RSA`, for `RSA-OAEP-256`). Every other kind is refused.
public struct JWK: Codable, Sendable, Hashable {
    public var kty: String
    public var crv: String?
    public var x: String?
    public var y: String?
    public var n: String?
    public var e: String?
    public var alg: String?

    public init(kty: String, crv: String? = nil, x: String? = nil, y: String? = nil, n: String? = nil, e: String? = nil, alg: String? = nil) {
        self.kty = kty
        self.crv = crv
        self.x = x
        self.y = y
        self.n = n
        self.e = e
        self.alg = alg
    }

    /// The JWK of an EC P-256 key.
    public init(_ key: P256.KeyAgreement.PublicKey) {
        let point = Array(key.x963Representation)  // 0x04 || X || Y
        self.init(kty: "EC", crv: "P-256", x: Base64URL.encode(point[1..<33]), y: Base64URL.encode(point[33..<65]), alg: JWE.Algorithm.ecdhESA256KW.rawValue)
    }

    /// The JWK of an RSA key.
    public init(_ key: _RSA.Encryption.PublicKey) throws {
        let primitives = try key.getKeyPrimitives()
        self.init(kty: "RSA", n: Base64URL.encode(Self.trimmed(primitives.modulus)), e: Base64URL.encode(Self.trimmed(primitives.publicExponent)), alg: JWE.Algorithm.rsaOAEP256.rawValue)
    }

    /// The EC P-256 key it holds; refuses another kind, another curve or a point not on it.
    public func p256() throws(BrokerError) -> P256.KeyAgreement.PublicKey {
        guard kty == "EC" else { throw BrokerError(.unsupportedAlgorithm, "the key is of type \(kty), not EC") }
        guard crv == "P-256" else { throw BrokerError(.unsupportedAlgorithm, "the curve \(crv ?? "(none)") is not supported; use P-256") }
        guard let x, let y else { throw BrokerError(.malformed, "an EC key needs x and y") }
        let xBytes = try Base64URL.decode(x, field: "x")
        let yBytes = try Base64URL.decode(y, field: "y")
        guard xBytes.count == 32, yBytes.count == 32 else { throw BrokerError(.invalidKey, "P-256 coordinates are 32 bytes each") }
        do {
            return try P256.KeyAgreement.PublicKey(x963Representation: [0x04] + xBytes + yBytes)
        } catch {
            throw BrokerError(.invalidKey, "the point is not on P-256")
        }
    }

    /// The RSA key it holds (2048 bits or more).
    public func rsa() throws(BrokerError) -> _RSA.Encryption.PublicKey {
        guard kty == "RSA" else { throw BrokerError(.unsupportedAlgorithm, "the key is of type \(kty), not RSA") }
        guard let n, let e else { throw BrokerError(.malformed, "an RSA key needs n and e") }
        let modulus = try Base64URL.decode(n, field: "n")
        let exponent = try Base64URL.decode(e, field: "e")
        do {
            return try _RSA.Encryption.PublicKey(n: modulus, e: exponent)
        } catch {
            throw BrokerError(.invalidKey, "the RSA key is not usable (2048 bits or more): \(error)")
        }
    }

    /// Big-endian integers without leading zero bytes, as JWK writes them.
    private static func trimmed(_ bytes: some Collection<UInt8>) -> [UInt8] {
        let array = Array(bytes)
        let first = array.firstIndex { $0 != 0 } ?? max(0, array.count - 1)
        return Array(array[first...])
    }
}

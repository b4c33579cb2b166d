public import Crypto
public import _CryptoExtras
import Foundation

/// A JSON Web Encryption object (RFC 7516) in the flattened JSON serialization, as Trustee's Key
/// Broker Service answers a resource request: the resource encrypted with a fresh content key
/// (`A256GCM`), and that key wrapped to the TEE's public key from its attestation request.
///
/// Key management: `ECDH-ES+A256KW` (RFC 7518 §4.6: ephemeral-static ECDH on P-256, Concat KDF,
/// AES key wrap) or `RSA-OAEP-256` (§4.3). The protected header is the additional authenticated
/// data. The per-recipient unprotected header (`header`) may carry the key management parameters
/// (`alg`, `epk`, `apu`, `apv`; a wrong one only makes the key unwrap fail), never `enc`; extra
/// AAD is refused.
public struct JWE: Codable, Sendable, Hashable {
    public var protected: String
    public var encryptedKey: String
    public var iv: String
    public var ciphertext: String
    public var tag: String
    /// The per-recipient unprotected header, when the sender used one.
    var header: Header?
    /// Additional authenticated data beyond the header: refused when present.
    var aad: String?

    enum CodingKeys: String, CodingKey {
        case protected
        case encryptedKey = "encrypted_key"
        case iv
        case ciphertext
        case tag
        case header
        case aad
    }

    public init(protected: String, encryptedKey: String, iv: String, ciphertext: String, tag: String) {
        self.protected = protected
        self.encryptedKey = encryptedKey
        self.iv = iv
        self.ciphertext = ciphertext
        self.tag = tag
    }

    /// The key management algorithms offered.
    public enum Algorithm: String, Sendable, Codable {
        case ecdhESA256KW = "ECDH-ES+A256KW"
        case rsaOAEP256 = "RSA-OAEP-256"
    }

    /// The content encryption, the only one offered.
    public static let contentEncryption = "A256GCM"

    /// The protected header.
    struct Header: Codable, Sendable, Hashable {
        var alg: String?
        var enc: String?
        var epk: JWK?
        var apu: String?
        var apv: String?
    }

    /// A private key that opens JWEs wrapped to its public key. (Not `Sendable`: swift-crypto's
    /// RSA private key is not.)
    public enum Recipient {
        case p256(P256.KeyAgreement.PrivateKey)
        case rsa(_RSA.Encryption.PrivateKey)
    }

    // MARK: Sealing

    /// Encrypts `plaintext` to `key`: `ECDH-ES+A256KW` for an EC key, `RSA-OAEP-256` for an RSA key.
    public static func seal(_ plaintext: [UInt8], to key: JWK) throws(BrokerError) -> JWE {
        let contentKey = SymmetricKey(size: .bits256)
        let header: Header
        let encryptedKey: [UInt8]
        switch key.kty {
        case "EC":
            let recipient = try key.p256()
            let ephemeral = P256.KeyAgreement.PrivateKey()
            let kek = try keyEncryptionKey(ephemeral, recipient, apu: [], apv: [])
            header = Header(alg: Algorithm.ecdhESA256KW.rawValue, enc: contentEncryption, epk: JWK(ephemeral.publicKey))
            do {
                encryptedKey = Array(try AES.KeyWrap.wrap(contentKey, using: kek))
            } catch {
                throw BrokerError(.invalidKey, "cannot wrap the content key: \(error)")
            }
        case "RSA":
            let recipient = try key.rsa()
            header = Header(alg: Algorithm.rsaOAEP256.rawValue, enc: contentEncryption)
            do {
                encryptedKey = Array(try contentKey.withUnsafeBytes { try recipient.encrypt(Data($0), padding: .PKCS1_OAEP_SHA256) })
            } catch {
                throw BrokerError(.invalidKey, "cannot encrypt the content key to the RSA key: \(error)")
            }
        default:
            throw BrokerError(.unsupportedAlgorithm, "keys of type \(key.kty) are not supported; use EC P-256 or RSA")
        }
        let protected = Base64URL.encode(try encodeHeader(header))
        let nonce = AES.GCM.Nonce()
        do {
            let box = try AES.GCM.seal(plaintext, using: contentKey, nonce: nonce, authenticating: Array(protected.utf8))
            return JWE(
                protected: protected, encryptedKey: Base64URL.encode(encryptedKey), iv: Base64URL.encode(Array(nonce)),
                ciphertext: Base64URL.encode(box.ciphertext), tag: Base64URL.encode(box.tag))
        } catch {
            throw BrokerError(.invalidKey, "cannot encrypt the content: \(error)")
        }
    }

    // MARK: Opening

    /// Decrypts with `recipient`; refuses an algorithm that does not match the key, any other
    /// content encryption, and anything altered.
    public func open(with recipient: Recipient) throws(BrokerError) -> [UInt8] {
        let headerBytes = try Base64URL.decode(protected, field: "protected")
        var header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(headerBytes))
        } catch {
            throw BrokerError(.malformed, "the protected header is not a JSON object")
        }
        guard aad == nil else { throw BrokerError(.unsupportedAlgorithm, "additional authenticated data (aad) is not supported") }
        guard header.enc == Self.contentEncryption, self.header?.enc == nil else {
            throw BrokerError(.unsupportedAlgorithm, "the content encryption \(header.enc ?? "(none)") is not supported; use \(Self.contentEncryption) in the protected header")
        }
        if let unprotected = self.header {
            // Key management parameters only, and never one the protected header already has.
            guard [header.alg == nil || unprotected.alg == nil, header.epk == nil || unprotected.epk == nil,
                   header.apu == nil || unprotected.apu == nil, header.apv == nil || unprotected.apv == nil].allSatisfy({ $0 }) else {
                throw BrokerError(.malformed, "a header parameter is both protected and unprotected")
            }
            header.alg = header.alg ?? unprotected.alg
            header.epk = header.epk ?? unprotected.epk
            header.apu = header.apu ?? unprotected.apu
            header.apv = header.apv ?? unprotected.apv
        }
        guard let alg = header.alg else { throw BrokerError(.malformed, "the JWE names no key management algorithm (alg)") }
        let wrapped = try Base64URL.decode(encryptedKey, field: "encrypted_key")
        let contentKey: SymmetricKey
        switch (Algorithm(rawValue: alg), recipient) {
        case (.ecdhESA256KW, .p256(let privateKey)):
            guard let epk = header.epk else { throw BrokerError(.malformed, "ECDH-ES+A256KW needs the ephemeral key epk") }
            let apu = try header.apu.map { (text) throws(BrokerError) in try Base64URL.decode(text, field: "apu") } ?? []
            let apv = try header.apv.map { (text) throws(BrokerError) in try Base64URL.decode(text, field: "apv") } ?? []
            let kek = try Self.keyEncryptionKey(privateKey, try epk.p256(), apu: apu, apv: apv)
            do {
                contentKey = try AES.KeyWrap.unwrap(wrapped, using: kek)
            } catch {
                throw BrokerError(.decryptionFailed, "the content key does not unwrap: altered, or for another key")
            }
        case (.rsaOAEP256, .rsa(let privateKey)):
            do {
                contentKey = SymmetricKey(data: try privateKey.decrypt(wrapped, padding: .PKCS1_OAEP_SHA256))
            } catch {
                throw BrokerError(.decryptionFailed, "the content key does not decrypt: altered, or for another key")
            }
        case (nil, _):
            throw BrokerError(.unsupportedAlgorithm, "the key management algorithm \(alg) is not supported")
        default:
            throw BrokerError(.invalidKey, "the key management algorithm \(alg) does not fit this key")
        }
        guard contentKey.bitCount == 256 else { throw BrokerError(.decryptionFailed, "the content key is not 256 bits") }
        let nonceBytes = try Base64URL.decode(iv, field: "iv")
        let tagBytes = try Base64URL.decode(tag, field: "tag")
        guard nonceBytes.count == 12, tagBytes.count == 16 else { throw BrokerError(.malformed, "A256GCM takes a 96-bit iv and a 128-bit tag") }
        do {
            let box = try AES.GCM.SealedBox(
                nonce: try AES.GCM.Nonce(data: nonceBytes), ciphertext: try Base64URL.decode(ciphertext, field: "ciphertext"), tag: tagBytes)
            return Array(try AES.GCM.open(box, using: contentKey, authenticating: Array(protected.utf8)))
        } catch let error as BrokerError {
            throw error
        } catch {
            throw BrokerError(.decryptionFailed, "the content does not decrypt: altered, or for another key")
        }
    }

    // MARK: Key agreement

    /// The key-encryption key of `ECDH-ES+A256KW`: Concat KDF (NIST SP 800-56A, single step,
    /// SHA-256) over the ECDH shared secret, as RFC 7518 §4.6.2 fixes its inputs.
    static func keyEncryptionKey(_ privateKey: P256.KeyAgreement.PrivateKey, _ publicKey: P256.KeyAgreement.PublicKey, apu: [UInt8], apv: [UInt8]) throws(BrokerError) -> SymmetricKey {
        let shared: SharedSecret
        do {
            shared = try privateKey.sharedSecretFromKeyAgreement(with: publicKey)
        } catch {
            throw BrokerError(.invalidKey, "the key agreement failed")
        }
        let z = shared.withUnsafeBytes { Array($0) }
        return SymmetricKey(data: concatKDF(z: z, algorithmID: Algorithm.ecdhESA256KW.rawValue, apu: apu, apv: apv, keyBits: 256))
    }

    /// Concat KDF: `SHA-256(counter ‖ Z ‖ OtherInfo)` for counter = 1, 2, …, where OtherInfo is
    /// AlgorithmID, PartyUInfo and PartyVInfo, each with a 32-bit big-endian length, then the key
    /// length in bits (32-bit big-endian).
    static func concatKDF(z: [UInt8], algorithmID: String, apu: [UInt8], apv: [UInt8], keyBits: Int) -> [UInt8] {
        func bigEndian(_ value: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(value).bigEndian, Array.init) }
        let algorithm = Array(algorithmID.utf8)
        let otherInfo = bigEndian(algorithm.count) + algorithm + bigEndian(apu.count) + apu + bigEndian(apv.count) + apv + bigEndian(keyBits)
        var output: [UInt8] = []
        var counter = 1
        while output.count < keyBits / 8 {
            output += Array(SHA256.hash(data: bigEndian(counter) + z + otherInfo))
            counter += 1
        }
        return Array(output.prefix(keyBits / 8))
    }

    private static func encodeHeader(_ header: Header) throws(BrokerError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(header))
        } catch {
            throw BrokerError(.malformed, "cannot encode the protected header")
        }
    }
}

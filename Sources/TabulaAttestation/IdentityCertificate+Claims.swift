import Crypto

extension IdentityCertificate {
    /// The claims of an interoperable RA-TLS certificate, as the CCC "Interoperable RA-TLS" formats
    /// (and rats-tls, Gramine) lay them out.
    ///
    /// A CBOR map with text keys: `"pubkey-hash"` is a byte string holding the CBOR-encoded array
    /// `[hash-alg-id, hash]` (hash-alg-id from the IANA Named Information Hash Algorithm registry:
    /// 1 = SHA-256) over the DER SubjectPublicKeyInfo of the certificate's key, and the optional
    /// `"nonce"` is a byte string. Tabula adds one custom claim, `"tabula-runtime"` (see
    /// ``RuntimeClaims``); other keys (custom claims) are allowed and ignored. The hardware report
    /// data is SHA-256 of the encoded claims followed by 32 zero bytes.
    struct Claims: Sendable, Hashable {
        /// SHA-256 of the DER SubjectPublicKeyInfo.
        var publicKeyHash: [UInt8]
        var nonce: [UInt8]?
        /// How the enclave runs tenant code, when the certificate says.
        var runtime: RuntimeClaims?

        static let publicKeyHashKey = "pubkey-hash"
        static let nonceKey = "nonce"
        /// IANA Named Information hash algorithm identifier of SHA-256.
        static let sha256AlgorithmID: UInt64 = 1

        init(publicKeyHash: [UInt8], nonce: [UInt8]?, runtime: RuntimeClaims? = nil) {
            self.publicKeyHash = publicKeyHash
            self.nonce = nonce
            self.runtime = runtime
        }

        /// The deterministic CBOR encoding (the bytes hashed into the report data).
        var encoded: [UInt8] {
            let hashEntry = CBOR.array([.unsigned(Self.sha256AlgorithmID), .bytes(publicKeyHash)])
            var entries = [CBOR.Entry(.text(Self.publicKeyHashKey), .bytes(hashEntry.encoded))]
            if let nonce { entries.append(CBOR.Entry(.text(Self.nonceKey), .bytes(nonce))) }
            if let runtime { entries.append(CBOR.Entry(.text(RuntimeClaims.claimKey), runtime.cbor)) }
            return CBOR.map(entries).encoded
        }

        /// The report data that binds these claims: SHA-256 of `encoded` followed by 32 zero bytes.
        static func reportData(binding encodedClaims: [UInt8]) -> [UInt8] {
            Array(SHA256.hash(data: encodedClaims)) + [UInt8](repeating: 0, count: 32)
        }

        /// Decodes claims; every failure is `.malformed` naming what is wrong.
        init(decoding bytes: [UInt8]) throws(AttestationError) {
            func bad(_ what: String) -> AttestationError {
                AttestationError(.malformed, "identity certificate: RA-TLS claims: \(what)")
            }
            let value: CBOR
            do {
                value = try CBOR(decoding: bytes)
            } catch {
                throw bad(error.message)
            }
            guard case .map(let entries) = value else { throw bad("not a CBOR map") }
            guard entries.allSatisfy({ if case .text = $0.key { true } else { false } }) else {
                throw bad("a key is not a text string")
            }
            guard let hashValue = value[Self.publicKeyHashKey] else { throw bad("no \"pubkey-hash\"") }
            guard case .bytes(let hashBytes) = hashValue else { throw bad("\"pubkey-hash\" is not a byte string") }
            let hashEntry: CBOR
            do {
                hashEntry = try CBOR(decoding: hashBytes)
            } catch {
                throw bad("\"pubkey-hash\": \(error.message)")
            }
            guard case .array(let pair) = hashEntry, pair.count == 2, case .bytes(let hash) = pair[1] else {
                throw bad("\"pubkey-hash\" is not [hash-alg-id, hash]")
            }
            guard pair[0] == .unsigned(Self.sha256AlgorithmID) else {
                throw AttestationError(.unsupported, "identity certificate: RA-TLS claims: \"pubkey-hash\" uses hash algorithm \(pair[0]), only SHA-256 (1) is supported")
            }
            guard hash.count == 32 else { throw bad("\"pubkey-hash\" is \(hash.count) bytes, SHA-256 is 32") }
            publicKeyHash = hash
            switch value[Self.nonceKey] {
            case nil: nonce = nil
            case .bytes(let bytes)?: nonce = bytes
            default: throw bad("\"nonce\" is not a byte string")
            }
            runtime = try value[RuntimeClaims.claimKey].map { value throws(AttestationError) in try RuntimeClaims(cbor: value) }
        }
    }

    /// The value of the RA-TLS evidence extension: CBOR tag 60000 wrapping `[evidence, claims]`, both byte strings.
    static func extensionValue(evidence: [UInt8], claims: [UInt8]) -> [UInt8] {
        CBOR.tagged(evidenceTag, .array([.bytes(evidence), .bytes(claims)])).encoded
    }

    /// Splits the RA-TLS evidence extension into the evidence and the encoded claims.
    static func parseExtensionValue(_ value: [UInt8]) throws(AttestationError) -> (evidence: [UInt8], claims: [UInt8]) {
        let item: CBOR
        do {
            item = try CBOR(decoding: value)
        } catch {
            throw AttestationError(.malformed, "identity certificate: the RA-TLS extension is not valid CBOR (\(error.message))")
        }
        guard case .tagged(let tag, let content) = item else {
            throw AttestationError(.malformed, "identity certificate: the RA-TLS extension is not a tagged CBOR item")
        }
        guard tag == evidenceTag else {
            throw AttestationError(.unsupported, "identity certificate: RA-TLS evidence tag \(tag) is not supported (expected \(evidenceTag))")
        }
        guard case .array(let items) = content else {
            throw AttestationError(.malformed, "identity certificate: the RA-TLS extension does not wrap an array")
        }
        guard items.count == 2, case .bytes(let evidence) = items[0], case .bytes(let claims) = items[1] else {
            throw AttestationError(.malformed, "identity certificate: the RA-TLS extension is not [evidence, claims] (two byte strings)")
        }
        return (evidence, claims)
    }
}

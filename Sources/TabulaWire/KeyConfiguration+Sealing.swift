import Crypto

extension KeyConfiguration.AEAD {
    /// Seals with an explicit key and nonce: `ciphertext ‖ tag` (16 bytes).
    func seal(_ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], authenticating aad: [UInt8] = []) throws -> [UInt8] {
        let symmetricKey = SymmetricKey(data: key)
        switch self {
        case .chaCha20Poly1305:
            let box = try ChaChaPoly.seal(plaintext, using: symmetricKey, nonce: ChaChaPoly.Nonce(data: nonce), authenticating: aad)
            return Array(box.ciphertext) + Array(box.tag)
        case .aes128GCM:
            let box = try AES.GCM.seal(plaintext, using: symmetricKey, nonce: AES.GCM.Nonce(data: nonce), authenticating: aad)
            return Array(box.ciphertext) + Array(box.tag)
        default:
            throw WireError(.unsupportedAlgorithm, "\(self) is not supported; use \(Self.aes128GCM) or \(Self.chaCha20Poly1305)")
        }
    }

    /// Opens `ciphertext ‖ tag` sealed with `key` and `nonce`.
    ///
    /// - Throws: ``WireError`` with ``WireError/Code/truncated`` when there is no whole tag; the
    ///   AEAD's own error when the message does not authenticate.
    func open(_ sealed: ArraySlice<UInt8>, key: [UInt8], nonce: [UInt8], authenticating aad: [UInt8] = []) throws -> [UInt8] {
        guard sealed.count >= 16 else {
            throw WireError(.truncated, "a sealed message has at least a 16-byte tag, not \(sealed.count) bytes")
        }
        let symmetricKey = SymmetricKey(data: key)
        let ciphertext = sealed.prefix(sealed.count - 16)
        let tag = sealed.suffix(16)
        switch self {
        case .chaCha20Poly1305:
            let box = try ChaChaPoly.SealedBox(nonce: ChaChaPoly.Nonce(data: nonce), ciphertext: ciphertext, tag: tag)
            return Array(try ChaChaPoly.open(box, using: symmetricKey, authenticating: aad))
        case .aes128GCM:
            let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: nonce), ciphertext: ciphertext, tag: tag)
            return Array(try AES.GCM.open(box, using: symmetricKey, authenticating: aad))
        default:
            throw WireError(.unsupportedAlgorithm, "\(self) is not supported; use \(Self.aes128GCM) or \(Self.chaCha20Poly1305)")
        }
    }
}

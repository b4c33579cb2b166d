import CBoringSSLShim

extension KeyConfiguration.AEAD {
    /// The AEAD as the BoringSSL shim names it, or `nil` when not supported.
    private var shimAlgorithm: Int32? {
        switch self {
        case .aes128GCM: Int32(TABULA_AEAD_AES_128_GCM.rawValue)
        case .chaCha20Poly1305: Int32(TABULA_AEAD_CHACHA20_POLY1305.rawValue)
        default: nil
        }
    }

    /// Seals with an explicit key and nonce: `ciphertext ‖ tag` (16 bytes).
    ///
    /// Through BoringSSL directly (``CBoringSSLShim``): this runs twice in every confidential
    /// invocation, where swift-crypto's generic wrapper would cost more than the cryptography.
    func seal(_ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], authenticating aad: [UInt8] = []) throws -> [UInt8] {
        guard let algorithm = shimAlgorithm else {
            throw WireError(.unsupportedAlgorithm, "\(self) is not supported; use \(Self.aes128GCM) or \(Self.chaCha20Poly1305)")
        }
        var length = 0
        let sealed = [UInt8](unsafeUninitializedCapacity: plaintext.count + 16) { output, initialized in
            let ok = tabula_aead_seal(
                algorithm, key, key.count, nonce, nonce.count, plaintext, plaintext.count, aad, aad.count, output.baseAddress, &length)
            initialized = ok == 1 ? length : 0
        }
        guard sealed.count == plaintext.count + 16 else {
            throw WireError(.malformed, "\(self) cannot seal with a \(key.count)-byte key and a \(nonce.count)-byte nonce")
        }
        return sealed
    }

    /// Opens `ciphertext ‖ tag` sealed with `key` and `nonce`.
    ///
    /// - Throws: ``WireError`` with ``WireError/Code/truncated`` when there is no whole tag, and
    ///   ``WireError/Code/authenticationFailed`` when the message does not authenticate.
    func open(_ sealed: ArraySlice<UInt8>, key: [UInt8], nonce: [UInt8], authenticating aad: [UInt8] = []) throws -> [UInt8] {
        guard sealed.count >= 16 else {
            throw WireError(.truncated, "a sealed message has at least a 16-byte tag, not \(sealed.count) bytes")
        }
        guard let algorithm = shimAlgorithm else {
            throw WireError(.unsupportedAlgorithm, "\(self) is not supported; use \(Self.aes128GCM) or \(Self.chaCha20Poly1305)")
        }
        var ok: Int32 = 0
        let opened = sealed.withUnsafeBufferPointer { input in
            [UInt8](unsafeUninitializedCapacity: input.count) { output, initialized in
                var length = 0
                ok = tabula_aead_open(
                    algorithm, key, key.count, nonce, nonce.count, input.baseAddress, input.count, aad, aad.count, output.baseAddress, &length)
                initialized = ok == 1 ? length : 0
            }
        }
        guard ok == 1 else {
            throw WireError(.authenticationFailed, "the message does not authenticate with \(self): altered, or sealed with another key or nonce")
        }
        return opened
    }
}

extension ObliviousHTTP {
    /// What a gateway keeps after opening a request, to encrypt the response to that request.
    ///
    /// Only the client that sent the request can open what this context seals, because the key
    /// derives from that request's HPKE context and its `enc`.
    public struct ServerContext: Sendable {
        let response: ResponseProtection

        init(response: ResponseProtection) {
            self.response = response
        }

        /// Encrypts a binary HTTP response as `response_nonce ‖ ct` (RFC 9458 §4.4).
        ///
        /// The response nonce is fresh and random, `max(Nn, Nk)` bytes, so that sealing twice for
        /// one request never reuses an AEAD key and nonce.
        public func sealResponse(_ response: [UInt8]) throws -> [UInt8] {
            // From the same CSPRNG as the keys themselves.
            let nonce = BoringSSL.randomBytes(ResponseProtection.nonceByteCount(self.response.aead))
            return try sealResponse(response, nonce: nonce)
        }

        /// Bytes that only this request's client and the gateway can compute (at most 32):
        /// HMAC-SHA256 keyed with the response secret over `label ‖ 0x00 ‖ enc`. For values the
        /// operator must not guess, without a draw from the system's random source.
        public func privateBytes(label: String, count: Int) -> [UInt8] {
            response.privateBytes(label: Array(label.utf8), count: count)
        }

        /// Encrypts with a given response nonce: for reproducing RFC test vectors only, since a
        /// repeated nonce would repeat the AEAD key and nonce.
        package func sealResponse(_ response: [UInt8], nonce: [UInt8]) throws -> [UInt8] {
            let expected = ResponseProtection.nonceByteCount(self.response.aead)
            guard nonce.count == expected else {
                throw WireError(.malformed, "a response nonce for \(self.response.aead) has \(expected) bytes, not \(nonce.count)")
            }
            return try self.response.seal(response, responseNonce: nonce)
        }
    }
}

import Crypto

extension ObliviousHTTP {
    /// What a client keeps after sending a request, to open the gateway's response.
    ///
    /// It holds the secret exported from the request's HPKE context, so it belongs to exactly one
    /// request; keep it in memory only as long as the response is outstanding.
    public struct ClientContext: Sendable {
        let response: ResponseProtection

        init(response: ResponseProtection) {
            self.response = response
        }

        /// Decrypts an encapsulated response, `response_nonce ‖ ct` (RFC 9458 §4.4).
        ///
        /// - Returns: the binary HTTP response.
        /// - Throws: ``WireError`` with ``WireError/Code/truncated`` when the body is shorter than a
        ///   nonce and a tag, ``WireError/Code/authenticationFailed`` when it was altered or answers
        ///   another request.
        public func openResponse(_ encapsulated: [UInt8]) throws -> [UInt8] {
            try response.open(encapsulated)
        }

        /// The context as bytes, to open a response later in another process (a non-blocking
        /// invocation whose result is fetched afterwards): `aead (2) ‖ len(enc) (2) ‖ enc ‖ secret`.
        ///
        /// Whoever holds these bytes can read the response: store them only where the client's
        /// own secrets live (for example a file of mode 0600), and delete them once used.
        public var serialized: [UInt8] {
            let aead = response.aead.rawValue
            let count = response.encapsulatedKey.count
            return [UInt8(aead >> 8), UInt8(truncatingIfNeeded: aead), UInt8(count >> 8), UInt8(truncatingIfNeeded: count)]
                + response.encapsulatedKey + response.secret.withUnsafeBytes { Array($0) }
        }

        /// Restores a context from ``serialized``.
        ///
        /// - Throws: ``WireError`` (``WireError/Code/malformed``) when the bytes are not a context.
        public init(serialized bytes: [UInt8]) throws {
            var reader = Reader(bytes, what: "client context")
            let aead = KeyConfiguration.AEAD(rawValue: try reader.readUInt16())
            let encapsulatedKey = try reader.readBytes(Int(try reader.readUInt16()))
            let secret = SymmetricKey(data: reader.readRest())
            guard secret.bitCount == 8 * ResponseProtection.nonceByteCount(aead), secret.bitCount > 0, aead.keyByteCount != nil else {
                throw WireError(.malformed, "the client context is not one this version wrote")
            }
            self.response = ResponseProtection(aead: aead, encapsulatedKey: encapsulatedKey, secret: secret)
        }
    }
}

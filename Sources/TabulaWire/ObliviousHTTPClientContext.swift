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
    }
}

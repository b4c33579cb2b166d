/// One field line of a Binary HTTP message: a name and its value, in the order they were sent.
///
/// Names are compared as given; the encoder lowercases them (RFC 9292 §3.6 requires lowercase
/// names on the wire, as HTTP/2 and HTTP/3 do) and the decoder rejects any that are not.
public struct BinaryHTTPField: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// An HTTP request in Binary HTTP form (RFC 9292): the inner request of Oblivious HTTP.
///
/// The request target is carried as its parts, like HTTP/2 pseudo-header fields: `authority` may be
/// empty (a `host` header field then names the target). Header and trailer fields keep their order
/// and duplicates. Encode with ``encoded(truncatingEmptySections:)``; decode with ``init(decoding:)``.
public struct BinaryHTTPRequest: Sendable, Hashable {
    public var method: String
    public var scheme: String
    public var authority: String
    public var path: String
    public var headerFields: [BinaryHTTPField]
    public var content: [UInt8]
    public var trailerFields: [BinaryHTTPField]

    public init(
        method: String, scheme: String = "https", authority: String, path: String,
        headerFields: [BinaryHTTPField] = [], content: [UInt8] = [], trailerFields: [BinaryHTTPField] = []
    ) {
        self.method = method
        self.scheme = scheme
        self.authority = authority
        self.path = path
        self.headerFields = headerFields
        self.content = content
        self.trailerFields = trailerFields
    }
}

/// An HTTP response in Binary HTTP form (RFC 9292): the inner response of Oblivious HTTP.
///
/// `status` is the final status code (200–599). Interim 1xx responses that preceded it are kept in
/// ``informationalResponses`` so that a decoded message re-encodes to the same content; most callers
/// can ignore them.
public struct BinaryHTTPResponse: Sendable, Hashable {
    /// An interim (1xx) response, such as `103 Early Hints`, sent before the final one.
    public struct Informational: Sendable, Hashable {
        /// The status code, 100–199.
        public var status: Int
        public var headerFields: [BinaryHTTPField]

        public init(status: Int, headerFields: [BinaryHTTPField] = []) {
            self.status = status
            self.headerFields = headerFields
        }
    }

    public var informationalResponses: [Informational]
    /// The final status code, 200–599.
    public var status: Int
    public var headerFields: [BinaryHTTPField]
    public var content: [UInt8]
    public var trailerFields: [BinaryHTTPField]

    public init(
        status: Int, headerFields: [BinaryHTTPField] = [], content: [UInt8] = [],
        trailerFields: [BinaryHTTPField] = [], informationalResponses: [Informational] = []
    ) {
        self.informationalResponses = informationalResponses
        self.status = status
        self.headerFields = headerFields
        self.content = content
        self.trailerFields = trailerFields
    }
}

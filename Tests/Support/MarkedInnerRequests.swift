/// Inner requests of a confidential invocation (Binary HTTP, RFC 9292) that carry one marker in every
/// field — method where HTTP allows it, authority, path, query, header names and values, content,
/// trailers — each wrong in one way, for the tests that check no plaintext leaves the enclave in an error.
///
/// Built byte by byte rather than with `BinaryHTTPRequest`, whose encoder refuses most of these, and
/// free of any Tabula module so that every test target can use it.
package struct MarkedInnerRequest: Sendable, CustomStringConvertible {
    /// What is wrong with it, for test failure messages (never contains the marker).
    package let flaw: String
    /// The Binary HTTP bytes to seal.
    package let bytes: [UInt8]
    /// Whether the bytes decode as Binary HTTP: then the enclave refuses the request inside the seal
    /// (a sealed 4xx); otherwise it refuses it before anything runs (a plain 400 outside the seal).
    package let decodes: Bool

    package var description: String { flaw }

    /// Every flawed request for the function `/namespace/action`, each carrying `marker` (which must
    /// be a lowercase HTTP token, such as `mk` followed by hex digits) in every field it has.
    package static func all(marker: String, namespace: String, action: String) -> [MarkedInnerRequest] {
        let path = "/api/v1/namespaces/\(namespace)/actions/\(action)?\(marker)=\(marker)"
        let headers = [("x-\(marker)", marker), ("content-type", "application/json; \(marker)")]
        let trailers = [("x-trailer-\(marker)", marker)]
        let authority = "\(marker).example"
        let body = Array(#"{"\#(marker)":"\#(marker)"}"#.utf8)
        func request(
            method: String = "POST", path target: [UInt8]? = nil, headers extra: [([UInt8], [UInt8])] = [], body content: [UInt8]? = nil
        ) -> [UInt8] {
            encode(
                method: Array(method.utf8), authority: Array(authority.utf8), path: target ?? Array(path.utf8),
                headers: headers.map { (Array($0.0.utf8), Array($0.1.utf8)) } + extra, content: content ?? body,
                trailers: trailers.map { (Array($0.0.utf8), Array($0.1.utf8)) })
        }
        let good = request()
        return [
            // Refused when opened: not Binary HTTP, or a field HTTP forbids.
            MarkedInnerRequest(flaw: "not Binary HTTP at all", bytes: Array("\(marker) \(marker)".utf8), decodes: false),
            MarkedInnerRequest(flaw: "a method that is not a token", bytes: request(method: "POST \(marker)"), decodes: false),
            MarkedInnerRequest(flaw: "a CR in the path", bytes: request(path: Array((path + "\r").utf8)), decodes: false),
            MarkedInnerRequest(flaw: "a path that is not UTF-8", bytes: request(path: Array(path.utf8) + [0xFF]), decodes: false),
            MarkedInnerRequest(flaw: "an uppercase header name", bytes: request(headers: [(Array("X-Up-\(marker)".utf8), Array(marker.utf8))]), decodes: false),
            MarkedInnerRequest(flaw: "a LF in a header value", bytes: request(headers: [(Array("x-lf".utf8), Array("a\n\(marker)".utf8))]), decodes: false),
            MarkedInnerRequest(flaw: "a header value that is not UTF-8", bytes: request(headers: [(Array("x-bad-\(marker)".utf8), Array(marker.utf8) + [0xC3])]), decodes: false),
            MarkedInnerRequest(flaw: "bytes after the message", bytes: good + Array(marker.utf8), decodes: false),
            MarkedInnerRequest(flaw: "cut short inside the content", bytes: Array(good.dropLast(trailerSectionCount(trailers) + 3)), decodes: false),
            // Opened, then refused inside the seal.
            MarkedInnerRequest(flaw: "another method", bytes: request(method: "GET"), decodes: true),
            MarkedInnerRequest(flaw: "another path", bytes: request(path: Array("/\(marker)/\(marker)?\(marker)".utf8)), decodes: true),
            MarkedInnerRequest(
                flaw: "another function", bytes: request(path: Array("/api/v1/namespaces/\(namespace)/actions/\(marker)?\(marker)".utf8)), decodes: true),
            MarkedInnerRequest(flaw: "a malformed expected digest", bytes: request(headers: [(Array("tabula-expect-digest".utf8), Array("sha-256=\(marker)".utf8))]), decodes: true),
            MarkedInnerRequest(flaw: "a body that is not JSON", bytes: request(body: Array(#"{"\#(marker)": \#(marker)"#.utf8)), decodes: true),
            MarkedInnerRequest(flaw: "a body that is JSON but not an object", bytes: request(body: Array(#"["\#(marker)", 1e999]"#.utf8)), decodes: true),
        ]
    }

    private static func trailerSectionCount(_ trailers: [(String, String)]) -> Int {
        let lines = trailers.reduce(0) { $0 + varint(UInt64($1.0.utf8.count)).count + $1.0.utf8.count + varint(UInt64($1.1.utf8.count)).count + $1.1.utf8.count }
        return varint(UInt64(lines)).count + lines
    }

    /// A known-length request (framing indicator 0), written without any of the encoder's checks.
    private static func encode(
        method: [UInt8], authority: [UInt8], path: [UInt8], headers: [([UInt8], [UInt8])], content: [UInt8], trailers: [([UInt8], [UInt8])]
    ) -> [UInt8] {
        func prefixed(_ bytes: [UInt8]) -> [UInt8] { varint(UInt64(bytes.count)) + bytes }
        func section(_ fields: [([UInt8], [UInt8])]) -> [UInt8] { prefixed(fields.flatMap { prefixed($0.0) + prefixed($0.1) }) }
        return [0] + prefixed(method) + prefixed(Array("https".utf8)) + prefixed(authority) + prefixed(path)
            + section(headers) + prefixed(content) + section(trailers)
    }

    /// A QUIC variable-length integer in its shortest form.
    private static func varint(_ value: UInt64) -> [UInt8] {
        switch value {
        case ..<(1 << 6): [UInt8(value)]
        case ..<(1 << 14): [UInt8(0x40 | value >> 8), UInt8(value & 0xFF)]
        default: [UInt8(0x80 | value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        }
    }
}

public import Foundation

/// What a web action's result says its HTTP answer is (OpenWhisk's `.http` rendering): the one
/// rule, for `tabula serve`'s web actions and `tabula runtime`'s Knative entry point alike.
///
/// A function's result is hostile input here: it may not frame the answer (no length, transfer
/// encoding or connection headers, no informational status, no body where HTTP allows none), nor
/// speak for the platform (no `x-openwhisk-` or `x-tabula-` headers): an answer that another
/// request on the same connection could mistake for its own is refused or cut.
public struct WebResponse: Sendable, Hashable {
    public var status: Int
    /// Names in lower case, in the result's order (a header given as an array repeats).
    public var headers: [Header]
    public var body: [UInt8]

    public struct Header: Sendable, Hashable {
        public var name: String
        public var value: String
    }

    /// Why a result is not a valid HTTP answer: OpenWhisk's words (a web action answers 400).
    public struct Refusal: Error, Sendable, Hashable {
        public var message: String
    }

    /// Headers a result may not set (lower case).
    public static let serverHeaders: Set<String> = [
        "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer", "proxy-connection",
        "proxy-authenticate", "proxy-authorization", "date", "server",
    ]

    /// The answer `result` describes: `statusCode` (an integer, or a string holding one, 200–599;
    /// default 200, or 204 without a body), `headers` (strings, numbers or booleans; an array
    /// repeats the header) and `body` (a string, base64 for a binary content type, or any other
    /// JSON value sent as JSON).
    public static func http(_ result: JSONValue) throws(Refusal) -> WebResponse {
        let invalid = Refusal(message: "Response is not valid 'message/http'.")
        let mismatch = Refusal(message: "Response type in header did not match generated content type.")
        guard case .object(let members) = result else { throw invalid }
        var status: Int?
        switch members["statusCode"] {
        case nil, .null?: status = nil
        case .integer(let code)?: status = Int(exactly: code)
        case .string(let text)?:
            guard let code = Int(text) else { throw invalid }
            status = code
        default: throw invalid
        }
        if let code = status, !(200...599).contains(code) { throw invalid }
        var headers: [Header] = []
        switch members["headers"] {
        case nil, .null?: break
        case .object(let given)?:
            for (name, value) in given.sorted(by: { $0.key < $1.key }) {
                let lower = name.lowercased()
                guard isToken(lower) else { throw invalid }
                if serverHeaders.contains(lower) || lower.hasPrefix("x-openwhisk-") || lower.hasPrefix("x-tabula-") { continue }
                let values: [JSONValue] = if case .array(let many) = value { many } else { [value] }
                for value in values {
                    switch value {
                    case .string(let text): headers.append(Header(name: lower, value: text))
                    case .integer, .number, .bool: headers.append(Header(name: lower, value: value.encodedString))
                    default: throw invalid
                    }
                }
            }
        default: throw invalid
        }
        var response = WebResponse(status: status ?? 200, headers: headers, body: [])
        let contentType = response.header("content-type")?.lowercased()
        switch members["body"] {
        case nil, .null?, .string("")?:
            response.status = status ?? 204
            response.headers.removeAll { $0.name == "content-type" }
        case .string(let text)?:
            if contentType == nil { response.headers.append(Header(name: "content-type", value: "text/html; charset=UTF-8")) }
            if isBinary(contentType ?? "text/html") {
                guard let bytes = Data(base64Encoded: text) else { throw mismatch }
                response.body = Array(bytes)
            } else {
                response.body = Array(text.utf8)
            }
        case let value?:
            switch contentType {
            case nil: response.headers.append(Header(name: "content-type", value: "application/json"))
            case let type? where isJSON(type): break
            default: throw mismatch
            }
            response.body = value.encoded
        }
        if response.status == 204 || response.status == 304 {
            // HTTP allows these no body: one sent would be read as the next answer.
            response.body = []
            response.headers.removeAll { $0.name == "content-type" }
        }
        return response
    }

    /// The first value of a header (`name` in lower case).
    public func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }

    /// Whether a media type is JSON (`application/json` or `…+json`).
    public static func isJSON(_ type: String) -> Bool {
        let essence = type.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        return essence == "application/json" || essence.hasSuffix("+json")
    }

    /// Whether a body of this media type is bytes rather than text (it travels as base64).
    public static func isBinary(_ type: String) -> Bool {
        let essence = type.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        if essence.isEmpty || essence.hasPrefix("text/") || isJSON(essence) { return false }
        return !["application/xml", "application/x-www-form-urlencoded", "application/javascript", "image/svg+xml"].contains(essence)
    }

    /// An HTTP field name: RFC 9110's token characters.
    static func isToken(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
            default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import TabulaEnclave
import TabulaPlatform
import TabulaWire

/// OpenWhisk's web actions, both ways: an HTTP request becomes the action's parameters, and its
/// result becomes the HTTP response the path's extension asks for. The one owner of those rules
/// (OpenWhisk's WebActions.scala), and of their 400s.
enum WebTranscoder {
    /// What the path's extension asks the result to be rendered as.
    enum Extension: String, CaseIterable {
        case http, json, html, svg, text
    }

    /// The reserved parameter names a plain (not raw) request may not set.
    static let reserved: Set<String> = ["__ow_method", "__ow_headers", "__ow_path", "__ow_user", "__ow_query", "__ow_body"]

    /// The action's name and extension from the path's last action segment: `NAME.EXT` with a known
    /// extension, else the whole segment and `.http` (so `x.xyz` is an action named `x.xyz`).
    static func split(_ segment: String) -> (name: String, extension: Extension) {
        if let dot = segment.lastIndex(of: "."), let known = Extension(rawValue: String(segment[segment.index(after: dot)...])) {
            return (String(segment[..<dot]), known)
        }
        return (segment, .http)
    }

    /// The parameters of a web request: `__ow_*` fields, then (unless raw) the query and the body.
    ///
    /// - Parameters:
    ///   - path: what follows the action segment (`""` when nothing).
    ///   - user: the caller's namespace when the request carried valid credentials.
    static func arguments(method: HTTPRequest.Method, headers: HTTPFields, query: String?, body: ByteBuffer, raw: Bool, path: String, user: String?) throws -> [String: JSONValue] {
        var fields: [String: JSONValue] = [:]
        for field in headers where field.name != .authorization {
            let name = field.name.canonicalName.lowercased()
            fields[name] = .string(fields[name]?.stringValue.map { "\($0), \(field.value)" } ?? field.value)
        }
        var arguments: [String: JSONValue] = [
            "__ow_method": .string(method.rawValue.lowercased()), "__ow_headers": .object(fields), "__ow_path": .string(path),
        ]
        if let user { arguments["__ow_user"] = .string(user) }
        let contentType = headers[.contentType]?.lowercased() ?? ""
        let bytes = Array(buffer: body)
        if raw {
            arguments["__ow_query"] = .string(query ?? "")
            arguments["__ow_body"] = bytes.isEmpty ? "" : (isBinary(contentType) || isJSON(contentType) ? .string(Data(bytes).base64EncodedString()) : .string(String(decoding: bytes, as: UTF8.self)))
            return arguments
        }
        // The names the request chose (query, form fields, a JSON object's members) may not be
        // the platform's own __ow_ fields.
        var given: [String: JSONValue] = [:]
        var named: Set<String> = []
        for (name, value) in queryItems(query ?? "") {
            given[name] = .string(value)
            named.insert(name)
        }
        if !bytes.isEmpty {
            if isJSON(contentType) {
                guard let value = try? JSONValue(parsing: bytes) else {
                    throw PlatformError(.badRequest, "The request content was malformed: the body is not valid JSON.")
                }
                if case .object(let members) = value {
                    given.merge(members) { _, body in body }
                    named.formUnion(members.keys)
                } else {
                    given["__ow_body"] = value
                }
            } else if contentType.hasPrefix("application/x-www-form-urlencoded") {
                for (name, value) in queryItems(String(decoding: bytes, as: UTF8.self)) {
                    given[name] = .string(value)
                    named.insert(name)
                }
            } else if isBinary(contentType) {
                given["__ow_body"] = .string(Data(bytes).base64EncodedString())
            } else {
                given["__ow_body"] = .string(String(decoding: bytes, as: UTF8.self))
            }
        }
        guard named.isDisjoint(with: reserved) else { throw PlatformError(.badRequest, TabulaEnclave.Parameters.finalViolation) }
        arguments.merge(given) { _, given in given }
        return arguments
    }

    /// The response a result renders as, or OpenWhisk's 400 for a result of the wrong shape.
    static func response(_ result: JSONValue, as format: Extension) throws -> Response {
        switch format {
        case .json:
            guard case .object = result, true else {
                if case .array = result { return Response.json(result) }
                throw PlatformError(.badRequest, "Response is not valid 'application/json'.")
            }
            return Response.json(result)
        case .html:
            return try text(result, fields: ["body", "html"], contentType: "text/html; charset=UTF-8", invalid: "Response is not valid 'text/html'.")
        case .svg:
            return try text(result, fields: ["body", "svg"], contentType: "image/svg+xml", invalid: "Response is not valid 'image/svg+xml'.")
        case .text:
            let value: JSONValue
            if case .object(let members) = result {
                guard let found = members["body"] ?? members["text"] else {
                    throw PlatformError(.notFound, "Response does not include requested property.")
                }
                value = found
            } else {
                value = result
            }
            let rendered: String
            switch value {
            case .string(let string): rendered = string
            case .object, .array: rendered = value.encodedString
            default: rendered = value.encodedString
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=UTF-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: rendered)))
        case .http:
            return try http(result)
        }
    }

    /// `.html` and `.svg`: a string result, or its first string field of `fields`.
    private static func text(_ result: JSONValue, fields: [String], contentType: String, invalid: String) throws -> Response {
        var value = result
        if case .object(let members) = result { value = fields.lazy.compactMap { members[$0] }.first ?? .null }
        guard case .string(let string) = value else { throw PlatformError(.badRequest, invalid) }
        return Response(status: .ok, headers: [.contentType: contentType], body: ResponseBody(byteBuffer: ByteBuffer(string: string)))
    }

    /// `.http`: the result says the status, headers and body.
    private static func http(_ result: JSONValue) throws -> Response {
        let invalid = PlatformError(.badRequest, "Response is not valid 'message/http'.")
        let mismatch = PlatformError(.badRequest, "Response type in header did not match generated content type.")
        guard case .object(let members) = result else { throw invalid }
        var status: Int?
        switch members["statusCode"] {
        case nil, .null?: status = nil
        case .integer(let code)?: status = Int(code)
        case .string(let text)?: status = Int(text)
            if status == nil { throw invalid }
        default: throw invalid
        }
        // No informational status: the server frames the answer, and a 1xx would leave the
        // action's body to be read as the next answer on the connection.
        if let code = status, !(200...599).contains(code) { throw invalid }
        var headers = HTTPFields()
        if case .object(let given)? = members["headers"] {
            for (name, value) in given.sorted(by: { $0.key < $1.key }) {
                guard let field = HTTPField.Name(name) else { throw invalid }
                // Framing and connection headers are the server's: an action setting them could
                // split the answer and speak for another tenant's on the same connection.
                if framingHeaders.contains(field.canonicalName) { continue }
                let values: [JSONValue] = if case .array(let many) = value { many } else { [value] }
                for value in values {
                    switch value {
                    case .string(let text): headers.append(HTTPField(name: field, value: text))
                    case .integer, .number, .bool: headers.append(HTTPField(name: field, value: value.encodedString))
                    default: throw invalid
                    }
                }
            }
        } else if members["headers"] != nil, members["headers"] != .null {
            throw invalid
        }
        let contentType = headers[.contentType]?.lowercased()
        let body: ByteBuffer
        switch members["body"] {
        case nil, .null?, .string("")?:
            headers[.contentType] = nil
            return Response(status: HTTPResponse.Status(code: status ?? 204), headers: headers, body: ResponseBody())
        case .string(let text)?:
            let type = contentType ?? "text/html"
            if headers[.contentType] == nil { headers[.contentType] = "text/html; charset=UTF-8" }
            if isBinary(type) {
                guard let bytes = Data(base64Encoded: text) else { throw mismatch }
                body = ByteBuffer(data: bytes)
            } else {
                body = ByteBuffer(string: text)
            }
        case let value?:
            switch contentType {
            case nil: headers[.contentType] = "application/json"
            case let type? where isJSON(type): break
            default: throw mismatch
            }
            body = ByteBuffer(data: JSONValue.encode(value))
        }
        let code = status ?? 200
        if code == 204 || code == 304 {
            headers[.contentType] = nil
            return Response(status: HTTPResponse.Status(code: code), headers: headers)
        }
        return Response(status: HTTPResponse.Status(code: code), headers: headers, body: ResponseBody(byteBuffer: body))
    }

    /// Headers an action's `.http` result may not set (lowercase).
    static let framingHeaders: Set<String> = [
        "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer", "proxy-connection",
        "proxy-authenticate", "proxy-authorization", "date", "server",
    ]

    // MARK: Media types

    static func isJSON(_ type: String) -> Bool {
        let essence = type.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        return essence == "application/json" || essence.hasSuffix("+json")
    }

    /// Whether a body of this type is bytes rather than text (it travels as base64).
    static func isBinary(_ type: String) -> Bool {
        let essence = type.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        if essence.isEmpty || essence.hasPrefix("text/") || isJSON(essence) { return false }
        return !["application/xml", "application/x-www-form-urlencoded", "application/javascript", "image/svg+xml"].contains(essence)
    }

    /// `a=1&b=x%20y` as name–value pairs (`+` is a space, as forms write it).
    static func queryItems(_ query: String) -> [(String, String)] {
        query.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String? { String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let name = decode(parts[0]), !name.isEmpty else { return nil }
            return (name, parts.count > 1 ? decode(parts[1]) ?? "" : "")
        }
    }
}

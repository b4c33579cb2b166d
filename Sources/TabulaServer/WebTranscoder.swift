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
            arguments["__ow_body"] = bytes.isEmpty ? "" : (WebResponse.isBinary(contentType) || WebResponse.isJSON(contentType) ? .string(Data(bytes).base64EncodedString()) : .string(String(decoding: bytes, as: UTF8.self)))
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
            if WebResponse.isJSON(contentType) {
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
            } else if WebResponse.isBinary(contentType) {
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

    /// `.http`: the result says the status, headers and body (``WebResponse/http(_:)``).
    private static func http(_ result: JSONValue) throws -> Response {
        let web: WebResponse
        do {
            web = try WebResponse.http(result)
        } catch {
            throw PlatformError(.badRequest, error.message)
        }
        var headers = HTTPFields()
        for header in web.headers {
            guard let name = HTTPField.Name(header.name) else { continue }
            headers.append(HTTPField(name: name, value: header.value))
        }
        return Response(status: HTTPResponse.Status(code: web.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: web.body)))
    }

    // MARK: Queries

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

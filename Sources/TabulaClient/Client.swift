public import Foundation
public import TabulaWire
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A client of the OpenWhisk REST API v1, as Tabula serves it.
///
/// Every method sends one request and throws ``ClientError`` for any failure: no connection, an
/// HTTP error status, an answer that is not the OpenWhisk API. Entity names may be `name`,
/// `package/name` or fully qualified `/namespace/name`, whose namespace overrides the client's.
///
/// ```swift
/// let client = Client(apiHost: URL(string: "http://127.0.0.1:3233")!, auth: try Credentials(parsing: key))
/// let outcome = try await client.invoke(name: "hello", parameters: ["name": "Ada"], blocking: true, result: true)
/// ```
public final class Client: Sendable {
    /// The server, such as `http://127.0.0.1:3233`.
    public let apiHost: URL
    public let credentials: Credentials
    /// The namespace of names that are not fully qualified; `_` is the caller's own.
    public let namespace: String
    /// How long a request may wait for the server (blocking invocations may wait longer).
    let timeout: TimeInterval
    let session: URLSession

    /// - Parameters:
    ///   - apiHost: The server's URL; a path on it is kept as a prefix of the API's.
    ///   - auth: The namespace key.
    ///   - namespace: The namespace of names that are not fully qualified; `_`, the default, is
    ///     the one the key belongs to.
    ///   - timeout: Seconds a request may wait for an answer.
    public init(apiHost: URL, auth: Credentials, namespace: String = "_", timeout: TimeInterval = 120) {
        self.apiHost = apiHost
        self.credentials = auth
        self.namespace = namespace
        self.timeout = timeout
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        #if canImport(FoundationNetworking)
        session = URLSession(configuration: configuration, delegate: ChallengeDecliner(), delegateQueue: nil)
        #else
        session = URLSession(configuration: configuration)
        #endif
    }

    deinit {
        session.finishTasksAndInvalidate()
    }

    /// The namespaces the key reaches: its own.
    ///
    /// `GET /api/v1/namespaces`.
    public func namespaces() async throws -> [String] {
        let reply = try await send("GET", ["namespaces"])
        return try reply.decode([String].self, what: "list of namespaces")
    }

    /// The nodes of the platform, their leases and load.
    ///
    /// `GET /api/v1/nodes`.
    public func nodes() async throws -> [NodeStatus] {
        let reply = try await send("GET", ["nodes"])
        return try reply.decode([NodeStatus].self, what: "list of nodes")
    }
}

// MARK: Requests

extension Client {
    /// One answer of the server.
    struct Reply {
        var method: String
        var path: String
        var status: Int
        var contentType: String?
        var activationID: String?
        /// `x-tabula-job-state`: a job's state after a party's input.
        var jobState: String? = nil
        /// The server's `X-Request-ID`, for errors whose body does not carry it.
        var requestID: String?
        var body: Data

        var succeeded: Bool { (200..<300).contains(status) }

        /// The body as `type`, or the error the server meant.
        func decode<T: Decodable>(_ type: T.Type, what: String) throws -> T {
            guard succeeded else { throw error }
            return try decodeBody(type, what: what)
        }

        /// The body as `type`, whatever the status.
        func decodeBody<T: Decodable>(_ type: T.Type, what: String) throws -> T {
            do {
                return try JSONValue.decode(type, from: body)
            } catch {
                throw ClientError(.invalidResponse, "The server's answer to \(method) \(path) is not the OpenWhisk API's \(what): \(Self.describe(error))", status: status)
            }
        }

        /// The error an unsuccessful answer stands for, from OpenWhisk's error body
        /// `{"error": message, "code": request id}`, or from the raw body when it is not one.
        var error: ClientError {
            let code = ClientError.Code(status: status)
            var message: String
            var requestID = requestID
            if let json = try? JSONValue(parsing: body), let text = json["error"]?.stringValue {
                message = text
                switch json["code"] {
                case .string(let id): requestID = id
                case .integer(let id): requestID = String(id)
                default: break
                }
            } else {
                message = String(decoding: body.prefix(1000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if message.isEmpty, status == 401 {
                    message = "The server refused the credentials."
                } else if message.isEmpty {
                    message = "The server answered \(method) \(path) with \(HTTPURLResponse.localizedString(forStatusCode: status))."
                }
            }
            // Server messages are sentences; end them so a hint or a caller's advice can follow.
            if let last = message.last, !".!?".contains(last) { message += "." }
            if let hint = code.hint { message += " " + hint }
            return ClientError(code, message, status: status, requestID: requestID)
        }

        static func describe(_ error: any Error) -> String {
            switch error {
            case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
                 DecodingError.keyNotFound(_, let context), DecodingError.dataCorrupted(let context):
                let path = context.codingPath.map(\.stringValue).joined(separator: ".")
                return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
            default:
                return "\(error)"
            }
        }
    }

    /// Sends a request under `/api/v1/namespaces/`, each path segment percent-encoded.
    func send(
        _ method: String, _ segments: [String], query: [(String, String)] = [], body: Data? = nil, contentType: String = "application/json",
        accept: String = "application/json", wait: TimeInterval? = nil
    ) async throws -> Reply {
        let path = "/api/v1/" + segments.map(Self.encode).joined(separator: "/")
        var text = apiHost.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        text += path
        if !query.isEmpty {
            text += "?" + query.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        }
        guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https" else {
            throw ClientError(.invalidArgument, "The API host \(apiHost.absoluteString) is not an http or https URL.")
        }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = max(timeout, wait ?? 0)
        request.setValue(credentials.authorizationHeader, forHTTPHeaderField: "Authorization")
        request.setValue(accept, forHTTPHeaderField: "Accept")
        request.setValue("tabula-client", forHTTPHeaderField: "User-Agent")
        if let body {
            request.setValue(contentType, forHTTPHeaderField: "Content-Type")
            request.httpBody = body
        }

        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await perform(request)
        } catch let error as URLError where error.code == .timedOut {
            throw ClientError(.timedOut, "The Tabula server at \(apiHost.absoluteString) did not answer \(method) \(path) within \(Int(request.timeoutInterval)) seconds.")
        } catch {
            throw ClientError(.unreachable, "Cannot reach the Tabula server at \(apiHost.absoluteString) (is `tabula serve` running?): \(error.localizedDescription)")
        }
        guard let http = response as? HTTPURLResponse else {
            throw ClientError(.invalidResponse, "The server at \(apiHost.absoluteString) did not answer over HTTP.")
        }
        return Reply(
            method: method, path: path, status: http.statusCode, contentType: http.value(forHTTPHeaderField: "content-type"),
            activationID: http.value(forHTTPHeaderField: "x-openwhisk-activation-id"),
            jobState: http.value(forHTTPHeaderField: "x-tabula-job-state"), requestID: http.value(forHTTPHeaderField: "x-request-id"), body: data)
    }

    /// Runs one data task, cancelled with the calling task.
    ///
    /// A 401 with `WWW-Authenticate` makes swift-corelibs-foundation raise an authentication
    /// challenge; with no credential to offer, its default handling leaves the task hanging for
    /// ever. ``ChallengeDecliner`` declines it, which cancels the task after the response
    /// arrived: that response, without its body, is the answer.
    private func perform(_ request: URLRequest) async throws -> (Data, URLResponse) {
        let running = RunningTask()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(Data, URLResponse), any Error>) in
                let task = session.dataTask(with: request) { data, response, error in
                    if let response, error == nil {
                        continuation.resume(returning: (data ?? Data(), response))
                    } else if let declined = running.task.withLock({ $0?.response as? HTTPURLResponse }), declined.statusCode == 401 {
                        continuation.resume(returning: (data ?? Data(), declined))
                    } else {
                        continuation.resume(throwing: error ?? URLError(.badServerResponse))
                    }
                }
                running.task.withLock { $0 = task }
                task.resume()
            }
        } onCancel: {
            running.task.withLock { $0?.cancel() }
        }
    }

    /// The path of an entity collection or entity: `namespaces/NS/KIND[/PACKAGE]/NAME`.
    func segments(_ kind: String, _ entity: EntityPath? = nil) -> [String] {
        ["namespaces", entity?.namespace ?? namespace, kind] + (entity?.parts ?? [])
    }

    /// Unreserved characters only: `/`, `?`, `&`, `=`, `+` and the rest are escaped.
    static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~@")

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    /// JSON as the server reads it: compact, keys sorted.
    static func body(_ value: some Encodable) -> Data {
        JSONValue.encode(value)
    }
}

/// The data task of one request, for its completion handler and its cancellation.
private final class RunningTask: Sendable {
    let task = Mutex<URLSessionDataTask?>(nil)
}

#if canImport(FoundationNetworking)
/// Declines every authentication challenge: requests carry their own `Authorization` header,
/// so a challenge means the server refused the key, and that answer is what the caller wants.
private final class ChallengeDecliner: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(
        _ session: URLSession, task: URLSessionTask, didReceive challenge: URLAuthenticationChallenge,
        completionHandler: @escaping @Sendable (URLSession.AuthChallengeDisposition, URLCredential?) -> Void
    ) {
        completionHandler(.cancelAuthenticationChallenge, nil)
    }
}
#endif

extension Client {
    /// Refuses an activation id from the server that is not 32 lowercase hex digits: ids become
    /// file names (the CLI's confidential tickets) and URL paths, so a hostile server could
    /// otherwise name a path like `../../x`.
    static func checkActivationID(_ id: String) throws(ClientError) {
        guard ActivationID.isValid(id) else {
            throw ClientError(.invalidResponse, "The server named the activation \"\(id.prefix(80).debugDescription.dropFirst().dropLast())\", which is not 32 lowercase hex digits; it is refused.")
        }
    }
}

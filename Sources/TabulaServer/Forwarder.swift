import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTPTypes
import Hummingbird
import TabulaWire

/// Sends a request on to another node of the cluster and relays its answer: a sealed request
/// whose key is another node's enclave's, a function certificate of another node's enclave.
///
/// What is forwarded is what the client sent (the sealed body stays sealed: this node cannot open
/// it), with the caller's credentials, which every node accepts alike. A forwarded request is
/// marked (``Confidential/forwardedHeader``) and never forwarded again.
enum Forwarder {
    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 330
        return URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }()

    /// A node answers; it never sends the caller's credentials on to wherever a redirect points.
    private final class NoRedirects: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
        func urlSession(
            _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
            newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
        ) {
            completionHandler(nil)
        }
    }

    /// The headers that travel with a forwarded request.
    private static let forwardedFields: [HTTPField.Name] = [.authorization, .contentType, .accept]

    /// Whether `request` was forwarded to this node by another.
    static func wasForwarded(_ request: Request) -> Bool {
        request.headers[HTTPField.Name(Confidential.forwardedHeader)!] != nil
    }

    /// Sends `request` (with `body`) to the node at `base` and returns its answer; `nil` when the
    /// node cannot be reached.
    static func forward(_ request: Request, body: ByteBuffer?, to base: String) async -> Response? {
        guard let url = URL(string: base + (request.uri.path) + (request.uri.query.map { "?" + $0 } ?? "")) else { return nil }
        var forwarded = URLRequest(url: url)
        forwarded.httpMethod = request.method.rawValue
        for name in forwardedFields {
            if let value = request.headers[name] { forwarded.setValue(value, forHTTPHeaderField: name.rawName) }
        }
        forwarded.setValue("1", forHTTPHeaderField: Confidential.forwardedHeader)
        if let body { forwarded.httpBody = Data(buffer: body) }
        let answer: (Data, URLResponse)? = await withCheckedContinuation { continuation in
            session.dataTask(with: forwarded) { data, response, error in
                if let response, error == nil {
                    continuation.resume(returning: (data ?? Data(), response))
                } else {
                    continuation.resume(returning: nil)
                }
            }.resume()
        }
        guard let (data, response) = answer, let http = response as? HTTPURLResponse else { return nil }
        var headers = HTTPFields()
        for name in ["content-type", "x-openwhisk-activation-id", "retry-after"] {
            if let value = http.value(forHTTPHeaderField: name) { headers[HTTPField.Name(name)!] = value }
        }
        return Response(status: HTTPResponse.Status(code: http.statusCode), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(data: data)))
    }
}

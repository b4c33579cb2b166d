import Foundation
import Hummingbird
import TabulaPlatform
import TabulaWire

/// Returns every request's id as `X-Request-ID`, and turns every error into
/// OpenWhisk's error body `{"error": message, "code": request id}` with the matching status.
struct RequestIDMiddleware: RouterMiddleware {
    let maxUploadSize: Int

    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        var context = context
        context.maxUploadSize = maxUploadSize
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let (status, message) = Self.describe(error, maxUploadSize: maxUploadSize)
            if status.code >= 500 {
                context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            }
            response = Response.json(ErrorBody(error: message, code: context.id), status: status)
            if status == .unauthorized {
                response.headers[.wwwAuthenticate] = #"Basic realm="tabula""#
            }
            if status == .serviceUnavailable {
                // The store is failing over, or the enclave is starting: worth trying again soon.
                response.headers[.retryAfter] = "2"
            }
        }
        response.headers[HTTPFields.Element.Name("X-Request-ID")!] = context.id
        return response
    }

    /// The status and message for an error; messages never include request content.
    static func describe(_ error: any Error, maxUploadSize: Int) -> (HTTPResponse.Status, String) {
        switch error {
        case let error as PlatformError:
            return (status(of: error.code), error.message)
        case let error as any HTTPResponseError:
            // Hummingbird's own errors: a body over the limit, an unknown route, a wrong method.
            switch error.status {
            case .contentTooLarge:
                return (.contentTooLarge, "The request content was too large: the limit is \(maxUploadSize) bytes.")
            case .notFound:
                return (.notFound, "The requested resource does not exist.")
            case .methodNotAllowed:
                return (.methodNotAllowed, "The requested method is not allowed on this resource.")
            default:
                return (error.status, (error as? HTTPError)?.body ?? error.status.reasonPhrase)
            }
        case is DecodingError:
            return (.badRequest, "The request content was malformed: it is not valid JSON of the expected shape.")
        default:
            return (.internalServerError, "An internal error occurred; see the server log for the request id.")
        }
    }

    static func status(of code: PlatformError.Code) -> HTTPResponse.Status {
        switch code {
        case .badRequest: .badRequest
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .conflict: .conflict
        case .payloadTooLarge: .contentTooLarge
        case .tooManyRequests: .tooManyRequests
        case .internalError: .internalServerError
        case .unavailable: .serviceUnavailable
        case .misdirected: .misdirectedRequest
        }
    }
}

extension Response {
    /// A JSON response, encoded the canonical way.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(data: JSONValue.encode(value))))
    }
}

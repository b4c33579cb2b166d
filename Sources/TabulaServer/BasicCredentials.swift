import Foundation
import HTTPTypes

/// OpenWhisk credentials (`UUID:KEY`) from an HTTP basic `Authorization` header: the one parser
/// of the platform's API and of the key broker's secrets endpoints.
struct BasicCredentials {
    var uuid: String
    var key: String

    /// The credentials of `fields`, or `nil` when there is no well-formed basic header.
    init?(_ fields: HTTPFields) {
        guard let header = fields[.authorization], header.hasPrefix("Basic "),
              let decoded = Data(base64Encoded: String(header.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) }),
              let colon = decoded.firstIndex(of: ":")
        else { return nil }
        uuid = String(decoded[..<colon])
        key = String(decoded[decoded.index(after: colon)...])
    }
}

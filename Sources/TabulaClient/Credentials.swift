import Foundation

/// An OpenWhisk key, `UUID:KEY`: the HTTP basic credentials of one namespace.
public struct Credentials: Sendable, Hashable {
    /// The user name of HTTP basic authentication.
    public var uuid: String
    /// The password of HTTP basic authentication.
    public var key: String

    public init(uuid: String, key: String) {
        self.uuid = uuid
        self.key = key
    }

    /// Parses `UUID:KEY`, as `tabula serve` writes it and wsk's `AUTH` holds it.
    ///
    /// Splits at the first `:` (a key may contain more); surrounding whitespace, such as the
    /// newline at the end of a key file, is ignored.
    /// - Throws: ``ClientError`` `invalidCredentials` when either part is missing.
    public init(parsing text: String) throws {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex, text.index(after: colon) != text.endIndex else {
            throw ClientError(.invalidCredentials, "The key is not of the form UUID:KEY.")
        }
        self.init(uuid: String(text[..<colon]), key: String(text[text.index(after: colon)...]))
    }

    /// `UUID:KEY`.
    public var text: String { "\(uuid):\(key)" }

    /// The value of the `Authorization` header: `Basic` and base64 of `UUID:KEY`.
    public var authorizationHeader: String {
        "Basic " + Data(text.utf8).base64EncodedString()
    }
}

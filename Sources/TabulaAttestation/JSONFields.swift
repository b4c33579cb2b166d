import Foundation
import TabulaWire

/// Typed reads of a JSON object's members for Intel's collateral, each failure naming the document
/// and the member (collateral comes from outside, so a missing or mistyped member is an error, never a trap).
struct JSONFields {
    let members: [String: JSONValue]
    /// The document, for messages: "TCB info", "QE identity".
    let what: String

    init(_ value: JSONValue?, _ what: String) throws(AttestationError) {
        guard let members = value?.objectValue else {
            throw AttestationError(.malformed, "\(what) is not a JSON object")
        }
        self.members = members
        self.what = what
    }

    func has(_ key: String) -> Bool { members[key] != nil && members[key] != .null }

    func string(_ key: String) throws(AttestationError) -> String {
        guard let value = members[key]?.stringValue else { throw missing(key, "a string") }
        return value
    }

    func int(_ key: String) throws(AttestationError) -> Int {
        guard case .integer(let value) = members[key], let int = Int(exactly: value) else { throw missing(key, "an integer") }
        return int
    }

    func hex(_ key: String, count: Int? = nil) throws(AttestationError) -> [UInt8] {
        guard let bytes = [UInt8](hex: try string(key)), count == nil || bytes.count == count else {
            throw missing(key, count.map { "\($0) bytes of hex" } ?? "hex")
        }
        return bytes
    }

    func date(_ key: String) throws(AttestationError) -> Date {
        let text = try string(key)
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let date = formatter.date(from: text) else { throw missing(key, "an ISO 8601 time") }
        return date
    }

    func array(_ key: String) throws(AttestationError) -> [JSONValue] {
        guard case .array(let items) = members[key] else { throw missing(key, "an array") }
        return items
    }

    func object(_ key: String) throws(AttestationError) -> JSONFields {
        try JSONFields(members[key], "\(what) \(key)")
    }

    /// An optional array of strings (e.g. `advisoryIDs`); empty when absent.
    func strings(_ key: String) throws(AttestationError) -> [String] {
        guard has(key) else { return [] }
        return try array(key).map { item throws(AttestationError) in
            guard let text = item.stringValue else { throw missing(key, "an array of strings") }
            return text
        }
    }

    private func missing(_ key: String, _ kind: String) -> AttestationError {
        AttestationError(.malformed, "\(what): \"\(key)\" is missing or not \(kind)")
    }
}

/// A type that writes its canonical JSON by hand, which ``JSONValue/bytes(_:)`` uses instead of
/// its `Encodable` conformance.
///
/// For the types encoded once or more per invocation (activation records, receipts, sealed
/// results): going through `Encoder` containers costs about ten times as much, and even building
/// a ``JSONValue`` first costs a dictionary per object. What is written must be exactly what the
/// `Encodable` conformance produces, which the tests check type by type.
package protocol JSONValueRepresentable: Encodable {
    /// Appends the canonical encoding and returns `true`, or appends nothing and returns `false`
    /// when the value holds what a ``JSONValue`` cannot (an integer above `Int64.max`), for the
    /// `Encodable` path to write.
    func writeJSON(to output: inout [UInt8]) -> Bool
}

extension JSONValue {
    /// One member for ``writeObject(_:to:)``; a `nil` value is left out, as `Encodable` leaves
    /// out an absent optional.
    package typealias Member = (key: String, value: JSONValue?)

    /// Appends an object whose members are given in ascending key order, the canonical order:
    /// spares building a dictionary and sorting it again.
    package static func writeObject(_ members: [Member], to output: inout [UInt8]) {
        assert(zip(members, members.dropFirst()).allSatisfy { $0.key < $1.key }, "object members must be given in ascending key order")
        output.append(UInt8(ascii: "{"))
        var first = true
        for member in members {
            guard let value = member.value else { continue }
            if !first { output.append(UInt8(ascii: ",")) }
            first = false
            write(string: member.key, to: &output)
            output.append(UInt8(ascii: ":"))
            value.write(to: &output)
        }
        output.append(UInt8(ascii: "}"))
    }
}

extension Activation: JSONValueRepresentable {
    package func writeJSON(to output: inout [UInt8]) -> Bool {
        JSONValue.writeObject([
            ("activationId", .string(activationId)), ("annotations", .array(annotations.map(\.keyValueJSON))),
            ("cause", cause.map(JSONValue.string)), ("duration", .integer(duration)), ("end", .integer(end)), ("logs", logs.map { .array($0.map { .string($0) }) }),
            ("name", .string(name)), ("namespace", .string(namespace)), ("publish", .bool(publish)), ("response", response?.responseJSON),
            ("start", .integer(start)), ("statusCode", .integer(Int64(statusCode))), ("subject", .string(subject)), ("version", .string(version)),
        ], to: &output)
        return true
    }
}

extension Activation.Response: JSONValueRepresentable {
    package func writeJSON(to output: inout [UInt8]) -> Bool {
        responseJSON.write(to: &output)
        return true
    }

    var responseJSON: JSONValue {
        var members: [String: JSONValue] = ["status": .string(status), "statusCode": .integer(Int64(statusCode)), "success": .bool(success)]
        if let result { members["result"] = result }
        return .object(members)
    }
}

extension KeyValue: JSONValueRepresentable {
    package func writeJSON(to output: inout [UInt8]) -> Bool {
        keyValueJSON.write(to: &output)
        return true
    }

    var keyValueJSON: JSONValue { ["key": .string(key), "value": value] }
}

extension Receipt: JSONValueRepresentable {
    /// Written member by member in ascending key order, with the keys as constants: one receipt
    /// is written per confidential invocation.
    package func writeJSON(to output: inout [UInt8]) -> Bool {
        // A sequence's receipt (rare) goes the Encodable way.
        guard components == nil, let sequence = Int64(exactly: sequence), let epoch = Int64(exactly: epoch) else { return false }
        func raw(_ text: StaticString) {
            output.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }
        func string(_ key: StaticString, _ value: String) {
            raw(key)
            JSONValue.write(string: value, to: &output)
        }
        func integer(_ key: StaticString, _ value: Int64) {
            raw(key)
            JSONValue.integer(value).write(to: &output)
        }
        string("{\"activationId\":", activationId)
        integer(",\"epoch\":", epoch)
        integer(",\"issuedAt\":", issuedAt)
        string(",\"moduleDigest\":", moduleDigest)
        string(",\"name\":", name)
        string(",\"namespace\":", namespace)
        string(",\"policyDigest\":", policyDigest)
        string(",\"requestDigest\":", requestDigest)
        string(",\"responseDigest\":", responseDigest)
        string(",\"salt\":", salt)
        integer(",\"sandbox\":", Int64(sandbox))
        integer(",\"sequence\":", sequence)
        string(",\"snapshotDigest\":", snapshotDigest)
        string(",\"tee\":", tee)
        integer(",\"version\":", Int64(version))
        raw("}")
        return true
    }
}

extension ConfidentialResult: JSONValueRepresentable {
    package func writeJSON(to output: inout [UInt8]) -> Bool {
        JSONValue.writeObject([
            ("activationId", .string(activationId)), ("logs", .array(logs.map { .string($0) })), ("result", result),
            ("status", .string(status)), ("success", .bool(success)),
        ], to: &output)
        return true
    }
}

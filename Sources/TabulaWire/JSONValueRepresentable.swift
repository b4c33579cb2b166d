/// A type that builds its ``JSONValue`` by hand, which ``JSONValue/encode(_:)`` uses instead of
/// its `Encodable` conformance.
///
/// For the types encoded once or more per invocation (activation records, receipts, sealed
/// results): going through `Encoder` containers costs about ten times as much. The value must be
/// exactly what the `Encodable` conformance produces, which the tests check type by type.
package protocol JSONValueRepresentable: Encodable {
    /// The value, or `nil` when it holds what a ``JSONValue`` cannot (an integer above
    /// `Int64.max`), for the `Encodable` path to write.
    var jsonValue: JSONValue? { get }
}

extension Activation: JSONValueRepresentable {
    package var jsonValue: JSONValue? {
        var members: [String: JSONValue] = [
            "namespace": .string(namespace), "name": .string(name), "version": .string(version), "subject": .string(subject),
            "activationId": .string(activationId), "start": .integer(start), "end": .integer(end), "duration": .integer(duration),
            "statusCode": .integer(Int64(statusCode)), "annotations": .array(annotations.map { $0.keyValueJSON }), "publish": .bool(publish),
        ]
        if let response { members["response"] = response.responseJSON }
        if let logs { members["logs"] = .array(logs.map { .string($0) }) }
        return .object(members)
    }
}

extension Activation.Response: JSONValueRepresentable {
    package var jsonValue: JSONValue? { responseJSON }

    var responseJSON: JSONValue {
        var members: [String: JSONValue] = ["status": .string(status), "statusCode": .integer(Int64(statusCode)), "success": .bool(success)]
        if let result { members["result"] = result }
        return .object(members)
    }
}

extension KeyValue: JSONValueRepresentable {
    package var jsonValue: JSONValue? { keyValueJSON }

    var keyValueJSON: JSONValue { ["key": .string(key), "value": value] }
}

extension Receipt: JSONValueRepresentable {
    package var jsonValue: JSONValue? {
        guard let sequence = Int64(exactly: sequence), let epoch = Int64(exactly: epoch) else { return nil }
        return [
            "version": .integer(Int64(version)), "activationId": .string(activationId), "namespace": .string(namespace),
            "name": .string(name), "moduleDigest": .string(moduleDigest), "snapshotDigest": .string(snapshotDigest),
            "policyDigest": .string(policyDigest), "sandbox": .integer(Int64(sandbox)), "sequence": .integer(sequence),
            "requestDigest": .string(requestDigest), "responseDigest": .string(responseDigest), "epoch": .integer(epoch),
            "tee": .string(tee), "issuedAt": .integer(issuedAt),
        ]
    }
}

extension ConfidentialResult: JSONValueRepresentable {
    package var jsonValue: JSONValue? {
        [
            "activationId": .string(activationId), "status": .string(status), "success": .bool(success), "result": result,
            "logs": .array(logs.map { .string($0) }),
        ]
    }
}

/// An `Encoder` that builds a ``JSONValue``: how ``JSONValue/encode(_:)`` turns any `Encodable`
/// into canonical bytes without Foundation's `JSONEncoder`, which dominated the cost of encoding
/// activation records, receipts and results.
///
/// Containers write into a tree of reference nodes (so that nested containers need no
/// write-back), turned into a ``JSONValue`` at the end.
struct JSONValueEncoder: Encoder {
    /// One value under construction: a leaf, an object or an array.
    final class Node {
        var leaf: JSONValue = .null
        var members: [String: Node]?
        var items: [Node]?

        var value: JSONValue {
            if let members { return .object(members.mapValues(\.value)) }
            if let items { return .array(items.map(\.value)) }
            return leaf
        }

        func object() -> Node {
            if members == nil { members = [:]; items = nil }
            return self
        }

        func array() -> Node {
            if items == nil { items = []; members = nil }
            return self
        }
    }

    let codingPath: [any CodingKey]
    let userInfo: [CodingUserInfoKey: Any] = [:]
    let node: Node

    static func encode(_ value: some Encodable) throws -> JSONValue {
        if let json = value as? JSONValue { return json }
        let node = Node()
        try value.encode(to: JSONValueEncoder(codingPath: [], node: node))
        return node.value
    }

    /// A nested `Encodable`'s node, through a child encoder.
    static func node(for value: some Encodable, at codingPath: [any CodingKey]) throws -> Node {
        let node = Node()
        if let json = value as? JSONValue {
            node.leaf = json
        } else {
            try value.encode(to: JSONValueEncoder(codingPath: codingPath, node: node))
        }
        return node
    }

    static func leaf(_ value: JSONValue) -> Node {
        let node = Node()
        node.leaf = value
        return node
    }

    /// Raised for an integer ``JSONValue`` cannot hold exactly (an unsigned one above
    /// `Int64.max`): the caller falls back to `JSONEncoder`, which writes its digits.
    struct Unrepresentable: Error {}

    static func integer(_ value: some BinaryInteger) throws -> JSONValue {
        guard let exact = Int64(exactly: value) else { throw Unrepresentable() }
        return .integer(exact)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(Keyed<Key>(node: node.object(), codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        Unkeyed(node: node.array(), codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        Single(node: node, codingPath: codingPath)
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let node: Node
        let codingPath: [any CodingKey]

        private func set(_ value: JSONValue, _ key: Key) { node.members![key.stringValue] = JSONValueEncoder.leaf(value) }

        mutating func encodeNil(forKey key: Key) throws { set(.null, key) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { set(.bool(value), key) }
        mutating func encode(_ value: String, forKey key: Key) throws { set(.string(value), key) }
        mutating func encode(_ value: Double, forKey key: Key) throws { set(.number(value), key) }
        mutating func encode(_ value: Float, forKey key: Key) throws { set(.number(Double(value)), key) }
        mutating func encode(_ value: Int, forKey key: Key) throws { set(try JSONValueEncoder.integer(value), key) }
        mutating func encode(_ value: Int8, forKey key: Key) throws { set(try JSONValueEncoder.integer(value), key) }
        mutating func encode(_ value: Int16, forKey key: Key) throws { set(try JSONValueEncoder.integer(value), key) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { set(try JSONValueEncoder.integer(value), key) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { set(try JSONValueEncoder.integer(value), key) }
        mutating func encode(_ value: UInt, forKey key: Key) throws { set(try JSONValueEncoder.integer(value), key) }
        mutating func encode(_ value: UInt8, forKey key: Key) throws { set(try JSONValueEncoder.integer(value), key) }
        mutating func encode(_ value: UInt16, forKey key: Key) throws { set(try JSONValueEncoder.integer(value), key) }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { set(try JSONValueEncoder.integer(value), key) }
        mutating func encode(_ value: UInt64, forKey key: Key) throws { set(try JSONValueEncoder.integer(value), key) }
        mutating func encode(_ value: some Encodable, forKey key: Key) throws {
            node.members![key.stringValue] = try JSONValueEncoder.node(for: value, at: codingPath + [key])
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            let child = Node().object()
            node.members![key.stringValue] = child
            return KeyedEncodingContainer(Keyed<NestedKey>(node: child, codingPath: codingPath + [key]))
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            let child = Node().array()
            node.members![key.stringValue] = child
            return Unkeyed(node: child, codingPath: codingPath + [key])
        }

        mutating func superEncoder() -> any Encoder { superEncoder(forKey: Key(stringValue: "super")!) }

        mutating func superEncoder(forKey key: Key) -> any Encoder {
            let child = Node()
            node.members![key.stringValue] = child
            return JSONValueEncoder(codingPath: codingPath + [key], node: child)
        }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let node: Node
        let codingPath: [any CodingKey]
        var count: Int { node.items?.count ?? 0 }

        private func append(_ value: JSONValue) { node.items!.append(JSONValueEncoder.leaf(value)) }

        mutating func encodeNil() throws { append(.null) }
        mutating func encode(_ value: Bool) throws { append(.bool(value)) }
        mutating func encode(_ value: String) throws { append(.string(value)) }
        mutating func encode(_ value: Double) throws { append(.number(value)) }
        mutating func encode(_ value: Float) throws { append(.number(Double(value))) }
        mutating func encode(_ value: Int) throws { append(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: Int8) throws { append(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: Int16) throws { append(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: Int32) throws { append(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: Int64) throws { append(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: UInt) throws { append(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: UInt8) throws { append(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: UInt16) throws { append(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: UInt32) throws { append(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: UInt64) throws { append(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: some Encodable) throws {
            node.items!.append(try JSONValueEncoder.node(for: value, at: codingPath))
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            let child = Node().object()
            node.items!.append(child)
            return KeyedEncodingContainer(Keyed<NestedKey>(node: child, codingPath: codingPath))
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            let child = Node().array()
            node.items!.append(child)
            return Unkeyed(node: child, codingPath: codingPath)
        }

        mutating func superEncoder() -> any Encoder {
            let child = Node()
            node.items!.append(child)
            return JSONValueEncoder(codingPath: codingPath, node: child)
        }
    }

    struct Single: SingleValueEncodingContainer {
        let node: Node
        let codingPath: [any CodingKey]

        private func set(_ value: JSONValue) {
            node.members = nil
            node.items = nil
            node.leaf = value
        }

        mutating func encodeNil() throws { set(.null) }
        mutating func encode(_ value: Bool) throws { set(.bool(value)) }
        mutating func encode(_ value: String) throws { set(.string(value)) }
        mutating func encode(_ value: Double) throws { set(.number(value)) }
        mutating func encode(_ value: Float) throws { set(.number(Double(value))) }
        mutating func encode(_ value: Int) throws { set(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: Int8) throws { set(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: Int16) throws { set(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: Int32) throws { set(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: Int64) throws { set(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: UInt) throws { set(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: UInt8) throws { set(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: UInt16) throws { set(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: UInt32) throws { set(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: UInt64) throws { set(try JSONValueEncoder.integer(value)) }
        mutating func encode(_ value: some Encodable) throws {
            let child = try JSONValueEncoder.node(for: value, at: codingPath)
            node.leaf = child.leaf
            node.members = child.members
            node.items = child.items
        }
    }
}

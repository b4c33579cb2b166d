import Foundation
import PostgresNIO

extension PostgresBackend {
    package func putEntity(_ kind: Store.EntityKind, namespace: String, name: String, revise: @escaping @Sendable (String?) throws -> Store.EntityRow) async throws {
        try await perform("store a \(kind.rawValue)") { client in
            try await client.withTransaction(logger: self.logger) { connection in
                // The namespace row is locked: a concurrent delete of the namespace waits, or wins first.
                let owners = try await connection.query("SELECT uuid FROM namespace WHERE name = \(namespace) FOR SHARE", logger: self.logger).decode(String.self)
                guard try await Self.collect(owners).first != nil else {
                    throw PlatformError(.notFound, "The namespace \(namespace) does not exist (it was deleted).")
                }
                let documents = try await connection.query(
                    "SELECT document FROM entity WHERE namespace = \(namespace) AND kind = \(kind.rawValue) AND name = \(name) FOR UPDATE",
                    logger: self.logger).decode(String.self)
                let previous = try await Self.collect(documents).first
                let row = try revise(previous)
                if previous == nil {
                    // Two creates at once: the second finds the first's row on insert.
                    let inserted = try await connection.query("""
                        INSERT INTO entity (namespace, kind, name, document, publish, updated, link)
                        VALUES (\(namespace), \(kind.rawValue), \(name), \(row.document), \(row.publish), \(row.updated), \(row.link))
                        ON CONFLICT (namespace, kind, name) DO NOTHING RETURNING 1
                        """, logger: self.logger).decode(Int.self)
                    guard try await Self.collect(inserted).count == 1 else { throw PlatformError(.conflict, PlatformError.alreadyExists) }
                } else {
                    try await connection.query("""
                        UPDATE entity SET document = \(row.document), publish = \(row.publish), updated = \(row.updated), link = \(row.link)
                        WHERE namespace = \(namespace) AND kind = \(kind.rawValue) AND name = \(name)
                        """, logger: self.logger)
                }
            }
        }
    }

    package func entity(_ kind: Store.EntityKind, namespace: String, name: String) async throws -> String? {
        try await perform("read a \(kind.rawValue)") { client in
            try await Self.collect(client.query(
                "SELECT document FROM entity WHERE namespace = \(namespace) AND kind = \(kind.rawValue) AND name = \(name)",
                logger: self.logger).decode(String.self)).first
        }
    }

    package func entityDocuments(_ kind: Store.EntityKind, namespace: String, publishedOnly: Bool, link: String?, limit: Int, skip: Int, page: Store.DocumentPage) async throws -> [String] {
        try await perform("list \(kind.rawValue)s") { client in
            var page = page
            let rows = try await client.query("""
                SELECT document FROM entity WHERE namespace = \(namespace) AND kind = \(kind.rawValue) AND (publish OR NOT \(publishedOnly))
                AND (\(link == nil) OR link = \(link ?? ""))
                ORDER BY updated DESC, name LIMIT \(limit) OFFSET \(skip)
                """, logger: self.logger).decode(String.self)
            for try await document in rows {
                guard page.add(document) else { break }
            }
            return page.documents
        }
    }

    package func entityCount(_ kind: Store.EntityKind, namespace: String, publishedOnly: Bool, link: String?) async throws -> Int {
        try await perform("count \(kind.rawValue)s") { client in
            try await Self.collect(client.query(
                "SELECT count(*) FROM entity WHERE namespace = \(namespace) AND kind = \(kind.rawValue) AND (publish OR NOT \(publishedOnly)) AND (\(link == nil) OR link = \(link ?? ""))",
                logger: self.logger).decode(Int.self)).first ?? 0
        }
    }

    package func deleteEntity(_ kind: Store.EntityKind, namespace: String, name: String, force: Bool) async throws -> Store.EntityDeletion {
        try await perform("delete a \(kind.rawValue)") { client in
            try await client.withTransaction(logger: self.logger) { connection in
                let documents = try await connection.query(
                    "SELECT document FROM entity WHERE namespace = \(namespace) AND kind = \(kind.rawValue) AND name = \(name) FOR UPDATE",
                    logger: self.logger).decode(String.self)
                guard let document = try await Self.collect(documents).first else { return .notFound }
                var removed: [String] = []
                if kind == .package {
                    let prefix = "\(name)/"
                    let names = try await connection.query(
                        "SELECT name FROM action WHERE namespace = \(namespace) AND left(name, length(\(prefix))) = \(prefix) FOR UPDATE",
                        logger: self.logger).decode(String.self)
                    removed = try await Self.collect(names)
                    if !removed.isEmpty && !force { return .notEmpty(removed.count) }
                    try await connection.query(
                        "DELETE FROM action WHERE namespace = \(namespace) AND left(name, length(\(prefix))) = \(prefix)", logger: self.logger)
                    // Every node forgets the deleted actions when the transaction commits.
                    for action in removed {
                        try await connection.query("SELECT pg_notify(\(Self.actionChannel), \(Self.payload(namespace, action)))", logger: self.logger)
                    }
                }
                try await connection.query(
                    "DELETE FROM entity WHERE namespace = \(namespace) AND kind = \(kind.rawValue) AND name = \(name)", logger: self.logger)
                return .deleted(document, actions: removed)
            }
        }
    }
}

import Foundation
import GRDB

extension SQLiteBackend {
    package func putEntity(_ kind: Store.EntityKind, namespace: String, name: String, revise: @escaping @Sendable (String?) throws -> Store.EntityRow) async throws {
        try await database.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM namespace WHERE name = ?", arguments: [namespace]) != nil else {
                throw PlatformError(.notFound, "The namespace \(namespace) does not exist (it was deleted).")
            }
            let previous = try String.fetchOne(
                db, sql: "SELECT document FROM entity WHERE namespace = ? AND kind = ? AND name = ?", arguments: [namespace, kind.rawValue, name])
            let row = try revise(previous)
            try db.execute(
                sql: "INSERT OR REPLACE INTO entity (namespace, kind, name, document, publish, updated, link) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [namespace, kind.rawValue, name, row.document, row.publish, row.updated, row.link])
        }
    }

    package func entity(_ kind: Store.EntityKind, namespace: String, name: String) async throws -> String? {
        try await database.read { db in
            try String.fetchOne(db, sql: "SELECT document FROM entity WHERE namespace = ? AND kind = ? AND name = ?", arguments: [namespace, kind.rawValue, name])
        }
    }

    package func entityDocuments(_ kind: Store.EntityKind, namespace: String, publishedOnly: Bool, link: String?, limit: Int, skip: Int, page: Store.DocumentPage) async throws -> [String] {
        try await database.read { db in
            var page = page
            let documents = try String.fetchCursor(
                db, sql: """
                    SELECT document FROM entity WHERE namespace = ? AND kind = ? AND publish >= ? AND (? IS NULL OR link = ?)
                    ORDER BY updated DESC, name LIMIT ? OFFSET ?
                    """,
                arguments: [namespace, kind.rawValue, publishedOnly ? 1 : 0, link, link, limit, skip])
            while let document = try documents.next(), page.add(document) {}
            return page.documents
        }
    }

    package func entityCount(_ kind: Store.EntityKind, namespace: String, publishedOnly: Bool, link: String?) async throws -> Int {
        try await database.read { db in
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM entity WHERE namespace = ? AND kind = ? AND publish >= ? AND (? IS NULL OR link = ?)",
                arguments: [namespace, kind.rawValue, publishedOnly ? 1 : 0, link, link]) ?? 0
        }
    }

    package func deleteEntity(_ kind: Store.EntityKind, namespace: String, name: String, force: Bool) async throws -> Store.EntityDeletion {
        try await database.write { db in
            guard let document = try String.fetchOne(
                db, sql: "SELECT document FROM entity WHERE namespace = ? AND kind = ? AND name = ?", arguments: [namespace, kind.rawValue, name])
            else { return .notFound }
            var removed: [String] = []
            if kind == .package {
                let prefix = "\(name)/"
                let contents = try String.fetchAll(
                    db, sql: "SELECT name FROM action WHERE namespace = ? AND substr(name, 1, length(?)) = ?", arguments: [namespace, prefix, prefix])
                if !contents.isEmpty && !force { return .notEmpty(contents.count) }
                try db.execute(sql: "DELETE FROM action WHERE namespace = ? AND substr(name, 1, length(?)) = ?", arguments: [namespace, prefix, prefix])
                removed = contents
            }
            try db.execute(sql: "DELETE FROM entity WHERE namespace = ? AND kind = ? AND name = ?", arguments: [namespace, kind.rawValue, name])
            return .deleted(document, actions: removed)
        }
    }
}

import Foundation
import Hummingbird
import TabulaPlatform
import TabulaWire

extension Routes {
    // MARK: The verifiable log

    func registerLog(on api: RouterGroup<ServerContext>) {
        // The verifiable log, after RFC 6962 §4 (docs/log.md).
        let log = api.group("log")
        log.get("sth") { _, _ in
            let head = try await platform.transparencyLog().treeHead()
            return Response.json([
                "tree_size": .integer(Int64(head.size)), "timestamp": .integer(Int64(head.timestamp)),
                "sha256_root_hash": .string(Data(head.root).base64EncodedString()),
                "tree_head_signature": .string(Data(head.signature).base64EncodedString()),
            ] as JSONValue)
        }
        log.get("consistency") { request, _ in
            let first: UInt64 = try Self.integer(request.uri.queryParameters.get("first") ?? "", "first")
            let second: UInt64 = try Self.integer(request.uri.queryParameters.get("second") ?? "", "second")
            let proof = try await platform.transparencyLog().consistencyProof(first: first, second: second)
            return Response.json(["consistency": .array(proof.map { .string(Data($0).base64EncodedString()) })] as JSONValue)
        }
        log.get("proof") { request, _ in
            guard let text = request.uri.queryParameters.get("hash"), let hash = Data(base64Encoded: text), hash.count == 32 else {
                throw PlatformError(.badRequest, "hash must be the base64 of a 32-byte leaf hash.")
            }
            let size: UInt64 = try Self.integer(request.uri.queryParameters.get("tree_size") ?? "", "tree_size")
            let (index, path) = try await platform.transparencyLog().inclusionProof(leafHash: Array(hash), treeSize: size)
            return Response.json(["leaf_index": .integer(Int64(index)), "audit_path": .array(path.map { .string(Data($0).base64EncodedString()) })] as JSONValue)
        }
        log.get("entries") { request, _ in
            let start: UInt64 = try Self.integer(request.uri.queryParameters.get("start") ?? "", "start")
            let end: UInt64 = try Self.integer(request.uri.queryParameters.get("end") ?? "", "end")
            let entries = try await platform.transparencyLog().entries(start: start, end: end)
            return Response.json(["entries": .array(entries.map { .object(["leaf_input": .string(Data($0).base64EncodedString())]) })] as JSONValue)
        }
    }
}

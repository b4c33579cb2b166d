import Testing
import TabulaEnclave
import TabulaWire

/// The C examples, built to wasm32-wasi, run correctly and repeatedly in one reused sandbox, in the
/// enclave's process and in a worker.
@Suite("Examples")
struct ExamplesTests {
    @Test(arguments: TestIsolation.allCases)
    func hasherMatchesKnownDigestsAcrossReuse(isolation: TestIsolation) async throws {
        try await withEnclave(runtime: isolation) { enclave in
            let name = try await enclave.load(try example("c/hasher.wasm"))
            let cases: [(JSONValue, String)] = [
                (["text": "abc"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
                (["text": ""], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
                (["text": .string(String(repeating: "long secret ", count: 5000))], ""),
                (["text": "hello world"], "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"),
                (["text": "abc", "rounds": 1000], "fc8a6b86a13f71cd9a67f558ab6fd82a3dd89186163a017ed8051acf6d3f8f99"),
                (["text": "abc"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            ]
            for (input, digest) in cases {
                let invocation = try await enclave.invoke(name, parameters: input)
                #expect(invocation.response.status == .success)
                if !digest.isEmpty { #expect(invocation.response.result["sha256"] == .string(digest)) }
                #expect(invocation.logs.first?.hasPrefix("hasher: hashed") == true)
            }
            let missing = try await enclave.invoke(name, parameters: ["text": 5])
            #expect(missing.response == ActivationResponse(status: .applicationError, result: ["error": "parameter 'text' (a string) is required"]))
        }
    }

    @Test(arguments: TestIsolation.allCases)
    func transformerAcrossReuse(isolation: TestIsolation) async throws {
        try await withEnclave(runtime: isolation) { enclave in
            let name = try await enclave.load(try example("c/transform.wasm"))
            let input: JSONValue = [
                "records": [["name": "bob", "age": 30, "city": "Oslo"], ["name": "alice", "age": 25, "city": "Rome"], ["name": "carol", "age": 35]],
                "select": ["name", "age"], "uppercase": ["name"], "sortBy": "age",
            ]
            let expected: JSONValue = [
                "records": [["name": "ALICE", "age": 25], ["name": "BOB", "age": 30], ["name": "CAROL", "age": 35]],
                "count": 3, "stats": ["age": ["min": 25, "max": 35, "sum": 90, "mean": 30]],
            ]
            let big: JSONValue = ["records": .array((0..<5000).map { ["id": .integer(Int64($0)), "secret": .string("s\($0)")] })]
            for parameters in [input, big, ["records": []], input] {
                let invocation = try await enclave.invoke(name, parameters: parameters)
                #expect(invocation.response.status == .success)
                if parameters == input { #expect(invocation.response.result == expected) }
            }
            let bad = try await enclave.invoke(name, parameters: ["records": [1]])
            #expect(bad.response.status == .applicationError)
        }
    }
}

/// The Rust example, built by Debian's rustc: its std seeds `HashMap`s from `random_get`, which
/// the default policy grants.
@Suite("Rust example")
struct RustExampleTests {
    @Test(arguments: TestIsolation.allCases)
    func wordcountRunsUnderTheDefaultPolicyAcrossReuse(isolation: TestIsolation) async throws {
        try await withEnclave(runtime: isolation) { enclave in
            let name = try await enclave.load(try example("rust/wordcount.wasm"), capabilities: .default)
            for _ in 0..<3 {
                let invocation = try await enclave.invoke(name, parameters: ["text": "the cat and the dog and THE bird", "top": 2])
                #expect(invocation.response.status == .success)
                #expect(invocation.response.result == ["words": 8, "distinct": 5, "top": [["word": "the", "count": 3], ["word": "and", "count": 2]]])
                #expect(invocation.logs == ["wordcount: 8 words, 5 distinct"])
            }
            let bad = try await enclave.invoke(name, parameters: ["top": 2])
            #expect(bad.response == ActivationResponse(status: .applicationError, result: ["error": "missing \"text\""]))
        }
    }

    @Test func wordcountWithoutRandomnessSaysWhatToGrant() async throws {
        try await withEnclave { enclave in
            let name = try await enclave.load(try example("rust/wordcount.wasm"), capabilities: .clock)
            let response = try await enclave.invoke(name, parameters: ["text": "a"]).response
            #expect(response.status == .developerError)
            #expect(response.result["error"]?.stringValue?.contains("random_get was refused: the function's policy does not grant the random capability") == true)
        }
    }
}

/// The largest module Tabula loads, and the largest sizes, counts and nesting inside it.
///
/// A module is hostile input. Before any byte of it reaches WasmKit's parsers, Tabula checks it
/// against these bounds with a pass of its own that cannot trap, recurse or allocate by a declared
/// count: every vector count is checked against the bytes left to hold it (each entry takes at
/// least one byte), every LEB128 against its width, every declared size against the file. What
/// WasmKit then parses is small enough that its recursion, allocations and integer conversions
/// stay safe. The bounds are far above what compilers emit for a function (they follow the limits
/// of browser engines where those have one) and are documented in docs/functions.md.
enum ModuleBounds {
    /// The largest `.wasm` file.
    static let maxBinaryBytes = 64 << 20
    /// The largest `.wat` file: its parser needs much more memory per byte than the binary one.
    static let maxTextBytes = 16 << 20
    /// The deepest nesting of parentheses in WAT text (folded expressions, nested blocks): WasmKit's
    /// WAT parser recurses once or more per level, on the loading thread's stack.
    static let maxTextNesting = 500
    /// The deepest nesting of `block`, `loop`, `if` and `try` in the flat syntax of WAT text,
    /// closed by `end` (folded ones are counted as parentheses).
    static let maxTextBlockNesting = 500
    static let maxTypes = 1_000_000
    /// Parameters or results of one function type.
    static let maxTypeArity = 1_000
    static let maxImports = 100_000
    static let maxFunctions = 1_000_000
    static let maxTables = 100
    /// Elements in a table at instantiation and after any `table.grow`.
    static let maxTableElements = 1 << 20
    /// Elements of all the tables of an instance together, at instantiation and after any
    /// `table.grow` (8 bytes each, which also count toward the function's memory limit).
    static let maxTotalTableElements = 1 << 20
    static let maxGlobals = 1_000_000
    static let maxExports = 100_000
    static let maxElementSegments = 100_000
    static let maxDataSegments = 100_000
    /// Locals of one function (beside its parameters), over all its local declarations.
    static let maxFunctionLocals = 50_000
    /// The code of one function, in bytes.
    static let maxFunctionBodyBytes = 7_654_321
    /// Bytes of one name (import, export, custom section).
    static let maxNameBytes = 100_000

    /// Refuses WAT text that is too large or nested too deeply for WasmKit's parser.
    ///
    /// Counts parentheses outside strings and comments (`;;` to the end of the line, `(; ;)`
    /// nested), and `block`, `loop`, `if` and `try` keywords against their `end`s, which nest
    /// without parentheses in the flat syntax.
    static func checkText(_ bytes: [UInt8]) throws(EnclaveError) {
        guard bytes.count <= maxTextBytes else {
            throw EnclaveError(.invalidModule, "the WAT text is \(FunctionModule.mebibytes(UInt64(bytes.count))) long, more than the \(FunctionModule.mebibytes(UInt64(maxTextBytes))) Tabula parses; compile it to a .wasm binary (wat2wasm) and deploy that")
        }
        var depth = 0
        var blocks = 0
        var index = 0
        var line = 1
        let count = bytes.count
        func tooDeep(_ what: String, _ limit: Int) -> EnclaveError {
            EnclaveError(.invalidModule, "the WAT text nests \(what) more than \(limit) deep (line \(line)); Tabula refuses deeper nesting, flatten the code")
        }
        while index < count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\n"):
                line += 1
                index += 1
            case UInt8(ascii: "\""):
                // A string: skip to its closing quote, over escapes.
                index += 1
                while index < count, bytes[index] != UInt8(ascii: "\"") {
                    if bytes[index] == UInt8(ascii: "\\") { index += 1 }
                    if index < count, bytes[index] == UInt8(ascii: "\n") { line += 1 }
                    index += 1
                }
                index += 1
            case UInt8(ascii: ";") where index + 1 < count && bytes[index + 1] == UInt8(ascii: ";"):
                while index < count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
            case UInt8(ascii: "(") where index + 1 < count && bytes[index + 1] == UInt8(ascii: ";"):
                // A block comment; they nest.
                var comments = 0
                while index < count {
                    if bytes[index] == UInt8(ascii: "("), index + 1 < count, bytes[index + 1] == UInt8(ascii: ";") {
                        comments += 1
                        index += 2
                    } else if bytes[index] == UInt8(ascii: ";"), index + 1 < count, bytes[index + 1] == UInt8(ascii: ")") {
                        comments -= 1
                        index += 2
                        if comments == 0 { break }
                    } else {
                        if bytes[index] == UInt8(ascii: "\n") { line += 1 }
                        index += 1
                    }
                }
            case UInt8(ascii: "("):
                depth += 1
                guard depth <= maxTextNesting else { throw tooDeep("parentheses", maxTextNesting) }
                index += 1
            case UInt8(ascii: ")"):
                // Never below zero: extra closing parentheses must not buy deeper nesting later.
                depth = max(0, depth - 1)
                index += 1
            default:
                guard isIdentifierByte(byte), index == 0 || !isIdentifierByte(bytes[index - 1]) else {
                    index += 1
                    continue
                }
                // A keyword or other token: read it whole.
                let start = index
                while index < count, isIdentifierByte(bytes[index]) { index += 1 }
                let token = bytes[start..<index]
                // A folded block, "(block …)", ends with its parenthesis and is counted by it.
                var before = start - 1
                while before >= 0, bytes[before] == UInt8(ascii: " ") || bytes[before] == UInt8(ascii: "\t") || bytes[before] == UInt8(ascii: "\n") || bytes[before] == UInt8(ascii: "\r") {
                    before -= 1
                }
                let folded = before >= 0 && bytes[before] == UInt8(ascii: "(")
                if folded {
                    continue
                } else if blockKeywords.contains(where: { token.elementsEqual($0) }) {
                    blocks += 1
                    guard blocks <= maxTextBlockNesting else { throw tooDeep("blocks", maxTextBlockNesting) }
                } else if token.elementsEqual("end".utf8) || token.elementsEqual("delegate".utf8) {
                    blocks = max(0, blocks - 1)
                }
            }
        }
    }

    private static let blockKeywords: [String.UTF8View] = ["block".utf8, "loop".utf8, "if".utf8, "try".utf8, "try_table".utf8]

    /// Bytes that make up WAT keywords, identifiers and numbers: the text format's `idchar`s.
    ///
    /// All of them, not only letters and digits: a label such as `$a-end` or `$x:end` is one
    /// token to WasmKit's parser, and reading it as `$a`, `-` and `end` would count an `end`
    /// that is not there, letting a module nest blocks past the bound unseen.
    static func isIdentifierByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            idcharSymbols.utf8.contains(byte)
        }
    }

    /// The `idchar`s beside letters and digits (WebAssembly text format, "Tokens").
    private static let idcharSymbols = "!#$%&'*+-./:<=>?@\\^_`|~"

}

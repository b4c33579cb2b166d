import WasmParser

extension ModuleBounds {
    /// Catch clauses of all the `try_table` instructions of one function together.
    ///
    /// WasmKit 0.4.2 adds up the clauses of the `try_table` blocks a branch leaves in a 16-bit
    /// integer, which traps (ending the process) past 65,535; each `try_table` may carry that many
    /// alone. Bounding the whole function's clauses well below it bounds every such sum.
    static let maxCatchClauses = 10_000

    /// Checks the instructions of one function body against the bounds that only its code shows.
    ///
    /// Run over the parsed instructions before WasmKit translates them: the instruction parser
    /// itself allocates only by counts that ``check(_:)`` has already bounded by the body's size.
    struct CodeBounds: InstructionVisitor {
        typealias VisitorError = EnclaveError
        var binaryOffset: Int = 0
        /// The function's index among the module's bodies, for the message.
        let function: Int
        private var catchClauses = 0

        init(function: Int) {
            self.function = function
        }

        mutating func visitTryTable(blockType: BlockType, tryCatch: TryCatch) throws(EnclaveError) {
            catchClauses += tryCatch.catches.count
            guard catchClauses <= ModuleBounds.maxCatchClauses else {
                throw EnclaveError(.invalidModule, "function body \(function) has more than \(ModuleBounds.maxCatchClauses) catch clauses in its try_table instructions; Tabula loads functions with at most \(ModuleBounds.maxCatchClauses), split the function")
            }
        }
    }
}

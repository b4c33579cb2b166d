/// How an invocation's run ended, before its stdout is read as a result.
package enum Termination: Sendable, Equatable {
    /// The entry returned (or called `proc_exit(0)`).
    case returned
    /// The function exited with a non-zero status (`proc_exit`, or a reactor entry's return value).
    case exited(Int32)
    /// A WebAssembly trap, with the engine's reason.
    case trapped(String)
    /// The wall-clock deadline passed.
    case timedOut
    /// The fuel budget ran out.
    case outOfFuel
    /// The call stack overflowed.
    case stackExhausted
    /// Growing memory was refused at the memory limit and the run failed.
    case memoryExhausted
    /// stdout went past the output limit.
    case outputTooLarge
    /// The worker process running the sandbox stopped (killed, crashed, over its memory limit),
    /// with the parent's account of how.
    case workerStopped(String)
}

extension Termination {
    /// Recognises WasmKit's out-of-fuel trap.
    ///
    /// WasmKit 0.4.2 keeps its trap reasons `package`, so the text is the only public sign of it.
    /// Kept in this one place, with a test, so that an engine update that changes the wording
    /// fails loudly instead of turning timeouts into generic traps.
    static func isOutOfFuel(_ error: any Error) -> Bool {
        String(describing: error).contains("out of fuel")
    }

    /// Recognises WasmKit's call-stack-exhausted trap (same caveat as ``isOutOfFuel(_:)``).
    static func isStackExhausted(_ error: any Error) -> Bool {
        String(describing: error).contains("call stack exhausted")
    }

    /// The trap reason without WasmKit's "Trap: " prefix and backtrace.
    static func reason(of error: any Error) -> String {
        var text = String(describing: error)
        if let newline = text.firstIndex(of: "\n") { text = String(text[..<newline]) }
        if text.hasPrefix("Trap: ") { text.removeFirst(6) }
        return text
    }
}

import Foundation

/// Writes a line to stdout at once (unbuffered: scripts and tests read it while the server runs).
func standardOutput(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Writes a line to stderr.
func standardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// `text` with every control character but tab written as a visible escape (`\u{1B}` as `\u001b`),
/// so that what a function logged or a server named cannot move the cursor, retitle the window or
/// send escape sequences to the user's terminal.
func terminalSafe(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: isControl) else { return text }
    var safe = ""
    for scalar in text.unicodeScalars {
        if isControl(scalar) {
            safe += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
        } else {
            safe.unicodeScalars.append(scalar)
        }
    }
    return safe
}

/// C0 controls but tab, DEL and the C1 controls.
private func isControl(_ scalar: Unicode.Scalar) -> Bool {
    (scalar.value < 0x20 && scalar != "\t") || (0x7F...0x9F).contains(scalar.value)
}

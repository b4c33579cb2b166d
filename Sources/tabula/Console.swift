import Foundation

/// Writes a line to stdout at once (unbuffered: scripts and tests read it while the server runs).
func standardOutput(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Writes a line to stderr.
func standardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

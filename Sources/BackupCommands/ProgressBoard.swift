import BackupKit
import Foundation

/// The progress lines at the bottom of a terminal: a status line (such as `restoring…`) when a command
/// set one, then one line per running phase (``ProgressLine``). Each change gives the bytes that redraw
/// them in place: back to the first line drawn, clear to the end of the screen, print any lines that
/// stay (messages, the summary of a phase that finished), then the board again. A phase that failed is
/// cleared; its error is reported apart.
package struct ProgressBoard {
    package var status: String?
    package private(set) var phases: [PhaseProgress] = []
    /// How many lines are on the screen now.
    package private(set) var drawnLines = 0

    package init() {}

    /// Records `progress`; returns the summary line of a phase that just finished.
    package mutating func update(_ progress: PhaseProgress, now: Date, width: Int) -> String? {
        let index = phases.firstIndex { $0.phase == progress.phase && $0.artifact == progress.artifact }
        switch progress.state {
        case .running:
            if let index { phases[index] = progress } else { phases.append(progress) }
            return nil
        case .finished, .failed:
            if let index { phases.remove(at: index) }
            return progress.state == .finished ? ProgressLine.summary(progress, now: now, width: width) : nil
        }
    }

    /// The board's lines now, each at most `width` characters.
    package func lines(now: Date, width: Int) -> [String] {
        let status = status.map { $0.count > width ? String($0.prefix(max(0, width - 1))) + "…" : $0 }
        return (status.map { [$0] } ?? []) + phases.map { ProgressLine.text($0, now: now, width: width) }
    }

    /// Erases what is drawn, prints `above` (lines that stay), and draws the board.
    package mutating func frame(above: [String] = [], now: Date, width: Int) -> String {
        let lines = lines(now: now, width: width)
        var text = erase()
        for line in above { text += line + "\n" }
        text += lines.joined(separator: "\n")
        drawnLines = lines.count
        return text
    }

    /// Erases what is drawn, leaving the cursor at the start of the first line it took.
    package mutating func erase() -> String {
        defer { drawnLines = 0 }
        guard drawnLines > 0 else { return "" }
        return "\r" + (drawnLines > 1 ? "\u{1B}[\(drawnLines - 1)A" : "") + "\u{1B}[J"
    }
}

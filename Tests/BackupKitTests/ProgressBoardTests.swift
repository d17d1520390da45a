import BackupCommands
import BackupKit
import Foundation
import Testing

/// The bars at the bottom of the terminal: one line per running phase, redrawn in place; a finished
/// phase leaves its summary above, a failed one is cleared, a message is printed above them.
struct ProgressBoardTests {
    static let start = Date(timeIntervalSince1970: 1_700_000_000)
    static let clear = "\r\u{1B}[J"

    static func progress(_ phase: PhaseProgress.Phase, _ artifact: String = "a.tar.gz", done: Int64 = 5, state: PhaseProgress.State = .running) -> PhaseProgress {
        PhaseProgress(phase: phase, artifact: artifact, bytesDone: done, totalBytes: 10, startedAt: start, state: state)
    }

    @Test func eachRunningPhaseHasItsLineAndIsRedrawnInPlace() {
        var board = ProgressBoard()
        let now = Self.start + 1
        #expect(board.update(Self.progress(.upload(sink: "local")), now: now, width: 100) == nil)
        let first = board.frame(now: now, width: 100)
        #expect(!first.contains("\u{1B}"), "nothing drawn yet, nothing to erase: \(first.debugDescription)")
        #expect(board.drawnLines == 1)
        _ = board.update(Self.progress(.upload(sink: "offsite")), now: now, width: 100)
        _ = board.update(Self.progress(.upload(sink: "local"), done: 8), now: now, width: 100)
        let second = board.frame(now: now, width: 100)
        // Back over the one line drawn, then both phases, in the order they started.
        #expect(second.hasPrefix(Self.clear))
        let lines = second.dropFirst(Self.clear.count).split(separator: "\n")
        #expect(lines.count == 2 && lines[0].contains("upload local") && lines[0].contains("80%") && lines[1].contains("upload offsite"), "\(lines)")
        // Two lines drawn: up one line before clearing.
        #expect(board.frame(now: now, width: 100).hasPrefix("\r\u{1B}[1A\u{1B}[J"))
    }

    @Test func aFinishedPhaseLeavesItsSummaryAboveAndAFailedOneIsCleared() {
        var board = ProgressBoard()
        let now = Self.start + 2
        _ = board.update(Self.progress(.verify), now: now, width: 100)
        _ = board.update(Self.progress(.upload(sink: "offsite")), now: now, width: 100)
        _ = board.frame(now: now, width: 100)
        let summary = board.update(Self.progress(.verify, done: 10, state: .finished), now: now, width: 100)
        #expect(summary == "a.tar.gz  verify  done  10 B in 2.0s  5 B/s")
        let frame = board.frame(above: summary.map { [$0] } ?? [], now: now, width: 100)
        #expect(frame.hasPrefix("\r\u{1B}[1A\u{1B}[J" + summary! + "\n") && frame.hasSuffix("[##########..........]  50%  3 B/s  ETA 0:02"), "\(frame.debugDescription)")
        #expect(board.update(Self.progress(.upload(sink: "offsite"), state: .failed), now: now, width: 100) == nil)
        #expect(board.phases.isEmpty)
        #expect(board.frame(now: now, width: 100) == Self.clear, "the failed phase's line is erased and nothing is drawn")
        #expect(board.erase() == "", "nothing left to erase")
    }

    @Test func theStatusLineComesFirstAndAMessageGoesAboveEverything() {
        var board = ProgressBoard()
        board.status = "verifying the newest set in 'local'"
        _ = board.update(Self.progress(.verify), now: Self.start, width: 100)
        #expect(board.lines(now: Self.start, width: 100).first == "verifying the newest set in 'local'")
        _ = board.frame(now: Self.start, width: 100)
        let frame = board.frame(above: ["backupctl: SIGINT: stopping"], now: Self.start, width: 100)
        #expect(frame.hasPrefix("\r\u{1B}[1A\u{1B}[Jbackupctl: SIGINT: stopping\nverifying"), "\(frame.debugDescription)")
        #expect(board.lines(now: Self.start, width: 10).allSatisfy { $0.count <= 10 })
    }
}

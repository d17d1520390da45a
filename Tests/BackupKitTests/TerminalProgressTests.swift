import Foundation
import Glibc
import Testing

/// backupctl's progress as people see it: bars on a terminal (a pseudo-terminal here) for each phase
/// of `run`, `verify` and `restore`, nothing but the messages when stderr is not a terminal, and stdout
/// the same either way.
@Suite(.serialized) struct TerminalProgressTests {
    /// A plan backing up `megabytes` of random files to a local sink.
    static func workspace(_ label: String, megabytes: Int) throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory(label)
        try writeRandomFiles(in: dir.sub("data"), count: max(1, megabytes / 8), size: min(8, megabytes) << 20)
        try writeFile(dir.sub("backup.yml"), """
            name: demo
            sources: [{ name: files, type: directory, path: ./data }]
            sinks: [{ name: local, type: local, path: ./backups }]
            """)
        return dir
    }

    /// The lines a transcript drew, split at each carriage return and newline, escape sequences removed.
    static func drawnLines(_ transcript: String) -> [String] {
        let plain = transcript.replacingOccurrences(of: "\u{1B}\\[[0-9]*[AJK]", with: "", options: .regularExpression)
        return plain.split(whereSeparator: { $0 == "\r" || $0 == "\n" }).map(String.init)
    }

    @Test func nothingIsDrawnWhenStderrIsNotATerminal() throws {
        let dir = try Self.workspace("progress-pipe", megabytes: 16)
        defer { dir.remove() }
        let run = try backupctl(["run"], in: dir.path)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.isEmpty, "stderr holds only messages, and there are none: \(run.stderr.debugDescription)")
        #expect(run.stdout.hasPrefix("plan 'demo': set ") && !run.stdout.contains("\u{1B}") && !run.stdout.contains("\r"))
        for command in [["verify"], ["restore", "--to", dir.sub("restored")]] {
            let result = try backupctl(command, in: dir.path)
            #expect(result.status == 0 && result.stderr.isEmpty, "\(command): \(result.stderr.debugDescription)")
        }
    }

    /// With `--log-level info` or lower the log lines tell what happens; bars redrawn in place would tear them.
    @Test func aVerboseLogDrawsNoBars() throws {
        let dir = try Self.workspace("progress-log", megabytes: 8)
        defer { dir.remove() }
        let run = try PseudoTerminal(columns: 150).runBackupctl(["run", "--log-level", "debug"], in: dir.path)
        #expect(run.status == 0)
        #expect(run.transcript.contains("run event") && !run.transcript.contains("\u{1B}[") && !run.transcript.contains("  verify  ["),
                "\(run.transcript.prefix(600))")
    }

    @Test func aTerminalGetsABarPerPhaseAndTheSameStdout() throws {
        let dir = try Self.workspace("progress-tty", megabytes: 48)
        defer { dir.remove() }
        let run = try PseudoTerminal(columns: 150).runBackupctl(["run"], in: dir.path)
        #expect(run.status == 0, "\(run.transcript)")
        let lines = Self.drawnLines(run.transcript)
        let artifact = try #require(listTree(dir.sub("backups")).first { $0.hasSuffix(".tar.gz") })
        // The archive's total is not known on a first run (a directory source gives no estimate): bytes and rate.
        #expect(lines.contains { $0.hasPrefix("\(artifact)  archive  ") && $0.hasSuffix("/s") }, "\(lines)")
        // The verification reads the artifact back while it is written: its total is what was written so
        // far (`~` while the write goes on): bar, percent, rate and time left.
        let verifyBar = #/  verify  \[[#.]{20}\]  ~?\d{1,3}%  [0-9.]+ [KMG]?i?B/s  ETA ~?(\d+:\d\d|--:--)$/#
        #expect(lines.contains { $0.hasPrefix(artifact) && $0.contains(verifyBar) }, "\(lines)")
        for phase in ["archive", "verify", "upload local"] {
            #expect(lines.contains { $0.hasPrefix("\(artifact)  \(phase)  done  ") }, "\(phase) leaves its summary: \(lines)")
        }
        // stdout is what it is without a terminal.
        #expect(run.stdout.hasPrefix("plan 'demo': set ") && run.stdout.contains("\(artifact)  ") && !run.stdout.contains("\u{1B}"), "\(run.stdout)")

        // A second run estimates the archive from the first: percent marked as an estimate.
        let again = try PseudoTerminal(columns: 150).runBackupctl(["run"], in: dir.path)
        #expect(again.status == 0)
        #expect(Self.drawnLines(again.transcript).contains { $0.contains("  archive  [") && $0.contains("%  ") && $0.contains("~") },
                "\(Self.drawnLines(again.transcript))")

        let verify = try PseudoTerminal(columns: 150).runBackupctl(["verify"], in: dir.path)
        #expect(verify.status == 0 && verify.stdout.contains("OK"))
        #expect(Self.drawnLines(verify.transcript).contains { $0.contains("  verify  done  ") }, "\(verify.transcript)")

        let restore = try PseudoTerminal(columns: 150).runBackupctl(["restore", "--to", dir.sub("restored")], in: dir.path)
        #expect(restore.status == 0 && restore.stdout.hasPrefix("restored "), "\(restore.transcript)")
        let restoreLines = Self.drawnLines(restore.transcript)
        #expect(restoreLines.contains { $0.contains("  restore  [") && $0.contains("%") }, "\(restoreLines)")
        #expect(restoreLines.contains { $0.contains("  restore  done  ") }, "\(restoreLines)")
        #expect(restore.transcript.hasSuffix("\r\u{1B}[J"), "the progress is cleared at the end: \(restore.transcript.suffix(200).debugDescription)")
    }
}
